"""Policy checks over rendered resources; each check is a pure function returning violations.

The resources are what the program gives Pulumi (``RenderedResource``: type token, Pulumi name and
the inputs as the Kubernetes API spells them), so the checks read like the objects ``kubectl`` shows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from infra.imageref import image_problem
from infra.labels import NAME, POD_NAME
from policy.render import RenderedResource

QUORUM_APPS = frozenset({"zookeeper"})


@dataclass(frozen=True)
class Violation:
    """One broken rule on one resource."""

    rule: str
    resource: str
    message: str

    def __str__(self) -> str:
        """``rule: Kind namespace/name: message``."""
        return f"{self.rule}: {self.resource}: {self.message}"


Check = Callable[[Sequence[RenderedResource]], list[Violation]]


def _describe(resource: RenderedResource) -> str:
    name = resource.metadata.get("name") or f"<unnamed {resource.name}>"
    namespace = resource.metadata.get("namespace")
    return f"{resource.kind} {namespace}/{name}" if namespace else f"{resource.kind} {name}"


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _kubernetes(resources: Sequence[RenderedResource]) -> Iterator[RenderedResource]:
    return (resource for resource in resources if resource.type.startswith("kubernetes:"))


def _statefulsets(resources: Sequence[RenderedResource]) -> list[RenderedResource]:
    return [resource for resource in _kubernetes(resources) if resource.kind == "StatefulSet"]


def _pod_template(statefulset: RenderedResource) -> Mapping[str, Any]:
    return _mapping(statefulset.spec.get("template"))


def _pod_labels(statefulset: RenderedResource) -> dict[str, str]:
    return dict(_mapping(_mapping(_pod_template(statefulset).get("metadata")).get("labels")))


def _pod_spec(statefulset: RenderedResource) -> Mapping[str, Any]:
    return _mapping(_pod_template(statefulset).get("spec"))


def _containers(statefulset: RenderedResource, *, init: bool = True) -> list[Mapping[str, Any]]:
    spec = _pod_spec(statefulset)
    found = [_mapping(item) for item in _list(spec.get("containers"))]
    if init:
        found += [_mapping(item) for item in _list(spec.get("initContainers"))]
    return found


def _selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    wanted = {key: value for key, value in selector.items() if key != POD_NAME}
    return bool(wanted) and all(labels.get(key) == value for key, value in wanted.items())


def _pods_in(resources: Sequence[RenderedResource], namespace: Any) -> list[tuple[RenderedResource, dict[str, str]]]:
    return [
        (statefulset, _pod_labels(statefulset))
        for statefulset in _statefulsets(resources)
        if statefulset.metadata.get("namespace") == namespace
    ]


def explicit_names(resources: Sequence[RenderedResource]) -> list[Violation]:
    """Every Kubernetes object has an explicit ``metadata.name`` (auto-names break stable DNS and wiring)."""
    return [
        Violation("explicit-names", _describe(resource), "metadata.name is not set, so Pulumi would auto-name it")
        for resource in _kubernetes(resources)
        if not resource.metadata.get("name")
    ]


def selectors_match_pod_labels(resources: Sequence[RenderedResource]) -> list[Violation]:
    """StatefulSet, Service, PDB, anti-affinity and spread selectors all select the pods' labels."""
    violations: list[Violation] = []
    for statefulset in _statefulsets(resources):
        labels = _pod_labels(statefulset)
        selector = _mapping(_mapping(statefulset.spec.get("selector")).get("matchLabels"))
        if not _selects(selector, labels):
            violations.append(
                Violation(
                    "selectors-match",
                    _describe(statefulset),
                    f"selector {dict(selector)} misses the pod labels {labels}",
                )
            )
        pod = _pod_spec(statefulset)
        anti = _mapping(_mapping(pod.get("affinity")).get("podAntiAffinity"))
        terms = [_mapping(term) for term in _list(anti.get("requiredDuringSchedulingIgnoredDuringExecution"))]
        terms += [
            _mapping(_mapping(term).get("podAffinityTerm"))
            for term in _list(anti.get("preferredDuringSchedulingIgnoredDuringExecution"))
        ]
        terms += [_mapping(term) for term in _list(pod.get("topologySpreadConstraints"))]
        for term in terms:
            match = _mapping(_mapping(term.get("labelSelector")).get("matchLabels"))
            if not _selects(match, labels):
                violations.append(
                    Violation(
                        "selectors-match",
                        _describe(statefulset),
                        f"anti-affinity or spread selector {dict(match)} matches none of its own pods {labels}",
                    )
                )
    for resource in _kubernetes(resources):
        if resource.kind == "Service":
            selector = _mapping(resource.spec.get("selector"))
        elif resource.kind == "PodDisruptionBudget":
            selector = _mapping(_mapping(resource.spec.get("selector")).get("matchLabels"))
        else:
            continue
        pods = _pods_in(resources, resource.metadata.get("namespace"))
        if not any(_selects(selector, labels) for _, labels in pods):
            violations.append(
                Violation(
                    "selectors-match", _describe(resource), f"selector {dict(selector)} matches no StatefulSet's pods"
                )
            )
    return violations


def service_name_is_headless(resources: Sequence[RenderedResource]) -> list[Violation]:
    """A StatefulSet's ``serviceName`` is a headless Service of this stack, in its namespace."""
    violations: list[Violation] = []
    services = {
        (service.metadata.get("namespace"), service.metadata.get("name")): service
        for service in _kubernetes(resources)
        if service.kind == "Service"
    }
    for statefulset in _statefulsets(resources):
        name = statefulset.spec.get("serviceName")
        service = services.get((statefulset.metadata.get("namespace"), name))
        if service is None:
            violations.append(
                Violation(
                    "headless-service", _describe(statefulset), f"serviceName {name!r} is not a Service of this stack"
                )
            )
        elif service.spec.get("clusterIP") != "None":
            violations.append(
                Violation(
                    "headless-service", _describe(statefulset), f"serviceName {name!r} is not headless (clusterIP None)"
                )
            )
    return violations


