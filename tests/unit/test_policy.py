"""Each policy check catches its violation, and the program's own stacks pass them all."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from conftest import Render
from policy import checks
from policy.__main__ import main
from policy.render import RenderedResource, Rendering

Mutation = Callable[[dict[str, Any]], None]


def mutated(rendering: Rendering, kind: str, name: str, change: Mutation) -> list[RenderedResource]:
    """The rendered resources with one object's inputs changed."""
    resources = []
    for resource in rendering.resources:
        if resource.kind == kind and resource.metadata.get("name") == name:
            props = copy.deepcopy(dict(resource.props))
            change(props)
            resources.append(RenderedResource(resource.type, resource.name, props))
        else:
            resources.append(resource)
    return resources


def pod(props: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = props["spec"]["template"]["spec"]
    return spec


def rules(resources: list[RenderedResource]) -> set[str]:
    return {violation.rule for violation in checks.run_checks(resources)}


def test_the_default_program_has_no_violation(rendered: Render) -> None:
    assert checks.run_checks(rendered().resources) == []


def test_an_unnamed_object_is_reported(rendered: Render) -> None:
    rendering = rendered()
    name = str(rendering.config_files("zk-config").metadata["name"])
    resources = mutated(rendering, "ConfigMap", name, lambda props: props["metadata"].pop("name"))
    assert [violation.rule for violation in checks.explicit_names(resources)] == ["explicit-names"]


def test_a_statefulset_selector_that_misses_its_pods_is_reported(rendered: Render) -> None:
    def change(props: dict[str, Any]) -> None:
        props["spec"]["selector"]["matchLabels"] = {"app": "zk"}

    violations = checks.selectors_match_pod_labels(mutated(rendered(), "StatefulSet", "zk", change))
    assert any("selector {'app': 'zk'} misses the pod labels" in violation.message for violation in violations)


def test_an_anti_affinity_rule_on_a_label_the_pods_lack_is_reported(rendered: Render) -> None:
    """The upstream ZooKeeper manifest's bug: its anti-affinity selects ``app: zk``, which no pod carries."""

    def change(props: dict[str, Any]) -> None:
        term = pod(props)["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
        term["labelSelector"]["matchLabels"] = {"app": "zk"}

    violations = checks.selectors_match_pod_labels(mutated(rendered(), "StatefulSet", "zk", change))
    assert any("matches none of its own pods" in violation.message for violation in violations)


def test_a_service_that_selects_no_pods_is_reported(rendered: Render) -> None:
    def change(props: dict[str, Any]) -> None:
        props["spec"]["selector"] = {"app.kubernetes.io/name": "zk"}

    violations = checks.selectors_match_pod_labels(mutated(rendered(), "Service", "zk-cs", change))
    assert [violation.resource for violation in violations] == ["Service zookeeper/zk-cs"]


def test_a_budget_that_selects_no_pods_is_reported(rendered: Render) -> None:
    def change(props: dict[str, Any]) -> None:
        props["spec"]["selector"]["matchLabels"] = {"app.kubernetes.io/name": "web"}

    violations = checks.selectors_match_pod_labels(mutated(rendered(), "PodDisruptionBudget", "web-demo-pdb", change))
    assert [violation.resource for violation in violations] == ["PodDisruptionBudget demo/web-demo-pdb"]


def test_a_service_name_outside_the_stack_is_reported(rendered: Render) -> None:
    def change(props: dict[str, Any]) -> None:
        props["spec"]["serviceName"] = "nginx"

    violations = checks.service_name_is_headless(mutated(rendered(), "StatefulSet", "web-demo", change))
    assert [violation.message for violation in violations] == ["serviceName 'nginx' is not a Service of this stack"]


def test_a_governing_service_with_a_cluster_ip_is_reported(rendered: Render) -> None:
    resources = mutated(rendered(), "Service", "zk-hs", lambda props: props["spec"].pop("clusterIP"))
    assert "not headless" in checks.service_name_is_headless(resources)[0].message


def test_a_container_without_readiness_probe_is_reported(rendered: Render) -> None:
    resources = mutated(
        rendered(), "StatefulSet", "mysql", lambda props: pod(props)["containers"][1].pop("readinessProbe")
    )
    assert [violation.message for violation in checks.probes_and_requests(resources)] == [
        "container replication has no readinessProbe"
    ]


def test_a_main_container_without_liveness_probe_is_reported(rendered: Render) -> None:
    resources = mutated(rendered(), "StatefulSet", "zk", lambda props: pod(props)["containers"][0].pop("livenessProbe"))
    assert [violation.message for violation in checks.probes_and_requests(resources)] == [
        "container zookeeper has no livenessProbe"
    ]


def test_a_container_without_requests_is_reported(rendered: Render) -> None:
    resources = mutated(
        rendered(), "StatefulSet", "web-demo", lambda props: pod(props)["initContainers"][0].pop("resources")
    )
    assert [violation.message for violation in checks.probes_and_requests(resources)] == [
        "container index requests no cpu or memory"
    ]


def test_a_pod_allowed_to_run_as_root_is_reported(rendered: Render) -> None:
    def change(props: dict[str, Any]) -> None:
        pod(props)["securityContext"].pop("runAsNonRoot")
        pod(props)["securityContext"]["runAsUser"] = 0

    assert len(checks.non_root(mutated(rendered(), "StatefulSet", "zk", change))) == 2


def test_a_container_allowed_to_escalate_is_reported(rendered: Render) -> None:
    def change(props: dict[str, Any]) -> None:
        pod(props)["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True

    violations = checks.non_root(mutated(rendered(), "StatefulSet", "web-demo", change))
    assert [violation.message for violation in violations] == ["container nginx allows privilege escalation"]


@pytest.mark.parametrize("image", ["nginx", "nginx:latest"])
def test_an_unpinned_image_is_reported(rendered: Render, image: str) -> None:
    def change(props: dict[str, Any]) -> None:
        pod(props)["containers"][0]["image"] = image

    violations = checks.pinned_images(mutated(rendered(), "StatefulSet", "web-demo", change))
    assert [violation.rule for violation in violations] == ["pinned-images"]


def test_an_even_ensemble_is_reported(rendered: Render) -> None:
    def change(props: dict[str, Any]) -> None:
        props["spec"]["replicas"] = 4

    violations = checks.odd_ensemble_size(mutated(rendered(), "StatefulSet", "zk", change))
    assert [violation.message for violation in violations] == ["4 members is not an odd number"]


@pytest.mark.parametrize(
    "budget",
    [{"maxUnavailable": 2}, {"maxUnavailable": "50%"}, {"minAvailable": 1}, {"minAvailable": "33%"}],
)
def test_a_budget_that_could_lose_quorum_is_reported(rendered: Render, budget: dict[str, Any]) -> None:
    def change(props: dict[str, Any]) -> None:
        props["spec"].pop("maxUnavailable")
        props["spec"].update(budget)

    violations = checks.budget_keeps_quorum(mutated(rendered(), "PodDisruptionBudget", "zk-pdb", change))
    assert [violation.rule for violation in violations] == ["quorum-budget"]


def test_an_ensemble_without_a_budget_is_reported(rendered: Render) -> None:
    resources = [resource for resource in rendered().resources if resource.metadata.get("name") != "zk-pdb"]
    assert [violation.message for violation in checks.budget_keeps_quorum(resources)] == [
        "no PodDisruptionBudget selects its pods"
    ]


def test_a_violation_reads_as_rule_resource_and_message() -> None:
    violation = checks.Violation("odd-ensemble", "StatefulSet zookeeper/zk", "4 members is not an odd number")
    assert str(violation) == "odd-ensemble: StatefulSet zookeeper/zk: 4 members is not an odd number"


@pytest.mark.parametrize("stack", ["local", "dev", "prod"])
def test_the_policy_command_passes_every_stack(stack: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stack", stack]) == 0
    assert f"0 violation(s) in 26 resources of stack {stack}" in capsys.readouterr().out


def test_the_policy_command_fails_for_an_unknown_stack(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stack", "nowhere"]) == 2
    assert "no stack file Pulumi.nowhere.yaml" in capsys.readouterr().err
