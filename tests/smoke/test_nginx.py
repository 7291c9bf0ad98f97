"""The nginx web StatefulSet behaves as in the "StatefulSet Basics" tutorial (checks N4-N16).

Stable identity (hostname, DNS), storage that follows the pod, ordered scaling, and the three
update behaviours (RollingUpdate, partition, OnDelete). Scaling and updates change the stack's
config and run ``pulumi up``; the stack's own config is deployed again afterwards.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest

from harness.kube import (
    Kube,
    PodRecorder,
    PodSeen,
    claim_names,
    container_mount,
    delete_pods,
    delete_pvcs,
    exec_in_pod,
    get_pod,
    grace_period,
    ordinal,
    pod_uids,
    pvc_names,
    revision,
    statefulset,
    wait_ready,
    wait_rolled_out,
)
from harness.net import http_get, resolve
from harness.stack import REMOVE, App, StackDriver
from harness.waits import holds_for, wait_until

pytestmark = pytest.mark.cluster

#: New pods' DNS records can take a while (CoreDNS caches NXDOMAIN for up to 30 s).
DNS_S = 90.0
#: How many pods the scaling test adds.
SCALE_BY = 3


def _port(app: App) -> int:
    return app.port("web", "http")


def _wait_dns(app: App, ordinal: int, ip: str) -> set[str]:
    name = app.dns(ordinal)
    return wait_until(lambda: resolve(name), DNS_S, f"{name} to resolve to {app.pod(ordinal)}'s IP {ip}",
                      until=lambda ips: ips == {ip}, ignore=(OSError,))


def _template_change(kube: Kube, app: App, driver: StackDriver, **more: Any) -> dict[str, Any]:
    return driver.template_change(app, grace_period(kube, app.namespace, app.statefulset), **more)


# --- identity --------------------------------------------------------------------------------------


def test_each_pod_hostname_equals_its_pod_name(kube: Kube, nginx: App) -> None:
    container, _ = container_mount(kube, nginx.namespace, nginx.statefulset)
    wrong = []
    for name in nginx.pods():
        hostname = exec_in_pod(kube, nginx.namespace, name, ["cat", "/proc/sys/kernel/hostname"],
                               container=container).strip()
        if hostname != name:
            wrong.append(f"{name} reports hostname {hostname!r}, expected {name!r}")
    assert not wrong, "; ".join(wrong)


def test_each_pod_dns_name_resolves_to_its_pod_ip(kube: Kube, nginx: App) -> None:
    for i in nginx.ordinals:
        name = nginx.pod(i)
        pod = get_pod(kube, nginx.namespace, name)
        assert pod is not None, f"pod {name} does not exist although the stack has {nginx.replicas} replicas"
        _wait_dns(nginx, i, pod.status.pod_ip)


def test_each_pod_serves_an_index_page_naming_itself(nginx: App) -> None:
    wrong = []
    for i in nginx.ordinals:
        body = wait_until(partial(http_get, nginx.dns(i), _port(nginx), "/"), DNS_S,
                          f"{nginx.dns(i)} to serve its index page", ignore=(OSError,))
        if nginx.pod(i) not in body.split():
            wrong.append(f"{nginx.dns(i)}/ serves {body.strip()[:80]!r}, expected a page naming {nginx.pod(i)}")
    assert not wrong, "; ".join(wrong)


# --- storage follows the pod -----------------------------------------------------------------------


@dataclass(frozen=True)
class Recreated:
    """The nginx pods before and after all of them were deleted."""

    before: dict[str, Any]
    after: dict[str, Any]
    page: str


@pytest.fixture(scope="class")
def recreated(kube: Kube, nginx: App, run_id: str) -> Iterator[Recreated]:
    """Each pod writes its hostname into a page on its volume; then every pod is deleted and recreated."""
    ns = nginx.namespace
    container, docroot = container_mount(kube, ns, nginx.statefulset)
    page = f"/smoke-{run_id}.html"
    for name in nginx.pods():
        write = ["sh", "-c", 'cat /proc/sys/kernel/hostname > "$0"', docroot + page]
        exec_in_pod(kube, ns, name, write, container=container)
    for i in nginx.ordinals:
        served = wait_until(partial(http_get, nginx.dns(i), _port(nginx), page), DNS_S,
                            f"{nginx.dns(i)} to serve {page}", ignore=(OSError,)).strip()
        assert served == nginx.pod(i), f"before any deletion {nginx.dns(i)} serves {served!r}, not its own name"
    before = {name: get_pod(kube, ns, name) for name in nginx.pods()}
    delete_pods(kube, ns, before)
    after = wait_ready(kube, ns, before, not_uids={n: p.metadata.uid for n, p in before.items()})
    try:
        yield Recreated(before=before, after=after, page=page)
    finally:
        for name in nginx.pods():
            exec_in_pod(kube, ns, name, ["rm", "-f", docroot + page], container=container)


class TestDeletingEveryPod:
    """Every pod deleted at once: identity and storage follow the new pods."""

    def test_deleted_pods_come_back_with_the_same_names(self, recreated: Recreated) -> None:
        assert sorted(recreated.after) == sorted(recreated.before)
        same = [n for n, p in recreated.after.items() if p.metadata.uid == recreated.before[n].metadata.uid]
        assert not same, f"pods {same} were not recreated (same UID after deletion)"

    def test_dns_names_follow_the_recreated_pods(self, nginx: App, recreated: Recreated) -> None:
        old_ips = {n: p.status.pod_ip for n, p in recreated.before.items()}
        new_ips = {n: p.status.pod_ip for n, p in recreated.after.items()}
        assert old_ips != new_ips, (
            f"every recreated pod got its old IP back ({new_ips}), so this run cannot show DNS following a new IP")
        for i in nginx.ordinals:
            _wait_dns(nginx, i, new_ips[nginx.pod(i)])

    def test_recreated_pods_serve_their_pages_from_their_own_volumes(self, nginx: App, recreated: Recreated) -> None:
        wrong = []
        for i in nginx.ordinals:
            name, host = nginx.pod(i), nginx.dns(i)
            for page in (recreated.page, "/"):
                served = wait_until(partial(http_get, host, _port(nginx), page), DNS_S,
                                    f"{host} to serve {page}", ignore=(OSError,))
                if name not in served.split():
                    wrong.append(f"recreated {name} serves {served.strip()[:80]!r} at {page}, expected its own name")
        assert not wrong, "; ".join(wrong)


# --- ordered scaling -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scaling:
    """What the pod watch saw while the replicas went from ``start`` to ``peak`` and back."""

    start: int
    peak: int
    added: list[int]
    grown: PodRecorder
    shrunk: PodRecorder
    claims_after: set[str]
    removed_claims: list[str]
    when_scaled: str


@pytest.fixture(scope="class")
def scaling(kube: Kube, nginx: App, driver: StackDriver) -> Iterator[Scaling]:
    """Scale up by three through config and ``pulumi up``, then back through the stack's own config."""
    ns, start = nginx.namespace, nginx.replicas
    wait_rolled_out(kube, ns, nginx.statefulset)
    peak = start + SCALE_BY
    added = [nginx.ordinals[-1] + 1 + k for k in range(SCALE_BY)]
    try:
        with PodRecorder(kube, ns, nginx.selector) as grown:
            driver.up_with({driver.key(nginx): {"replicas": peak}})
            wait_ready(kube, ns, nginx.pods(peak))
        removed = set(pod_uids(kube, ns, [nginx.pod(i) for i in added]).values())
        with PodRecorder(kube, ns, nginx.selector) as shrunk:
            driver.restore()
            shrunk.wait_for(lambda _: removed <= shrunk.gone(), 180,
                            f"pods {', '.join(nginx.pod(i) for i in added)} to be deleted")
        policy = statefulset(kube, ns, nginx.statefulset).spec.persistent_volume_claim_retention_policy
        yield Scaling(start=start, peak=peak, added=added, grown=grown, shrunk=shrunk,
                      claims_after=pvc_names(kube, ns),
                      removed_claims=claim_names(kube, ns, nginx.statefulset, added),
                      when_scaled=str(policy.when_scaled if policy and policy.when_scaled else "Retain"))
    finally:
        if driver.changed:
            driver.restore()
        delete_pvcs(kube, ns, claim_names(kube, ns, nginx.statefulset, added))


