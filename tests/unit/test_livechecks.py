"""Changes checked against the live StatefulSets: what `pulumi preview` refuses before anything changes."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from apps.changes import check_live_changes, targets
from apps.config import ConfigError
from conftest import Parse
from infra.live import LiveClaim, LiveState, LiveStatefulSet

DEFAULT_CLASS = "standard"


def live_set(
    namespace: str,
    name: str,
    *,
    replicas: int,
    size: str,
    claim_template: str = "data",
    storage_class: str | None = "standard",
    start: int = 0,
    policy: str = "OrderedReady",
    history: int = 10,
    modes: tuple[str, ...] = ("ReadWriteOnce",),
) -> LiveStatefulSet:
    claims = tuple(
        LiveClaim(
            name=f"{claim_template}-{name}-{ordinal}",
            ordinal=ordinal,
            requested=size,
            capacity=size,
            storage_class_name=storage_class or DEFAULT_CLASS,
        )
        for ordinal in range(start, start + replicas)
    )
    return LiveStatefulSet(
        namespace=namespace,
        name=name,
        replicas=replicas,
        ordinals_start=start,
        pod_management_policy=policy,
        revision_history_limit=history,
        claim_template=claim_template,
        template_size=size,
        template_storage_class_name=storage_class,
        template_access_modes=modes,
        claims=claims,
    )


LOCAL_NGINX: dict[str, Any] = {"storage": {"size": "256Mi", "storageClassName": "standard"}}


def state(*sets: LiveStatefulSet, expandable: frozenset[str] = frozenset({"standard"})) -> LiveState:
    return LiveState(
        statefulsets={(s.namespace, s.name): s for s in sets},
        expandable_classes=expandable,
        default_class=DEFAULT_CLASS,
    )


def nginx_live(**overrides: Any) -> LiveStatefulSet:
    live = live_set("demo", "web-demo", replicas=2, size="256Mi", claim_template="www")
    return dataclasses.replace(live, **overrides)


def refusal(parse: Parse, sections: dict[str, Any], live: LiveState) -> str:
    with pytest.raises(ConfigError) as error:
        check_live_changes(parse(sections), live)
    return str(error.value)


def test_the_targets_name_each_statefulset_and_its_claim_template(parse: Parse) -> None:
    found = {(t.namespace, t.name, t.claim_template) for t in targets(parse())}
    assert found == {("demo", "web-demo", "www"), ("zookeeper", "zk", "data"), ("mysql", "mysql", "data")}


def test_a_first_deployment_has_nothing_to_compare_with(parse: Parse) -> None:
    check_live_changes(parse({"nginx": LOCAL_NGINX}), state())


def test_an_unchanged_live_set_passes(parse: Parse) -> None:
    check_live_changes(parse({"nginx": LOCAL_NGINX}), state(nginx_live()))


def test_a_bigger_volume_on_an_expandable_class_passes(parse: Parse) -> None:
    sections = {"nginx": {"storage": {"size": "512Mi", "storageClassName": "standard"}}}
    check_live_changes(parse(sections), state(nginx_live()))


def test_a_smaller_volume_than_the_live_claims_is_refused(parse: Parse) -> None:
    sections = {"nginx": {"storage": {"size": "128Mi", "storageClassName": "standard"}}}
    message = refusal(parse, sections, state(nginx_live()))
    assert message.startswith(
        "stateful:nginx.storage.size must not be smaller than the live claims (www-web-demo-0 has 256Mi): "
        "a volume cannot shrink; got '128Mi'"
    )


def test_growing_a_volume_whose_class_cannot_expand_is_refused(parse: Parse) -> None:
    message = refusal(
        parse,
        {"nginx": {"storage": {"size": "512Mi", "storageClassName": "standard"}}},
        state(nginx_live(), expandable=frozenset()),
    )
    assert message.startswith("stateful:nginx.storage.size can grow only where the claims' StorageClass allows")
    assert "'standard', which does not (allowVolumeExpansion)" in message


def test_another_storage_class_on_a_live_set_is_refused(parse: Parse) -> None:
    message = refusal(parse, {"nginx": {"storage": {"size": "256Mi", "storageClassName": "fast"}}}, state(nginx_live()))
    assert message.startswith("stateful:nginx.storage.storageClassName must stay 'standard' on a live StatefulSet")


def test_other_access_modes_on_a_live_set_are_refused(parse: Parse) -> None:
    storage = {**LOCAL_NGINX["storage"], "accessModes": ["ReadWriteOncePod"]}
    message = refusal(parse, {"nginx": {"storage": storage}}, state(nginx_live()))
    assert message.startswith("stateful:nginx.storage.accessModes must stay ['ReadWriteOnce'] on a live StatefulSet")


def test_a_new_first_ordinal_on_a_live_mysql_is_refused(parse: Parse) -> None:
    live = live_set("mysql", "mysql", replicas=3, size="10Gi", storage_class=None)
    message = refusal(parse, {"mysql": {"ordinals": {"start": 1}}}, state(live))
    assert message.startswith(
        "stateful:mysql.ordinals.start must stay 0 on a live StatefulSet: a new first ordinal renames every pod "
        "onto new, empty claims; got 1"
    )


def test_a_new_ensemble_size_on_a_live_zookeeper_is_refused(parse: Parse) -> None:
    live = live_set("zookeeper", "zk", replicas=3, size="10Gi", storage_class=None, policy="Parallel")
    message = refusal(parse, {"zookeeper": {"replicas": 5}}, state(live))
    assert message.startswith("stateful:zookeeper.replicas must stay 3 on a live ensemble")


def test_a_recreating_change_on_a_protected_set_names_the_procedure(parse: Parse) -> None:
    nginx = {**LOCAL_NGINX, "protect": True, "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain"}}
    message = refusal(parse, {"nginx": {**nginx, "podManagementPolicy": "Parallel"}}, state(nginx_live()))
    assert message.startswith("stateful:nginx.podManagementPolicy changes a field that re-creates the StatefulSet")
    assert "`pulumi up` with protect: false and no other change" in message


def test_an_unchanged_protected_set_passes(parse: Parse) -> None:
    nginx = {**LOCAL_NGINX, "protect": True, "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain"}}
    check_live_changes(parse({"nginx": nginx}), state(nginx_live()))


def test_every_refused_change_is_counted_in_the_message(parse: Parse) -> None:
    live = live_set("mysql", "mysql", replicas=3, size="10Gi", storage_class=None)
    message = refusal(parse, {"mysql": {"ordinals": {"start": 1}, "storage": {"size": "5Gi"}}}, state(live))
    assert "(and 1 more: stateful:mysql.storage.size must not be smaller" in message


def test_moving_a_live_app_to_another_namespace_is_refused(parse: Parse) -> None:
    live = LiveState(stack_namespaces={"web-demo": frozenset({"demo"})}, expandable_classes=frozenset({"standard"}))
    message = refusal(parse, {"nginx": {**LOCAL_NGINX, "namespace": "web"}}, live)
    assert message.startswith("stateful:nginx.namespace must stay 'demo': this stack's StatefulSet web-demo runs there")


def test_protect_needs_retained_claims(parse: Parse) -> None:
    with pytest.raises(ConfigError) as error:
        parse({"nginx": {"protect": True, "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete"}}})
    assert str(error.value) == (
        "stateful:nginx.persistentVolumeClaimRetentionPolicy.whenDeleted must be Retain when protect is true "
        "(a protected stack keeps its claims), got Delete"
    )
