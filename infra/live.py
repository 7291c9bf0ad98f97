"""What is running now: the live StatefulSets and claims a change is checked against before anything changes.

Stack config says what should run; some changes are only safe or unsafe given what runs already (a
smaller volume than the claims have, a StorageClass that cannot expand, a new first ordinal). The
program reads that state once, at the edge, with the same kubeconfig and context as the provider,
and ``infra.livechecks`` compares it with the settings. Nothing here changes the cluster.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client, config

from infra.labels import STACK
from infra.quantity import parse_quantity


@dataclass(frozen=True, kw_only=True)
class LiveClaim:
    """One existing claim of a StatefulSet's volumeClaimTemplate."""

    name: str
    ordinal: int
    requested: str
    capacity: str | None
    storage_class_name: str | None

    @property
    def requested_bytes(self) -> float:
        """The requested size in bytes."""
        return float(parse_quantity(self.requested))


@dataclass(frozen=True, kw_only=True)
class LiveStatefulSet:
    """The fields of a live StatefulSet that a change is checked against, and its existing claims."""

    namespace: str
    name: str
    replicas: int
    ordinals_start: int
    pod_management_policy: str
    revision_history_limit: int
    claim_template: str
    template_size: str | None
    template_storage_class_name: str | None
    template_access_modes: tuple[str, ...]
    claims: tuple[LiveClaim, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Target:
    """A StatefulSet the program manages: where it is and the name of its claim template."""

    namespace: str
    name: str
    claim_template: str


@dataclass(frozen=True)
class LiveState:
    """The live StatefulSets by (namespace, name) and the StorageClasses that allow expansion.

    ``reachable`` is False when the cluster could not be read (then nothing is known to run).
    """

    statefulsets: Mapping[tuple[str, str], LiveStatefulSet] = field(default_factory=dict)
    # Namespaces where this stack's StatefulSet of each name runs now (by the stack label).
    stack_namespaces: Mapping[str, frozenset[str]] = field(default_factory=dict)
    expandable_classes: frozenset[str] = frozenset()
    default_class: str | None = None
    reachable: bool = True

    def statefulset(self, namespace: str, name: str) -> LiveStatefulSet | None:
        """The live StatefulSet, or None when it does not exist (a first deployment)."""
        return self.statefulsets.get((namespace, name))


class LiveReadError(RuntimeError):
    """The cluster could not be read."""


def _claim_ordinal(claim: str, prefix: str) -> int | None:
    tail = claim.removeprefix(prefix)
    return int(tail) if claim.startswith(prefix) and tail.isdigit() else None


def _live_statefulset(sts: Any, target: Target, claims: Iterable[Any]) -> LiveStatefulSet:
    spec = sts.spec
    template = next(
        (t for t in (spec.volume_claim_templates or []) if t.metadata and t.metadata.name == target.claim_template),
        None,
    )
    prefix = f"{target.claim_template}-{target.name}-"
    found: list[LiveClaim] = []
    for pvc in claims:
        ordinal = _claim_ordinal(pvc.metadata.name, prefix)
        if ordinal is None or pvc.metadata.deletion_timestamp is not None:
            continue
        found.append(
            LiveClaim(
                name=pvc.metadata.name,
                ordinal=ordinal,
                requested=str((pvc.spec.resources.requests or {}).get("storage", "0")),
                capacity=(pvc.status.capacity or {}).get("storage") if pvc.status else None,
                storage_class_name=pvc.spec.storage_class_name,
            )
        )
    template_spec = template.spec if template is not None else None
    return LiveStatefulSet(
        namespace=target.namespace,
        name=target.name,
        replicas=spec.replicas if spec.replicas is not None else 1,
        ordinals_start=(spec.ordinals.start or 0) if spec.ordinals else 0,
        pod_management_policy=spec.pod_management_policy or "OrderedReady",
        revision_history_limit=spec.revision_history_limit if spec.revision_history_limit is not None else 10,
        claim_template=target.claim_template,
        template_size=(template_spec.resources.requests or {}).get("storage") if template_spec else None,
        template_storage_class_name=template_spec.storage_class_name if template_spec else None,
        template_access_modes=tuple(template_spec.access_modes or ()) if template_spec else (),
        claims=tuple(sorted(found, key=lambda claim: claim.ordinal)),
    )


def read_live(context: str | None, targets: Iterable[Target], stack: str) -> LiveState:
    """Read the targets' live StatefulSets and claims, the StorageClasses, and where ``stack``'s sets run.

    Raise LiveReadError when the cluster cannot be read.
    """
    try:
        api = config.new_client_from_config(context=context)  # type: ignore[no-untyped-call]
    except Exception as error:  # no kubeconfig, or no such context
        where = f" context {context!r}" if context else ""
        raise LiveReadError(f"cannot load the kubeconfig{where}: {error}") from None
    api.configuration.retries = 1
    apps, core, storage = client.AppsV1Api(api), client.CoreV1Api(api), client.StorageV1Api(api)
    timeout = 10
    try:
        classes: list[Any] = storage.list_storage_class(_request_timeout=timeout).items
        mine: list[Any] = apps.list_stateful_set_for_all_namespaces(
            label_selector=f"{STACK}={stack}", _request_timeout=timeout
        ).items
        found: dict[tuple[str, str], LiveStatefulSet] = {}
        for target in targets:
            try:
                sts = apps.read_namespaced_stateful_set(target.name, target.namespace, _request_timeout=timeout)
            except client.ApiException as error:
                if error.status == 404:
                    continue
                raise
            claims = core.list_namespaced_persistent_volume_claim(target.namespace, _request_timeout=timeout).items
            found[(target.namespace, target.name)] = _live_statefulset(sts, target, claims)
    except client.ApiException as error:
        raise LiveReadError(f"the API server answered {error.status} {error.reason}") from None
    except Exception as error:  # connection refused, timeouts, TLS
        raise LiveReadError(f"{type(error).__name__}: {error}") from None
    default_class = next(
        (
            sc.metadata.name
            for sc in classes
            if (sc.metadata.annotations or {}).get("storageclass.kubernetes.io/is-default-class") == "true"
        ),
        None,
    )
    running: dict[str, set[str]] = {}
    for sts in mine:
        running.setdefault(sts.metadata.name, set()).add(sts.metadata.namespace)
    return LiveState(
        statefulsets=found,
        stack_namespaces={name: frozenset(namespaces) for name, namespaces in running.items()},
        expandable_classes=frozenset(sc.metadata.name for sc in classes if sc.allow_volume_expansion),
        default_class=default_class,
    )