class TestScalingThroughStackConfig:
    """Replicas raised by three with ``pulumi up``, then the stack's own config deployed again."""

    def test_scaling_up_creates_each_new_pod_after_its_predecessor_is_ready(self, nginx: App, scaling: Scaling) -> None:
        created = scaling.grown.created()
        names = [e.name for e in created]
        expected = [nginx.pod(i) for i in scaling.added]
        assert names == expected, (
            f"scaling {scaling.start}->{scaling.peak} created {names}, expected {expected} in this order")
        by_name: dict[str, PodSeen] = {}
        for seen in [*scaling.grown.initial.values(), *created]:
            by_name.setdefault(seen.name, seen)
        problems = []
        for pod in created:
            pred = nginx.pod(ordinal(pod.name) - 1)
            ready = scaling.grown.first_ready(by_name[pred].uid) if pred in by_name else None
            if ready is None:
                problems.append(f"{pod.name} was created but its predecessor {pred} was never seen Ready")
            elif ready.seq > pod.seq:
                problems.append(f"{pod.name} was created before {pred} was seen Ready")
            elif ready.ready_since is not None and ready.ready_since > pod.created:
                problems.append(f"{pod.name} was created at {pod.created:%H:%M:%S}, before {pred} "
                                f"became Ready at {ready.ready_since:%H:%M:%S}")
        assert not problems, "; ".join(problems)
        assert not scaling.grown.errors, f"the pod watch lost events: {scaling.grown.errors}"

    def test_scaling_down_deletes_pods_in_reverse_ordinal_order(self, nginx: App, scaling: Scaling) -> None:
        deletions = scaling.shrunk.deletions()
        names = [e.name for e in deletions]
        expected = [nginx.pod(i) for i in reversed(scaling.added)]
        assert names == expected, (
            f"scaling {scaling.peak}->{scaling.start} deleted {names}, expected {expected} in this order")
        gone_at = {e.uid: e.seq for e in scaling.shrunk.snapshot() if e.event == "DELETED"}
        overlapping = [f"{b.name} began terminating before {a.name} was gone"
                       for a, b in itertools.pairwise(deletions) if gone_at.get(a.uid, b.seq + 1) > b.seq]
        assert not overlapping, f"scaling down did not remove one pod at a time: {'; '.join(overlapping)}"
        assert not scaling.shrunk.errors, f"the pod watch lost events: {scaling.shrunk.errors}"

    def test_scaling_down_treats_the_removed_pods_claims_as_the_retention_policy_says(
        self,     kube: Kube, nginx: App, scaling: Scaling
    ) -> None:
        if scaling.when_scaled == "Delete":
            wait_until(lambda: sorted(set(scaling.removed_claims) & pvc_names(kube, nginx.namespace)), 120,
                       "whenScaled Delete to remove the claims of the removed pods", until=lambda kept: not kept)
        else:
            missing = sorted(set(scaling.removed_claims) - scaling.claims_after)
            assert not missing, f"whenScaled is {scaling.when_scaled}, yet scaling down deleted the claims {missing}"


