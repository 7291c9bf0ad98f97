"""The ZooKeeper ensemble behaves as in the "Running ZooKeeper" tutorial (checks Z3-Z7, Z13, Z17).

Members are reached by their stable DNS names: four-letter words over TCP for identity and roles,
kazoo for data. Every znode lives under ``/smoke-<run id>`` and is deleted at the end.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from . import zk
from .kube import Kube, delete_pods, grace_period, pod_uids, wait_ready, wait_rolled_out
from .stack import App, StackDriver
from .waits import wait_until

pytestmark = pytest.mark.cluster

#: Longest a writer may go without an acknowledged write while members restart one at a time.
#: Restarting the leader costs an election (well under a second when it goes well); a new leader
#: that does not get its followers in time gives up after initLimit x tickTime (10 s on the local
#: stack) and elects again, so this bound is that plus a margin.
MAX_WRITE_GAP_S = 15.0
#: Longest a new leader may take to be elected after the leader's pod is deleted.
ELECTION_S = 30.0


def _port(app: App) -> int:
    return app.port("client")


def _roles(app: App) -> dict[str, str]:
    return zk.modes(app.pod_dns, _port(app))


def _wait_for_one_leader(app: App, timeout: float = 60.0) -> dict[str, str]:
    return wait_until(lambda: _roles(app), timeout,
                      f"exactly one leader and {app.replicas - 1} followers in {app.statefulset}",
                      until=zk.one_leader)


@pytest.fixture(scope="module")
def root(zookeeper: App, run_id: str) -> Iterator[str]:
    """This run's znode root; deleted with everything under it at the end."""
    path = f"/smoke-{run_id}"
    yield path
    client = zk.client(zookeeper.pod_dns, _port(zookeeper))
    try:
        client.delete(path, recursive=True)
    finally:
        zk.stop(client)


# --- identity and roles ----------------------------------------------------------------------------


def test_every_member_reports_myid_equal_to_its_ordinal_plus_one(zookeeper: App) -> None:
    wrong = []
    for i in zookeeper.ordinals:
        server_id = zk.conf(zookeeper.dns(i), _port(zookeeper)).get("serverId")
        if server_id != str(i + 1):
            wrong.append(f"{zookeeper.pod(i)} reports myid {server_id}, expected {i + 1}")
    assert not wrong, "; ".join(wrong)


def test_the_ensemble_has_exactly_one_leader_and_the_rest_followers(zookeeper: App) -> None:
    roles = _wait_for_one_leader(zookeeper, timeout=30.0)
    assert len(roles) == zookeeper.replicas


def test_the_leader_counts_every_follower_as_synced(zookeeper: App) -> None:
    roles = _wait_for_one_leader(zookeeper, timeout=30.0)
    leader = next(h for h, r in roles.items() if r == "leader")
    synced = wait_until(lambda: zk.mntr(leader, _port(zookeeper)).get("zk_synced_followers"), 30.0,
                        f"{leader} to report {zookeeper.replicas - 1} synced followers",
                        until=lambda n: n == str(zookeeper.replicas - 1))
    assert synced == str(zookeeper.replicas - 1)


def test_a_znode_written_through_the_first_member_is_read_through_the_last_after_sync(
    zookeeper: App, root: str
) -> None:
    first = zk.client(zookeeper.pod_dns[:1], _port(zookeeper))
    last = zk.client(zookeeper.pod_dns[-1:], _port(zookeeper))
    try:
        path = f"{root}/hello"
        first.create(path, b"world", makepath=True)
        last.sync(path)
        data, _ = last.get(path)
        assert data == b"world", (
            f"{zookeeper.pod(zookeeper.ordinals[-1])} reads {data!r} at {path} after sync, "
            f"expected b'world' as written through {zookeeper.pod(zookeeper.first)}")
    finally:
        zk.stop(first)
        zk.stop(last)


# --- losing the leader -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Failover:
    """What happened when the leader's pod was deleted while a writer kept writing."""

    old_leader: int
    old_uid: str
    new_leader: str
    elected_after_s: float
    writer: zk.Writer
    returned: Any


@pytest.fixture(scope="module")
def failover(kube: Kube, zookeeper: App, root: str) -> Failover:
    """Delete the leader's pod under a running writer; wait for a new leader and the pod's return."""
    roles = _wait_for_one_leader(zookeeper)
    leader_host = next(h for h, r in roles.items() if r == "leader")
    leader = zookeeper.ordinals[zookeeper.pod_dns.index(leader_host)]
    name = zookeeper.pod(leader)
    old_uid = pod_uids(kube, zookeeper.namespace, [name])[name]
    others = [h for h in zookeeper.pod_dns if h != leader_host]
    with zk.Writer(zk.client_hosts(zookeeper), _port(zookeeper), f"{root}/failover") as writer:
        writer.wait_for_writes(5, 30, "before the leader's pod is deleted")
        start = time.monotonic()
        delete_pods(kube, zookeeper.namespace, [name])
        new_roles = wait_until(lambda: zk.modes(others, _port(zookeeper)), 120,
                               f"one of {', '.join(others)} to become leader after {name} was deleted",
                               until=lambda r: "leader" in r.values())
        elected_after = time.monotonic() - start
        returned = wait_ready(kube, zookeeper.namespace, [name], not_uids={name: old_uid})[name]
        _wait_for_one_leader(zookeeper, timeout=120)
        writer.wait_for_writes(5, 60, f"after {name} returned")
    gap, _ = writer.longest_gap()
    print(f"leader {name} deleted: new leader after {elected_after:.1f} s; longest write gap {gap:.1f} s; "
          f"{writer.count()} writes acknowledged")
    return Failover(
        old_leader=leader,
        old_uid=old_uid,
        new_leader=next(h for h, r in new_roles.items() if r == "leader"),
        elected_after_s=elected_after,
        writer=writer,
        returned=returned,
    )


