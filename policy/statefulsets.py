"""Policies one StatefulSet (or controller) can decide alone: selectors, claim templates, ensemble size.

The upstream ZooKeeper manifest's anti-affinity selects ``app: zk``, a label its pods do not carry, so the
rule silently does nothing; ``selectors-match-pod-labels`` makes that bug class fail the preview.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from policy.kube import (
    describe,
    has_selector,
    is_quorum_app,
    kind,
    mapping,
    pod_labels,
    pod_spec,
    replicas,
    selects,
    sequence,
    spec,
)
from policy.model import Level, ResourceArgs, ResourcePolicy


def _affinity_terms(pod: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    anti = mapping(mapping(pod.get("affinity")).get("podAntiAffinity"))
    for term in sequence(anti.get("requiredDuringSchedulingIgnoredDuringExecution")):
        yield "required anti-affinity", mapping(term)
    for weighted in sequence(anti.get("preferredDuringSchedulingIgnoredDuringExecution")):
        yield "preferred anti-affinity", mapping(mapping(weighted).get("podAffinityTerm"))
    for constraint in sequence(pod.get("topologySpreadConstraints")):
        yield "topology spread", mapping(constraint)


def check_selectors(args: ResourceArgs) -> Iterator[str]:
    """The controller's selector and its anti-affinity and spread selectors all select its own pods."""
    if not has_selector(args):
        return
    labels = pod_labels(args)
    selector = mapping(spec(args).get("selector"))
    if not selects(selector, labels):
        yield f"{describe(args)}: selector {_show(selector)} does not select its pods, labelled {labels}"
    for what, term in _affinity_terms(pod_spec(args) or {}):
        match = mapping(term.get("labelSelector"))
        if not selects(match, labels):
            yield f"{describe(args)}: {what} selector {_show(match)} matches none of its own pods, labelled {labels}"


def _show(selector: Mapping[str, Any]) -> str:
    labels = dict(mapping(selector.get("matchLabels")))
    expressions = [dict(mapping(expression)) for expression in sequence(selector.get("matchExpressions"))]
    return f"{labels} {expressions}" if expressions else str(labels)


def check_claim_storage_class(args: ResourceArgs) -> Iterator[str]:
    """Every claim template (and claim) names its StorageClass: the cluster's default class is not a decision."""
    found = kind(args)
    if found == "StatefulSet":
        claims = [mapping(claim) for claim in sequence(spec(args).get("volumeClaimTemplates"))]
    elif found == "PersistentVolumeClaim":
        claims = [args.props]
    else:
        return
    for claim in claims:
        if not mapping(claim.get("spec")).get("storageClassName"):
            name = mapping(claim.get("metadata")).get("name")
            yield f"{describe(args)}: claim {name} sets no storageClassName (the cluster's default would apply)"


def check_odd_ensemble(args: ResourceArgs) -> Iterator[str]:
    """A quorum ensemble has an odd number of members: an even one tolerates no more failures than one less."""
    if is_quorum_app(args) and replicas(args) % 2 == 0:
        yield f"{describe(args)}: {replicas(args)} members is not an odd number"


def check_quorum_anti_affinity(args: ResourceArgs) -> Iterator[str]:
    """A quorum ensemble requires its members on different nodes, so one node lost cannot cost the majority."""
    if not is_quorum_app(args):
        return
    labels = pod_labels(args)
    required = [
        term
        for what, term in _affinity_terms(pod_spec(args) or {})
        if what == "required anti-affinity" and selects(mapping(term.get("labelSelector")), labels)
    ]
    if not required:
        yield f"{describe(args)}: no required pod anti-affinity keeps its members on different nodes"


POLICIES = (
    ResourcePolicy(
        "selectors-match-pod-labels",
        "A StatefulSet's selector, anti-affinity and topology spread select its own pods' labels.",
        check_selectors,
    ),
    ResourcePolicy(
        "claim-storage-class",
        "Every volume claim template names its StorageClass explicitly.",
        check_claim_storage_class,
    ),
    ResourcePolicy(
        "odd-ensemble",
        "A quorum ensemble (ZooKeeper) has an odd number of members.",
        check_odd_ensemble,
    ),
    ResourcePolicy(
        "quorum-anti-affinity",
        "A quorum ensemble requires pod anti-affinity between its members (advisory: small clusters may prefer it).",
        check_quorum_anti_affinity,
        Level.ADVISORY,
    ),
)
