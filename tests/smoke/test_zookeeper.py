"""The ZooKeeper ensemble behaves as in the "Running ZooKeeper" tutorial (checks Z3-Z7, Z13, Z17).

Members are reached by their stable DNS names: four-letter words over TCP for identity and roles,
kazoo for data. Every znode lives under ``/smoke-<run id>`` and is deleted at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from harness import quorum, zk
from harness.kube import Kube, delete_pods, get_pod, grace_period, pod_uids, wait_ready, wait_rolled_out
from harness.stack import App, StackDriver
from harness.waits import wait_until

pytestmark = pytest.mark.cluster

#: Longest a writer may go without an acknowledged write while members restart one at a time, and
#: after the leader's pod is deleted. Each costs one election: about 1.7 s without a leader and a
#: synced majority, and a write gap of 1-2 s for a client that reconnects quickly (``zk.client``).
MAX_WRITE_GAP_S = 3.0


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


def _sample(app: App) -> dict[str, quorum.Member]:
    return {host: zk.member(host, _port(app)) for host in app.pod_dns}


def test_one_member_leads_and_the_leader_and_every_follower_count_each_other_as_synced(zookeeper: App) -> None:
    def all_synced(sample: dict[str, quorum.Member]) -> bool:
        leader = quorum.leader_of(sample)
        return (quorum.classify(sample, zookeeper.replicas) is quorum.Verdict.QUORUM and leader is not None
                and sample[leader].synced_followers == zookeeper.replicas - 1
                and sum(m.peer_state == quorum.FOLLOWING for m in sample.values()) == zookeeper.replicas - 1)

    wait_until(lambda: _sample(zookeeper), 30.0,
               f"one leader counting {zookeeper.replicas - 1} synced followers, each following in broadcast",
               until=all_synced)


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
    writer: zk.Writer
    monitor: zk.QuorumMonitor
    returned: Any


@pytest.fixture(scope="module")
def failover(kube: Kube, zookeeper: App, root: str) -> Failover:
    """Delete the leader's pod under a running writer; wait for a new leader and the pod's return."""
    roles = _wait_for_one_leader(zookeeper)
    leader_host = next(h for h, r in roles.items() if r == "leader")
    leader = zookeeper.ordinals[zookeeper.pod_dns.index(leader_host)]
    name = zookeeper.pod(leader)
    old_uid = pod_uids(kube, zookeeper.namespace, [name])[name]
    with (zk.QuorumMonitor(zookeeper.pod_dns, _port(zookeeper)) as monitor,
          zk.Writer(zk.client_hosts(zookeeper), _port(zookeeper), f"{root}/failover") as writer):
        writer.wait_for_writes(5, 30, "before the leader's pod is deleted")
        delete_pods(kube, zookeeper.namespace, [name])
        returned = wait_ready(kube, zookeeper.namespace, [name], not_uids={name: old_uid})[name]
        _wait_for_one_leader(zookeeper, timeout=120)
        writer.wait_for_writes(5, 60, f"after {name} returned")
    gap, at = writer.longest_gap()
    print(f"leader {name} deleted: longest write gap {gap:.1f} s at {at:.0f} s; {monitor.summary()}; "
          f"{writer.count()} writes acknowledged")
    return Failover(old_leader=leader, old_uid=old_uid, writer=writer, monitor=monitor, returned=returned)


def test_writes_resume_within_three_seconds_after_the_leader_pod_is_deleted(failover: Failover) -> None:
    gap, at = failover.writer.longest_gap()
    outage, roles = failover.monitor.longest_outage()
    assert gap <= MAX_WRITE_GAP_S, (
        f"writes failed for {gap:.1f} s (from {at:.0f} s) after the leader's pod was deleted, more than "
        f"{MAX_WRITE_GAP_S:.0f} s; {len(failover.writer.failures)} failed attempts, first: "
        f"{failover.writer.failures[:3]}; the members had no leader and synced majority for {outage:.1f} s "
        f"(first: {roles})")


def test_losing_the_leader_costs_one_election_and_never_two_leaders(failover: Failover) -> None:
    split = failover.monitor.split_brains()
    assert not split, f"{len(split)} samples with more than one leader, first: {split[0]}"
    elections = failover.monitor.elections()
    assert elections == 1, f"{elections} new leader epochs after one leader's pod was deleted, expected 1"


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
    leader: str  # the leader's pod before the change
    created: dict[str, float]  # pod -> creation time (epoch seconds) after the change


@pytest.fixture(scope="module")
def rollout(kube: Kube, zookeeper: App, driver: StackDriver, root: str) -> Rollout:
    """Roll every member (a pod-template change via ``pulumi up``) and back, under a running writer."""
    ns = zookeeper.namespace
    wait_rolled_out(kube, ns, zookeeper.statefulset)
    _wait_for_one_leader(zookeeper)
    before = pod_uids(kube, ns, zookeeper.pods())
    roles = _wait_for_one_leader(zookeeper)
    leader = zookeeper.pod(zookeeper.ordinals[zookeeper.pod_dns.index(
        next(h for h, r in roles.items() if r == "leader"))])
    change = driver.template_change(zookeeper, grace_period(kube, ns, zookeeper.statefulset))
    with (zk.QuorumMonitor(zookeeper.pod_dns, _port(zookeeper)) as monitor,
          zk.Writer(zk.client_hosts(zookeeper), _port(zookeeper), f"{root}/rollout") as writer):
        writer.wait_for_writes(5, 30, "before the rolling update")
        with driver.changed_config(change):
            wait_rolled_out(kube, ns, zookeeper.statefulset)
            after = pod_uids(kube, ns, zookeeper.pods())
            created = {name: get_pod(kube, ns, name).metadata.creation_timestamp.timestamp()
                       for name in zookeeper.pods()}
            driver.restore()
        wait_rolled_out(kube, ns, zookeeper.statefulset)
        _wait_for_one_leader(zookeeper, timeout=120)
        writer.wait_for_writes(5, 60, "after the rolling update")
    replaced = [n for n in zookeeper.pods() if after.get(n) != before.get(n)]
    gap, at = writer.longest_gap()
    print(f"rolling update and back: longest write gap {gap:.1f} s at {at:.0f} s; {monitor.summary()}; "
          f"{writer.count()} writes acknowledged")
    return Rollout(writer=writer, monitor=monitor, replaced=replaced, leader=leader, created=created)


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
        f"the members had no leader and synced majority for {outage:.1f} s during the rolling update, more than "
        f"{MAX_WRITE_GAP_S:.0f} s; roles when it began: {roles}")


def test_a_rolling_update_restarts_the_leader_last(rollout: Rollout) -> None:
    others = {name: at for name, at in rollout.created.items() if name != rollout.leader}
    early = sorted(name for name, at in others.items() if at >= rollout.created[rollout.leader])
    assert not early, (
        f"{rollout.leader} led before the update but was not restarted last: {early} came back after it "
        f"(pod creation times {rollout.created})")


def test_each_rolling_update_costs_one_election_and_never_two_leaders(rollout: Rollout) -> None:
    split = rollout.monitor.split_brains()
    assert not split, f"{len(split)} samples with more than one leader, first: {split[0]}"
    elections = rollout.monitor.elections()
    assert elections == 2, (
        f"{elections} new leader epochs over two rolling updates (the change and back), "
        "expected one each: the leader restarted last")


def test_a_rolling_update_loses_no_acknowledged_write(zookeeper: App, root: str, rollout: Rollout) -> None:
    client = zk.client(zookeeper.pod_dns, _port(zookeeper))
    try:
        present = zk.written(client, f"{root}/rollout")
    finally:
        zk.stop(client)
    lost = sorted(rollout.writer.numbers() - present)
    assert not lost, f"{len(lost)} acknowledged writes are missing after the rolling update: {lost[:10]}"

