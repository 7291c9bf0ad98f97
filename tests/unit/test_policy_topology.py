"""Stack policies: Services and budgets select pods, governing Services are headless, budgets keep quorum."""

from __future__ import annotations

from typing import Any

import pytest
from policy_support import changed, messages, policy, stack, without

from policy.model import StackPolicy


def test_a_service_that_selects_no_pods_is_reported() -> None:
    def change(props: dict[str, Any]) -> None:
        props["spec"]["selector"] = {"app.kubernetes.io/name": "zk"}

    assert messages("services-select-pods", changed(stack(), "Service", "zk-cs", change)) == [
        "Service zookeeper/zk-cs: selector {'app.kubernetes.io/name': 'zk'} matches no workload's pods in its namespace"
    ]


def test_a_budget_that_selects_no_pods_is_reported() -> None:
    def change(props: dict[str, Any]) -> None:
        props["spec"]["selector"]["matchLabels"] = {"app.kubernetes.io/name": "web"}

    assert messages("services-select-pods", changed(stack(), "PodDisruptionBudget", "web-demo-pdb", change)) == [
        "PodDisruptionBudget demo/web-demo-pdb: selector {'app.kubernetes.io/name': 'web'} matches no workload's "
        "pods in its namespace"
    ]


def test_a_service_selecting_pods_of_another_namespace_is_reported() -> None:
    def change(props: dict[str, Any]) -> None:
        props["metadata"]["namespace"] = "demo"

    (message,) = messages("services-select-pods", changed(stack(), "Service", "zk-cs", change))
    assert message.startswith("Service demo/zk-cs: selector")


def test_a_service_without_selector_is_left_alone() -> None:
    def change(props: dict[str, Any]) -> None:
        props["spec"].pop("selector")

    assert messages("services-select-pods", changed(stack(), "Service", "zk-cs", change)) == []


def test_a_service_name_outside_the_stack_is_reported() -> None:
    def change(props: dict[str, Any]) -> None:
        props["spec"]["serviceName"] = "nginx"

    assert messages("headless-governing-service", changed(stack(), "StatefulSet", "web-demo", change)) == [
        "StatefulSet demo/web-demo: serviceName 'nginx' is not a Service of this stack in its namespace"
    ]


def test_a_governing_service_with_a_cluster_ip_is_reported() -> None:
    def change(props: dict[str, Any]) -> None:
        props["spec"].pop("clusterIP")

    assert messages("headless-governing-service", changed(stack(), "Service", "zk-hs", change)) == [
        "StatefulSet zookeeper/zk: serviceName 'zk-hs' is not headless (clusterIP None)"
    ]


def test_a_governing_service_that_selects_other_pods_is_reported() -> None:
    def change(props: dict[str, Any]) -> None:
        props["spec"]["selector"] = {"app.kubernetes.io/name": "other"}

    assert messages("headless-governing-service", changed(stack(), "Service", "mysql", change)) == [
        "StatefulSet mysql/mysql: its governing Service 'mysql' does not select its pods"
    ]


def test_a_statefulset_without_service_name_is_reported() -> None:
    def change(props: dict[str, Any]) -> None:
        props["spec"].pop("serviceName")

    assert messages("headless-governing-service", changed(stack(), "StatefulSet", "zk", change)) == [
        "StatefulSet zookeeper/zk: sets no serviceName, so its pods get no stable DNS names"
    ]


@pytest.mark.parametrize(
    "budget",
    [{"maxUnavailable": 2.0}, {"maxUnavailable": "50%"}, {"minAvailable": 1}, {"minAvailable": "33%"}],
)
def test_a_budget_that_could_lose_quorum_is_reported(budget: dict[str, Any]) -> None:
    def change(props: dict[str, Any]) -> None:
        props["spec"].pop("maxUnavailable")
        props["spec"].update(budget)

    (message,) = messages("quorum-budget", changed(stack(), "PodDisruptionBudget", "zk-pdb", change))
    assert message.startswith("PodDisruptionBudget zookeeper/zk-pdb: lets 2 of 3 members go at once; quorum needs 2")


def test_an_ensemble_without_a_budget_is_reported() -> None:
    assert messages("quorum-budget", without(stack(), "PodDisruptionBudget", "zk-pdb")) == [
        "StatefulSet zookeeper/zk: no PodDisruptionBudget selects its pods"
    ]


def test_violations_name_the_offending_resource() -> None:
    found: list[str | None] = []
    checked = policy("quorum-budget")
    assert isinstance(checked, StackPolicy)
    checked.validate(without(stack(), "PodDisruptionBudget", "zk-pdb"), lambda message, urn: found.append(urn))
    assert found == ["urn:pulumi:local::stateful::kubernetes:apps/v1:StatefulSet::zookeeper-statefulset"]
