"""The policy pack run by the real engine: ``pulumi preview --policy-pack policy`` on the local stack.

Previews only: nothing here changes the stack or the cluster. A changed config is a temporary copy of
``stacks/Pulumi.local.yaml`` passed with ``--config-file``; the repository's files stay as they are.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi import automation as auto

from localcluster import env
from policy import PACK_DIR, install
from policy.review import deployment, render_stack

REPO = PACK_DIR.parent
STACK = "local"
PACK = "stateful-clusters@v0.1.0"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"

pytestmark = pytest.mark.cluster

Change = Callable[[dict[str, Any]], None]


@pytest.fixture(scope="module")
def stack() -> auto.Stack:
    """The deployed local stack, with the pack's virtualenv in place."""
    env.apply()
    install.ensure()
    return auto.select_stack(stack_name=STACK, work_dir=str(REPO))


@pytest.fixture
def config_copy() -> Iterator[Callable[[Change], Path]]:
    """Write a changed copy of the stack's config to a temporary file, for ``--config-file``."""
    with tempfile.TemporaryDirectory(prefix="policy-config-") as tmp:

        def write(change: Change) -> Path:
            settings = yaml.safe_load((REPO / "stacks" / f"Pulumi.{STACK}.yaml").read_text())
            change(settings["config"])
            path = Path(tmp) / f"Pulumi.{STACK}.yaml"
            path.write_text(yaml.safe_dump(settings, sort_keys=False))
            return path

        yield write


def preview(stack: auto.Stack, packs: list[str], config_file: Path | None = None) -> tuple[bool, str]:
    """``pulumi preview`` with the policy packs: whether it passed, and everything the engine printed.

    The output is collected line by line (a failed command's message abbreviates it) and printed, so pytest
    shows it with a failing test.
    """
    lines: list[str] = []

    def collect(line: str) -> None:
        lines.append(line)
        print(line.rstrip("\n"), flush=True)

    try:
        stack.preview(
            policy_packs=packs,
            config_file=str(config_file) if config_file else None,
            color="never",
            on_output=collect,
        )
    except auto.errors.CommandError as error:
        return False, "".join(lines) + str(error)
    return True, "".join(lines)


def is_nginx_statefulset(resource: dict[str, Any], props: str) -> bool:
    """Whether a state file's resource is the nginx StatefulSet ``web-demo``."""
    return bool(resource["type"] == STATEFULSET and resource[props]["metadata"]["name"] == "web-demo")


def live_state(stack: auto.Stack) -> tuple[int, str]:
    """How many updates the stack has had, and the nginx image the cluster runs: what a preview must not change."""
    deployed = stack.export_stack().deployment or {}
    statefulsets = [
        resource["outputs"]
        for resource in deployed.get("resources", [])
        if is_nginx_statefulset(resource, "outputs")
    ]
    image = str(statefulsets[0]["spec"]["template"]["spec"]["containers"][0]["image"])
    return len(stack.history()), image


def test_preview_lists_the_pack_and_passes(stack: auto.Stack) -> None:
    passed, output = preview(stack, [str(PACK_DIR)])
    assert passed
    assert f"✅ {PACK}" in output


def test_an_advisory_violation_is_reported_and_the_preview_passes(
    stack: auto.Stack, config_copy: Callable[[Change], Path]
) -> None:
    def change(config: dict[str, Any]) -> None:
        config["stateful:zookeeper"]["podAntiAffinity"] = {"type": "preferred"}

    passed, output = preview(stack, [str(PACK_DIR)], config_copy(change))
    assert passed
    assert "[advisory]  quorum-anti-affinity" in output
    assert "StatefulSet zookeeper/zk: no required pod anti-affinity keeps its members on different nodes" in output


def test_a_latest_image_fails_preview_with_the_packs_mandatory_violation_and_changes_nothing(
    stack: auto.Stack, config_copy: Callable[[Change], Path]
) -> None:
    """The program only warns (naming the key); the engine's run of the pack refuses the change."""

    def change(config: dict[str, Any]) -> None:
        config["stateful:nginx"]["image"] = "stateful.local/nginx:latest"

    before = live_state(stack)
    passed, output = preview(stack, [str(PACK_DIR)], config_copy(change))
    assert not passed, f"pulumi preview passed an image tagged latest: {output[-1500:]}"
    assert "stateful:nginx.image must name a pinned tag or digest, not latest" in output
    assert "[mandatory]  pinned-images" in output
    assert (
        "StatefulSet demo/web-demo: container nginx: image must name a pinned tag or digest, not latest, "
        "got 'stateful.local/nginx:latest' (stack config stateful:nginx.image)"
    ) in output
    assert live_state(stack) == before


def test_a_latest_image_in_a_rendered_stack_fails_the_engines_policy_analysis() -> None:
    """The same pack through ``pulumi policy analyze``: the offline review's path, here with a violation."""
    env.apply()
    install.ensure()
    state = deployment(render_stack(STACK), STACK)
    for resource in state["deployment"]["resources"]:
        if is_nginx_statefulset(resource, "inputs"):
            resource["inputs"]["spec"]["template"]["spec"]["containers"][0]["image"] = "stateful.local/nginx:latest"
    with tempfile.TemporaryDirectory(prefix="policy-analyze-") as tmp:
        path = Path(tmp) / "state.json"
        path.write_text(json.dumps(state))
        analysis = subprocess.run(
            ["pulumi", "policy", "analyze", "--file", str(path), "--policy-pack", str(PACK_DIR)],
            cwd=tmp, capture_output=True, text=True, check=False,
        )
    print(analysis.stdout, analysis.stderr)
    assert analysis.returncode != 0, f"pulumi policy analyze passed an image tagged latest: {analysis.stdout[-1500:]}"
    assert "[mandatory]  pinned-images  (kubernetes:apps/v1:StatefulSet: nginx-statefulset)" in analysis.stdout
    assert "StatefulSet demo/web-demo: container nginx: image must name a pinned tag or digest, not latest" in (
        analysis.stdout
    )
    assert "one or more mandatory policy violations were found" in analysis.stderr


def test_a_pack_without_its_virtualenv_fails_saying_so(stack: auto.Stack) -> None:
    """The language host checks before it answers the engine, so the preview fails at once instead of hanging."""
    with tempfile.TemporaryDirectory(prefix="policy-pack-") as tmp:
        pack = Path(tmp)
        (pack / "PulumiPolicy.yaml").write_text("runtime:\n  name: python\n  options:\n    virtualenv: .venv\n")
        (pack / "__main__.py").write_text("raise SystemExit('never runs')\n")
        passed, output = preview(stack, [str(pack)])
    assert not passed
    assert f"its virtualenv {pack / '.venv'}" in output
    assert "does not exist; create it with `pulumi install`" in output