def probes_and_requests(resources: Sequence[RenderedResource]) -> list[Violation]:
    """Every container has a readiness probe and cpu/memory requests; the main container a liveness probe."""
    violations: list[Violation] = []
    for statefulset in _statefulsets(resources):
        where = _describe(statefulset)
        containers = _containers(statefulset, init=False)
        for index, container in enumerate(containers):
            name = container.get("name")
            if "readinessProbe" not in container:
                violations.append(Violation("probes", where, f"container {name} has no readinessProbe"))
            if index == 0 and "livenessProbe" not in container:
                violations.append(Violation("probes", where, f"container {name} has no livenessProbe"))
        for container in _containers(statefulset):
            requests = _mapping(_mapping(container.get("resources")).get("requests"))
            missing = [resource for resource in ("cpu", "memory") if resource not in requests]
            if missing:
                violations.append(
                    Violation(
                        "requests", where, f"container {container.get('name')} requests no {' or '.join(missing)}"
                    )
                )
    return violations


def non_root(resources: Sequence[RenderedResource]) -> list[Violation]:
    """Pods run as a non-root user without privilege escalation."""
    violations: list[Violation] = []
    for statefulset in _statefulsets(resources):
        where = _describe(statefulset)
        pod_context = _mapping(_pod_spec(statefulset).get("securityContext"))
        if pod_context.get("runAsNonRoot") is not True:
            violations.append(Violation("non-root", where, "pod securityContext.runAsNonRoot is not true"))
        if pod_context.get("runAsUser") in (0, None):
            violations.append(Violation("non-root", where, "pod securityContext.runAsUser is root or unset"))
        for container in _containers(statefulset):
            context = _mapping(container.get("securityContext"))
            name = container.get("name")
            if context.get("runAsUser") == 0 or context.get("privileged") is True:
                violations.append(Violation("non-root", where, f"container {name} runs as root or privileged"))
            if context.get("allowPrivilegeEscalation") is not False:
                violations.append(Violation("non-root", where, f"container {name} allows privilege escalation"))
    return violations


def pinned_images(resources: Sequence[RenderedResource]) -> list[Violation]:
    """Every image names a pinned tag or digest (no ``:latest``, no untagged image)."""
    violations: list[Violation] = []
    for statefulset in _statefulsets(resources):
        for container in _containers(statefulset):
            problem = image_problem(str(container.get("image", "")))
            if problem is not None:
                violations.append(
                    Violation(
                        "pinned-images", _describe(statefulset), f"container {container.get('name')}: image {problem}"
                    )
                )
    return violations


def _quorum_statefulsets(resources: Sequence[RenderedResource]) -> list[RenderedResource]:
    return [
        statefulset for statefulset in _statefulsets(resources) if _pod_labels(statefulset).get(NAME) in QUORUM_APPS
    ]


def _replicas(statefulset: RenderedResource) -> int:
    return int(statefulset.spec.get("replicas", 1))


def _count(value: Any, members: int) -> int:
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(members * int(value[:-1]) / 100)  # the disruption controller rounds percentages up
    return int(value)


def odd_ensemble_size(resources: Sequence[RenderedResource]) -> list[Violation]:
    """A quorum ensemble (ZooKeeper) has an odd number of members: an even one tolerates no more failures."""
    return [
        Violation("odd-ensemble", _describe(statefulset), f"{_replicas(statefulset)} members is not an odd number")
        for statefulset in _quorum_statefulsets(resources)
        if _replicas(statefulset) % 2 == 0
    ]


def budget_keeps_quorum(resources: Sequence[RenderedResource]) -> list[Violation]:
    """A quorum ensemble has a PodDisruptionBudget, and it never lets voluntary disruptions break quorum."""
    violations: list[Violation] = []
    budgets = [resource for resource in _kubernetes(resources) if resource.kind == "PodDisruptionBudget"]
    for statefulset in _quorum_statefulsets(resources):
        where = _describe(statefulset)
        members = _replicas(statefulset)
        quorum = members // 2 + 1
        labels = _pod_labels(statefulset)
        mine = [
            budget
            for budget in budgets
            if budget.metadata.get("namespace") == statefulset.metadata.get("namespace")
            and _selects(_mapping(_mapping(budget.spec.get("selector")).get("matchLabels")), labels)
        ]
        if not mine:
            violations.append(Violation("quorum-budget", where, "no PodDisruptionBudget selects its pods"))
        for budget in mine:
            spec = budget.spec
            if "maxUnavailable" in spec:
                available = members - _count(spec["maxUnavailable"], members)
            else:
                available = _count(spec.get("minAvailable", 0), members)
            if available < quorum:
                violations.append(
                    Violation(
                        "quorum-budget",
                        _describe(budget),
                        f"lets {members - available} of {members} members go at once; quorum needs {quorum}",
                    )
                )
    return violations


CHECKS: tuple[Check, ...] = (
    explicit_names,
    selectors_match_pod_labels,
    service_name_is_headless,
    probes_and_requests,
    non_root,
    pinned_images,
    odd_ensemble_size,
    budget_keeps_quorum,
)


def run_checks(resources: Sequence[RenderedResource]) -> list[Violation]:
    """Every check's violations, in check order."""
    return [violation for check in CHECKS for violation in check(resources)]
