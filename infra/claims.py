"""Expanding a StatefulSet's existing claims in place, as a step of ``pulumi up`` that waits for the new size.

A StatefulSet's volumeClaimTemplate applies to new claims only, so a bigger ``storage.size`` on a live
set must also reach the claims that exist. ``ClaimExpansion`` is a Pulumi dynamic resource (it runs
inside the engine, so ``pulumi preview`` shows it and ``pulumi up`` runs it after the StatefulSet and
waits): it raises each existing claim's request to the size and returns once every claim reports at
least that capacity, or fails naming the claim that did not grow. It never shrinks a claim (the API
refuses; ``infra.livechecks`` refuses it at preview) and deleting it leaves the claims as they are.

Its state is small and plain (namespace, names, size), and the provider code is referenced by module, so
a stack's diff changes only when the size, the ordinals or the set change.
"""

from __future__ import annotations

import time
from typing import Any

import pulumi
from kubernetes import client, config
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider, UpdateResult

from infra.quantity import parse_quantity

_INPUTS = ("namespace", "statefulset", "claim_template", "ordinals", "size", "context")
POLL_SECONDS = 0.5


def claim_names(claim_template: str, statefulset: str, ordinals: list[int]) -> list[str]:
    """The claims the StatefulSet controller creates: ``<template>-<set>-<ordinal>``."""
    return [f"{claim_template}-{statefulset}-{ordinal}" for ordinal in ordinals]


def _expand(props: dict[str, Any]) -> None:
    api = config.new_client_from_config(context=props.get("context") or None)  # type: ignore[no-untyped-call]
    core = client.CoreV1Api(api)
    namespace, size = str(props["namespace"]), str(props["size"])
    wanted = parse_quantity(size)
    names = claim_names(str(props["claim_template"]), str(props["statefulset"]), [int(o) for o in props["ordinals"]])
    waiting: list[str] = []
    for name in names:
        try:
            claim = core.read_namespaced_persistent_volume_claim(name, namespace)
        except client.ApiException as error:
            if error.status == 404:
                continue  # not created yet: the template gives it the new size
            raise
        spec: Any = claim.spec
        requested = (spec.resources.requests or {}).get("storage", "0")
        if parse_quantity(requested) < wanted:
            pulumi.log.info(f"expanding {namespace}/{name} from {requested} to {size}")
            core.patch_namespaced_persistent_volume_claim(
                name, namespace, {"spec": {"resources": {"requests": {"storage": size}}}}
            )
        waiting.append(name)
    deadline = time.monotonic() + float(props.get("timeout_seconds") or 300)
    for name in waiting:
        while True:
            claim = core.read_namespaced_persistent_volume_claim(name, namespace)
            status: Any = claim.status
            capacity = (status.capacity or {}).get("storage") if status else None
            if capacity is not None and parse_quantity(capacity) >= wanted:
                break
            if time.monotonic() > deadline:
                conditions = [f"{c.type}: {c.message or c.reason}" for c in ((status and status.conditions) or [])]
                raise RuntimeError(
                    f"claim {namespace}/{name} reports {capacity} after the request of {size}; its StorageClass's "
                    f"driver did not expand it ({'; '.join(conditions) or 'no conditions'})"
                )
            time.sleep(POLL_SECONDS)


class ClaimExpansionProvider(ResourceProvider):
    """Create and update expand the claims and wait; delete leaves them as they are."""

    serialize_as_secret_always = False

    def create(self, props: dict[str, Any]) -> CreateResult:
        """Expand every existing claim to the size."""
        _expand(props)
        return CreateResult(id_=f"{props['namespace']}/{props['statefulset']}/{props['claim_template']}", outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        """Changed when the size, the ordinals or the set changed."""
        changed = [key for key in _INPUTS if olds.get(key) != news.get(key)]
        return DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Expand again (new ordinals or a bigger size)."""
        _expand(news)
        return UpdateResult(outs=news)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Claims keep their size; nothing to undo."""


class ClaimExpansion(Resource, module="stateful", name="ClaimExpansion"):
    """Every existing claim of ``claim_template`` for ``ordinals`` holds at least ``size``."""

    def __init__(
        self,
        name: str,
        *,
        namespace: pulumi.Input[str],
        statefulset: str,
        claim_template: str,
        ordinals: list[int],
        size: str,
        context: str | None,
        timeout_seconds: int,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """Register the expansion (run it after the StatefulSet: pass ``depends_on`` in ``opts``)."""
        props = {
            "namespace": namespace,
            "statefulset": statefulset,
            "claim_template": claim_template,
            "ordinals": ordinals,
            "size": size,
            "context": context or "",
            "timeout_seconds": timeout_seconds,
        }
        super().__init__(ClaimExpansionProvider(), name, props, opts)