def test_deleting_the_leader_pod_elects_a_new_leader_quickly(zookeeper: App, failover: Failover) -> None:
    assert failover.new_leader != zookeeper.dns(failover.old_leader)
    assert failover.elected_after_s <= ELECTION_S, (
        f"a new leader ({failover.new_leader}) took {failover.elected_after_s:.1f} s to be elected after "
        f"{zookeeper.pod(failover.old_leader)} was deleted, more than {ELECTION_S:.0f} s")


def test_deleting_the_leader_pod_loses_no_acknowledged_write(zookeeper: App, root: str, failover: Failover) -> None:
    client = zk.client(zookeeper.pod_dns, _port(zookeeper))
    try:
        present = zk.written(client, f"{root}/failover")
    finally:
        zk.stop(client)
    lost = sorted(failover.writer.numbers() - present)
    assert not lost, f"{len(lost)} acknowledged writes are missing after the leader's pod was deleted: {lost[:10]}"


def test_the_deleted_leader_pod_returns_with_its_name_and_data(
    kube: Kube, zookeeper: App, root: str, failover: Failover
) -> None:
    name = zookeeper.pod(failover.old_leader)
    host = zookeeper.dns(failover.old_leader)
    assert failover.returned.metadata.name == name
    assert failover.returned.metadata.uid != failover.old_uid, f"{name} was not recreated"
    server_id = zk.conf(host, _port(zookeeper)).get("serverId")
    assert server_id == str(failover.old_leader + 1), (
        f"{name} came back with myid {server_id}, expected {failover.old_leader + 1}")
    client = zk.client([host], _port(zookeeper))
    try:
        present = zk.written(client, f"{root}/failover")
    finally:
        zk.stop(client)
    missing = sorted(failover.writer.numbers() - present)
    assert not missing, f"the returned {name} lacks {len(missing)} acknowledged writes: {missing[:10]}"


# --- rolling update --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rollout:
    """A writer's and the members' view of a rolling update of every member and back."""

    writer: zk.Writer
    monitor: zk.QuorumMonitor
    replaced: list[str]


@pytest.fixture(scope="module")
def rollout(kube: Kube, zookeeper: App, driver: StackDriver, root: str) -> Rollout:
    """Roll every member (a pod-template change via ``pulumi up``) and back, under a running writer."""
    ns = zookeeper.namespace
    wait_rolled_out(kube, ns, zookeeper.statefulset)
    _wait_for_one_leader(zookeeper)
    before = pod_uids(kube, ns, zookeeper.pods())
    change = driver.template_change(zookeeper, grace_period(kube, ns, zookeeper.statefulset))
    with (zk.QuorumMonitor(zookeeper.pod_dns, _port(zookeeper)) as monitor,
          zk.Writer(zk.client_hosts(zookeeper), _port(zookeeper), f"{root}/rollout") as writer):
        writer.wait_for_writes(5, 30, "before the rolling update")
        with driver.changed_config(change):
            wait_rolled_out(kube, ns, zookeeper.statefulset)
            after = pod_uids(kube, ns, zookeeper.pods())
            driver.restore()
        wait_rolled_out(kube, ns, zookeeper.statefulset)
        _wait_for_one_leader(zookeeper, timeout=120)
        writer.wait_for_writes(5, 60, "after the rolling update")
    replaced = [n for n in zookeeper.pods() if after.get(n) != before.get(n)]
    outage, roles = monitor.longest_outage()
    gap, at = writer.longest_gap()
    print(f"rolling update: longest write gap {gap:.1f} s at {at:.0f} s; longest quorum outage {outage:.1f} s "
          f"(starting with {roles}); {writer.count()} writes acknowledged")
    return Rollout(writer=writer, monitor=monitor, replaced=replaced)


def test_a_rolling_update_keeps_a_quorum_for_writers(zookeeper: App, rollout: Rollout) -> None:
    assert rollout.replaced == zookeeper.pods(), (
        f"the rolling update replaced only {rollout.replaced}; the template change did not reach every pod")
    gap, at = rollout.writer.longest_gap()
    outage, _ = rollout.monitor.longest_outage()
    assert gap <= MAX_WRITE_GAP_S, (
        f"writes failed for {gap:.1f} s (from {at:.0f} s into the update) while members restarted, "
        f"more than {MAX_WRITE_GAP_S:.0f} s; {len(rollout.writer.failures)} failed attempts, "
        f"first: {rollout.writer.failures[:3]}; the members themselves had no quorum for at most {outage:.1f} s")


def test_a_rolling_update_never_leaves_the_ensemble_without_quorum_for_long(rollout: Rollout) -> None:
    outage, roles = rollout.monitor.longest_outage()
    assert outage <= MAX_WRITE_GAP_S, (
        f"the members had no quorum for {outage:.1f} s during the rolling update, more than "
        f"{MAX_WRITE_GAP_S:.0f} s; roles when it began: {roles}")


def test_a_rolling_update_loses_no_acknowledged_write(zookeeper: App, root: str, rollout: Rollout) -> None:
    client = zk.client(zookeeper.pod_dns, _port(zookeeper))
    try:
        present = zk.written(client, f"{root}/rollout")
    finally:
        zk.stop(client)
    lost = sorted(rollout.writer.numbers() - present)
    assert not lost, f"{len(lost)} acknowledged writes are missing after the rolling update: {lost[:10]}"