# --- updates -------------------------------------------------------------------------------------


@pytest.fixture(scope="class")
def rolling(kube: Kube, nginx: App, driver: StackDriver) -> Iterator[PodRecorder]:
    """The pod watch while ``pulumi up`` rolls out a pod-template change."""
    sts = wait_rolled_out(kube, nginx.namespace, nginx.statefulset)
    assert (sts.spec.update_strategy.type or "RollingUpdate") == "RollingUpdate", (
        f"the stack deploys {nginx.statefulset} with {sts.spec.update_strategy.type}, the test needs RollingUpdate")
    change = _template_change(kube, nginx, driver)
    with PodRecorder(kube, nginx.namespace, nginx.selector) as rec, driver.changed_config(change):
        wait_rolled_out(kube, nginx.namespace, nginx.statefulset)
        yield rec


class TestRollingUpdate:
    """A pod-template change deployed with RollingUpdate."""

    def test_a_rolling_update_replaces_pods_in_reverse_ordinal_order(self, nginx: App, rolling: PodRecorder) -> None:
        replaced = [e.name for e in rolling.deletions() if e.uid in rolling.initial]
        expected = list(reversed(nginx.pods()))
        assert replaced == expected, f"the rolling update replaced {replaced}, expected {expected} in this order"
        assert not rolling.errors, f"the pod watch lost events: {rolling.errors}"


@dataclass(frozen=True)
class Partitioned:
    """Pods before and after a template change with ``partition`` set."""

    partition: int
    before: dict[str, Any]
    after: dict[str, Any]
    old_revision: str
    new_revision: str


@pytest.fixture(scope="class")
def partitioned(kube: Kube, nginx: App, driver: StackDriver) -> Iterator[Partitioned]:
    """A template change deployed with ``updateStrategy.partition = 1``."""
    ns, partition = nginx.namespace, 1
    assert nginx.replicas > partition, f"the partition test needs more than {partition} replicas"
    old = wait_rolled_out(kube, ns, nginx.statefulset).status.update_revision
    before = {n: get_pod(kube, ns, n) for n in nginx.pods()}
    change = _template_change(kube, nginx, driver,
                              updateStrategy={"type": "RollingUpdate", "partition": partition})
    with driver.changed_config(change):
        sts = wait_until(lambda: statefulset(kube, ns, nginx.statefulset), 120,
                         f"{nginx.statefulset} to update every pod at or above the partition",
                         until=lambda s: s.status.update_revision != old
                         and (s.status.updated_replicas or 0) == nginx.replicas - partition
                         and (s.status.ready_replicas or 0) == nginx.replicas)
        after = wait_ready(kube, ns, nginx.pods())
        yield Partitioned(partition=partition, before=before, after=after,
                          old_revision=old, new_revision=sts.status.update_revision)


