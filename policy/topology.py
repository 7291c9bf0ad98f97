"""Stack policies: rules about how objects fit together, which no single resource can decide.

They read the stack's resources with their outputs (what the cluster will hold): Services and budgets
select the pods of a workload in their namespace, every StatefulSet has its headless governing Service,
and a quorum ensemble has a budget that keeps its majority.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

from policy.kube import (
    describe,
    is_quorum_app,
    kind,
    mapping,
    namespace,
    pod_labels,
    pod_template,
    replicas,
    selects,
    spec,
)
from policy.model import ResourceArgs, StackArgs, StackPolicy


def _of_kind(resources: Sequence[ResourceArgs], wanted: str) -> list[ResourceArgs]:
    return [resource for resource in resources if kind(resource) == wanted]


def _pods_in(resources: Sequence[ResourceArgs], space: Any) -> list[dict[str, str]]:
    """The pod labels of every workload in namespace ``space``."""
    return [
        pod_labels(resource)
        for resource in resources
        if pod_template(resource) is not None and namespace(resource) == space
    ]


def check_service_selectors(args: StackArgs) -> Iterator[tuple[str, str]]:
    """Every Service with a selector and every PodDisruptionBudget selects the pods of a workload of the stack."""
    for resource in args.resources:
        found = kind(resource)
        if found == "Service":
            selector, label_selector = mapping(spec(resource).get("selector")), False
            if not selector or spec(resource).get("type") == "ExternalName":
                continue  # endpoints managed by hand, or a DNS alias
        elif found == "PodDisruptionBudget":
            selector, label_selector = mapping(spec(resource).get("selector")), True
        else:
            continue
        pods = _pods_in(args.resources, namespace(resource))
        if not any(selects(selector, labels, label_selector=label_selector) for labels in pods):
            shown = dict(mapping(selector.get("matchLabels"))) if label_selector else dict(selector)
            yield f"{describe(resource)}: selector {shown} matches no workload's pods in its namespace", resource.urn


def check_governing_service(args: StackArgs) -> Iterator[tuple[str, str]]:
    """A StatefulSet's ``serviceName`` is a headless Service of the stack, in its namespace, selecting its pods.

    The pods' stable DNS names (``<pod>.<service>.<namespace>.svc``) exist only through that Service.
    """
    services = {
        (namespace(service), mapping(service.props.get("metadata")).get("name")): service
        for service in _of_kind(args.resources, "Service")
    }
    for statefulset in _of_kind(args.resources, "StatefulSet"):
        name = spec(statefulset).get("serviceName")
        service = services.get((namespace(statefulset), name))
        where = describe(statefulset)
        if not name:
            yield f"{where}: sets no serviceName, so its pods get no stable DNS names", statefulset.urn
        elif service is None:
            yield f"{where}: serviceName {name!r} is not a Service of this stack in its namespace", statefulset.urn
        elif spec(service).get("clusterIP") != "None":
            yield f"{where}: serviceName {name!r} is not headless (clusterIP None)", statefulset.urn
        elif not selects(mapping(spec(service).get("selector")), pod_labels(statefulset), label_selector=False):
            yield f"{where}: its governing Service {name!r} does not select its pods", statefulset.urn


def _count(value: Any, members: int) -> int:
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(members * int(value[:-1]) / 100)  # the disruption controller rounds percentages up
    return int(value)


def check_quorum_budget(args: StackArgs) -> Iterator[tuple[str, str]]:
    """A quorum ensemble has a PodDisruptionBudget, and it never lets voluntary disruptions break the majority."""
    budgets = _of_kind(args.resources, "PodDisruptionBudget")
    for statefulset in args.resources:
        if not is_quorum_app(statefulset):
            continue
        members = replicas(statefulset)
        quorum = members // 2 + 1
        labels = pod_labels(statefulset)
        mine = [
            budget
            for budget in budgets
            if namespace(budget) == namespace(statefulset) and selects(mapping(spec(budget).get("selector")), labels)
        ]
        if not mine:
            yield f"{describe(statefulset)}: no PodDisruptionBudget selects its pods", statefulset.urn
        for budget in mine:
            budget_spec = spec(budget)
            if budget_spec.get("maxUnavailable") is not None:
                available = members - _count(budget_spec["maxUnavailable"], members)
            else:
                available = _count(budget_spec.get("minAvailable") or 0, members)
            if available < quorum:
                yield (
                    f"{describe(budget)}: lets {members - available} of {members} members go at once; "
                    f"quorum needs {quorum}",
                    budget.urn,
                )


POLICIES = (
    StackPolicy(
        "services-select-pods",
        "Every Service with a selector and every PodDisruptionBudget selects the pods of a workload.",
        check_service_selectors,
    ),
    StackPolicy(
        "headless-governing-service",
        "Every StatefulSet has its headless governing Service in its namespace, selecting its pods.",
        check_governing_service,
    ),
    StackPolicy(
        "quorum-budget",
        "A quorum ensemble has a PodDisruptionBudget that keeps its majority.",
        check_quorum_budget,
    ),
)
