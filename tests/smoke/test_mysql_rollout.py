"""A rolling update of MySQL through ``pulumi up``, under a writer: replicas first, the primary last, nothing lost.

The StatefulSet's RollingUpdate replaces pods in reverse ordinal order, so the primary (ordinal 0) goes
last; each replaced replica must be Ready (replicating, within ``maxReplicaLagSeconds``) before the next
pod goes. A writer commits numbered rows to the primary by its stable DNS name the whole time. The
update is a pod-template change (one more second of grace period) and back: two rollouts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pymysql
import pytest

from harness import mysqldb
from harness.kube import Kube, get_pod, grace_period, pod_uids, wait_rolled_out
from harness.mysqldb import Login, Writer
from harness.stack import App, StackDriver
from harness.waits import wait_until

pytestmark = pytest.mark.cluster

DOWN = (pymysql.err.OperationalError, pymysql.err.InterfaceError, OSError)
#: Once the rollout is done, every replica is Ready, so within maxReplicaLagSeconds; it has every
#: acknowledged row this soon (measured well under a second).
CAUGHT_UP_S = 10.0


@dataclass(frozen=True)
class Rolled:
    """What a writer and the pods saw of one rolling update of every member."""

    writer: Writer
    replaced: list[str]
    created: dict[str, float]  # pod -> creation time (epoch seconds) of the pod after the update
    missing: dict[str, set[int]]  # pod -> acknowledged rows it lacked CAUGHT_UP_S after the rollout


DRILL_PREFIX = "roll"


def _rows(host: str, port: int, login: Login, database: str) -> set[int]:
    return {int(n) for (n,) in mysqldb.query(host, port, login, f"SELECT n FROM `{database}`.writes")}


def _missing_after(mysql: App, login: Login, database: str, wanted: set[int]) -> dict[str, set[int]]:
    """Each replica's acknowledged rows still missing after CAUGHT_UP_S (empty sets: caught up)."""
    port = mysql.port("mysql")
    deadline = time.monotonic() + CAUGHT_UP_S
    missing: dict[str, set[int]] = {}
    for ordinal in mysql.ordinals[1:]:
        host = mysql.dns(ordinal)
        try:
            lacking = wait_until(lambda h=host: wanted - _rows(h, port, login, database),  # type: ignore[misc]
                                 max(0.5, deadline - time.monotonic()), f"{mysql.pod(ordinal)} to catch up",
                                 until=lambda lacking: not lacking, ignore=DOWN)
        except AssertionError:
            lacking = wanted - _rows(host, port, login, database)
        missing[mysql.pod(ordinal)] = lacking
    return missing


@pytest.fixture(scope="module")
def rolled(kube: Kube, mysql: App, drill_login: Login, drill_database: str, driver: StackDriver) -> Rolled:
    """Roll every member (a pod-template change via ``pulumi up``) under a writer, then back."""
    ns = mysql.namespace
    before = pod_uids(kube, ns, mysql.pods())
    change = driver.template_change(mysql, grace_period(kube, ns, mysql.statefulset))
    with Writer(mysql.dns(mysql.first), mysql.port("mysql"), drill_login, drill_database) as writer:
        writer.wait_for_writes(20, 30, "before the rolling update")
        with driver.changed_config(change):
            wait_rolled_out(kube, ns, mysql.statefulset)
            writer.wait_for_writes(20, 60, "after the rolling update")
            after = pod_uids(kube, ns, mysql.pods())
            created = {name: get_pod(kube, ns, name).metadata.creation_timestamp.timestamp()
                       for name in mysql.pods()}
            missing = _missing_after(mysql, drill_login, drill_database, writer.numbers())
            driver.restore()
        wait_rolled_out(kube, ns, mysql.statefulset)
        writer.wait_for_writes(20, 60, "after rolling back")
    replaced = [name for name in mysql.pods() if after.get(name) != before.get(name)]
    gap, after_gap = writer.longest_gap()
    print(f"MySQL rolling update and back: {len(writer.acked)} writes acknowledged, {writer.failures} failed "
          f"attempts, longest gap {gap:.1f} s (before write {after_gap}); pods created {created}")
    return Rolled(writer=writer, replaced=replaced, created=created, missing=missing)


def test_a_rolling_update_replaces_every_member(mysql: App, rolled: Rolled) -> None:
    assert rolled.replaced == mysql.pods(), (
        f"the rolling update replaced only {rolled.replaced}; the template change did not reach every pod")


def test_a_rolling_update_restarts_the_replicas_from_the_highest_ordinal_and_the_primary_last(
    mysql: App, rolled: Rolled
) -> None:
    order = sorted(rolled.created, key=rolled.created.__getitem__)
    expected = [mysql.pod(ordinal) for ordinal in reversed(mysql.ordinals)]
    assert order == expected, (
        f"pods were re-created in the order {order}, expected {expected} (the primary {mysql.pod(mysql.first)} "
        f"last); creation times {rolled.created}")


def test_a_rolling_update_leaves_every_replica_caught_up(rolled: Rolled) -> None:
    behind = {pod: sorted(rows)[:10] for pod, rows in rolled.missing.items() if rows}
    assert not behind, (
        f"{CAUGHT_UP_S:.0f} s after the rollout, replicas still lacked acknowledged rows (first ten each): {behind}")


def test_a_rolling_update_loses_no_acknowledged_commit(mysql: App, drill_login: Login, drill_database: str,
                                                       rolled: Rolled) -> None:
    acked = rolled.writer.numbers()
    on_primary = acked - _rows(mysql.dns(mysql.first), mysql.port("mysql"), drill_login, drill_database)
    missing = {mysql.pod(mysql.first): on_primary, **_missing_after(mysql, drill_login, drill_database, acked)}
    lost = {pod: sorted(rows)[:10] for pod, rows in missing.items() if rows}
    assert not lost, f"acknowledged commits missing after the rolling update and back (first ten): {lost}"
