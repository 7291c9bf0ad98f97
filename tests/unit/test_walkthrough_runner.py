"""The walkthrough runner (harness/walkthrough.py): which lines it runs, how it compares, what it runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Render
from harness.walkthrough import Mode, Step, difference, matches, parse, run_step, variant
from localcluster.images import catalog

PAGE = """\
# Title

## Look

```console
$ kubectl get pods -n demo
NAME         READY   STATUS    RESTARTS   AGE
web-demo-0   1/1     Running   0          ...
$ kubectl scale statefulset web-demo \\
    --replicas=5
statefulset.apps/web-demo scaled
```

```yaml
$ not a command
```

```sh
$ neither
```
"""


def test_only_console_blocks_are_run_with_the_lines_after_each_command_as_its_output() -> None:
    assert parse(PAGE) == [
        Step("Look", 6, "kubectl get pods -n demo",
             ("NAME         READY   STATUS    RESTARTS   AGE", "web-demo-0   1/1     Running   0          ...")),
        Step("Look", 9, "kubectl scale statefulset web-demo --replicas=5", ("statefulset.apps/web-demo scaled",)),
    ]


def test_runs_of_blanks_and_blank_lines_do_not_count() -> None:
    assert matches(["a   b", "", "c"], ["a b  ", "c", ""])


def test_dots_in_a_line_stand_for_any_text() -> None:
    assert matches(["web-demo-0 1/1 Running 0 ..."], ["web-demo-0   1/1     Running   0          12s"])
    assert not matches(["web-demo-0 1/1 Running 0 ..."], ["web-demo-0   0/1     Running   0          12s"])


def test_a_line_of_dots_stands_for_any_lines_or_none() -> None:
    assert matches(["a", "...", "d"], ["a", "b", "c", "d"])
    assert matches(["a", "...", "d"], ["a", "d"])


def test_every_other_line_must_be_there_in_order_and_nothing_else() -> None:
    assert not matches(["a", "b"], ["b", "a"])
    assert not matches(["a"], ["a", "b"])
    assert not matches(["a", "b"], ["a"])


def test_a_difference_names_the_first_line_not_found_and_shows_both() -> None:
    message = difference(["NAME READY", "web-demo-1 1/1 ..."], ["NAME READY", "web-demo-1 0/1 3s"])
    assert message.startswith("expected line 2 'web-demo-1 1/1 ...' is not where the page shows it")
    assert "-web-demo-1 1/1 ..." in message
    assert "+web-demo-1 0/1 3s" in message


def test_a_watch_is_stopped_once_the_lines_shown_appeared() -> None:
    assert variant("kubectl get pods -n demo -w -l app=nginx", None).mode is Mode.WATCH


def test_an_interactive_throw_away_pod_runs_logs_and_is_deleted_without_a_terminal() -> None:
    ran = variant("kubectl run -it --rm --image x dns-test -n demo -- bash -c 'nslookup a; nslookup b'", None)
    assert ran.command == (
        "kubectl run --image x dns-test -n demo -- bash -c 'nslookup a; nslookup b' 2>&1 "
        "| grep -vx 'pod/dns-test created'; "
        "kubectl wait --for=jsonpath='{.status.phase}'=Succeeded pod/dns-test -n demo --timeout=90s > /dev/null; "
        "kubectl logs dns-test -n demo; kubectl delete pod dns-test -n demo"
    )
    assert ran.mode is Mode.ONCE


def test_read_only_commands_are_run_again_until_they_match() -> None:
    assert variant("kubectl get pvc -n demo", None).mode is Mode.SETTLE
    assert variant("for i in 0 1; do kubectl exec \"web-demo-$i\" -- hostname; done", None).mode is Mode.SETTLE
    assert variant("kubectl delete pod web-demo-1 -n demo", None).mode is Mode.ONCE


def test_pulumi_commands_use_a_copy_of_the_stack_settings(tmp_path: Path) -> None:
    copy = tmp_path / "Pulumi.local.yaml"
    ran = variant("pulumi config set --path 'stateful:nginx.replicas' 3 --stack local", copy)
    assert ran.command == f"pulumi config set --path 'stateful:nginx.replicas' 3 --stack local --config-file {copy}"


def test_a_step_whose_output_differs_fails_naming_the_step_and_the_difference(tmp_path: Path) -> None:
    step = Step("Hostnames", 12, "printf 'web-demo-0\\nweb-demo-1\\n'", ("web-demo-0", "web-demo-2"))
    with pytest.raises(AssertionError) as failure:
        run_step(step, {"PATH": "/usr/bin:/bin"}, tmp_path, page="page.md", config_file=None)
    message = str(failure.value)
    assert message.startswith("page.md:12 (Hostnames): $ printf")
    assert "expected line 2 'web-demo-2' is not where the page shows it" in message


def test_a_failing_command_fails_its_step_with_its_output(tmp_path: Path) -> None:
    step = Step("Broken", 3, "echo nope; exit 3", ("nope",))
    with pytest.raises(AssertionError, match="exited with status 3; output:\nnope"):
        run_step(step, {"PATH": "/usr/bin:/bin"}, tmp_path, page="page.md", config_file=None)


def test_a_watch_ends_as_soon_as_its_lines_appeared(tmp_path: Path) -> None:
    step = Step("Watch", 1, "kubectl get pods -w", ("a", "...", "c"))
    fake = tmp_path / "kubectl"
    fake.write_text("#!/bin/bash\necho a; echo b; echo c; exec sleep 600\n")
    fake.chmod(0o755)
    result = run_step(step, {"PATH": f"{tmp_path}:/usr/bin:/bin"}, tmp_path, page="page.md", config_file=None)
    assert result.lines == ["a", "b", "c"]
    assert result.status is None


def test_the_walkthrough_names_the_local_images_that_stand_in_for_the_tutorials() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "statefulset-basics.md").read_text(encoding="utf-8")
    for tutorial, local in (("nginx:1.19.2-alpine", catalog.NGINX.name), ("busybox:1.28", catalog.TOOLBOX.name)):
        assert f"`{tutorial}`" in page
        assert f"`{local}`" in page


def test_the_walkthrough_takes_the_tutorials_steps_in_its_order() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "statefulset-basics.md").read_text(encoding="utf-8")
    sections = list(dict.fromkeys(step.section for step in parse(page)))
    assert [section.split(" ", 1)[1] if section[0].isdigit() else section for section in sections] == [
        "What `make up` created",
        "Watch the ordered start",
        "Scale to 5 and back",
        "Each pod's hostname is its name",
        "DNS names, from a throw-away pod",
        "Delete the pods: same names, new IPs",
        "A claim per pod",
        "RollingUpdate",
        "Staging an update with a partition",
        "OnDelete",
        "Config instead of `kubectl scale`",
        "A kubectl change is drift",
    ]


def test_every_statefulset_takes_its_fields_back_from_a_kubectl_edit(rendered: Render) -> None:
    for statefulset in rendered().of_kind("StatefulSet"):
        assert statefulset.metadata["annotations"]["pulumi.com/patchForce"] == "true"