class TestPartitionedRollingUpdate:
    """A pod-template change deployed with a RollingUpdate partition of 1."""

    def test_a_partition_updates_only_pods_at_or_above_it(self, nginx: App, partitioned: Partitioned) -> None:
        wrong = []
        for i, name in enumerate(nginx.pods()):  # the partition counts pods from the first ordinal
            pod = partitioned.after[name]
            want = partitioned.new_revision if i >= partitioned.partition else partitioned.old_revision
            if revision(pod) != want:
                side = "at or above" if i >= partitioned.partition else "below"
                wrong.append(f"{name} ({side} partition {partitioned.partition}) runs revision {revision(pod)}, "
                             f"expected {want}")
            if i < partitioned.partition and pod.metadata.uid != partitioned.before[name].metadata.uid:
                wrong.append(f"{name} is below partition {partitioned.partition} but was replaced")
        assert not wrong, "; ".join(wrong)

    def test_a_pod_deleted_below_the_partition_returns_on_the_old_revision(
        self, kube: Kube, nginx: App, partitioned: Partitioned
    ) -> None:
        name = nginx.pod(nginx.ordinals[partitioned.partition - 1])
        old_uid = partitioned.after[name].metadata.uid
        delete_pods(kube, nginx.namespace, [name])
        pod = wait_ready(kube, nginx.namespace, [name], not_uids={name: old_uid})[name]
        assert revision(pod) == partitioned.old_revision, (
            f"{name} (below partition {partitioned.partition}) came back on revision {revision(pod)}, "
            f"expected the old revision {partitioned.old_revision}")


@dataclass(frozen=True)
class OnDelete:
    """The pods after a template change deployed with the OnDelete strategy, and what the controller deleted."""

    deleted: list[str]
    old_revision: str
    new_revision: str
    pods: dict[str, Any]


#: How long pods are watched for (not) changing after an OnDelete template change.
ON_DELETE_QUIET_S = 15.0


@pytest.fixture(scope="class")
def on_delete(kube: Kube, nginx: App, driver: StackDriver) -> Iterator[OnDelete]:
    """A template change deployed with ``updateStrategy.type = OnDelete``, then watched for a while."""
    ns = nginx.namespace
    old = wait_rolled_out(kube, ns, nginx.statefulset).status.update_revision
    change = _template_change(kube, nginx, driver,
                              updateStrategy={"type": "OnDelete", "partition": REMOVE})
    with PodRecorder(kube, ns, nginx.selector) as watched, driver.changed_config(change):
        sts = wait_until(lambda: statefulset(kube, ns, nginx.statefulset), 60,
                         f"{nginx.statefulset} to record the new template as its update revision",
                         until=lambda s: (s.status.observed_generation or 0) >= s.metadata.generation
                         and s.status.update_revision != old)
        holds_for(lambda: {n: p.metadata.uid for n, p in
                           ((n, get_pod(kube, ns, n)) for n in nginx.pods()) if p is not None},
                  ON_DELETE_QUIET_S, "every pod to keep running unchanged",
                  until=lambda uids: uids == {e.name: e.uid for e in watched.initial.values()})
        yield OnDelete(deleted=[e.name for e in watched.deletions()], old_revision=old,
                       new_revision=sts.status.update_revision,
                       pods={n: get_pod(kube, ns, n) for n in nginx.pods()})


class TestOnDeleteUpdate:
    """A pod-template change deployed with the OnDelete strategy."""

    def test_on_delete_leaves_running_pods_on_the_old_revision(self, on_delete: OnDelete) -> None:
        assert not on_delete.deleted, (
            f"with OnDelete the controller deleted {on_delete.deleted} by itself after a template change")
        wrong = [f"{n} runs revision {revision(p)}" for n, p in on_delete.pods.items()
                 if revision(p) != on_delete.old_revision]
        assert not wrong, f"with OnDelete, expected every pod on the old revision {on_delete.old_revision}: {wrong}"

    def test_on_delete_gives_a_deleted_pod_the_new_revision(self, kube: Kube, nginx: App, on_delete: OnDelete) -> None:
        name = nginx.pod(nginx.ordinals[-1])
        delete_pods(kube, nginx.namespace, [name])
        pod = wait_ready(kube, nginx.namespace, [name], not_uids={name: on_delete.pods[name].metadata.uid})[name]
        assert revision(pod) == on_delete.new_revision, (
            f"{name} was deleted under OnDelete and came back on revision {revision(pod)}, "
            f"expected the new revision {on_delete.new_revision}")
        others = {n: revision(get_pod(kube, nginx.namespace, n)) for n in nginx.pods() if n != name}
        moved = [n for n, rev in others.items() if rev != on_delete.old_revision]
        assert not moved, f"pods {moved} changed revision although only {name} was deleted"
