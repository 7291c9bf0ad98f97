"""The benchmark's pure parts: floors from pod timelines, the peer's objects, the engine's segments, settings."""

from __future__ import annotations

import signal

import pytest

from benchmarks.engine import PODS, EventClock, biggest_costs, wall_clock
from benchmarks.podwatch import PodTimes, floor_of, rollout_floor
from benchmarks.run import Settings
from benchmarks.sides import kubernetes_objects, renamed, rolling, unwrap_secrets
from benchmarks.waits import bounded


def pod(name: str, owner: str, scheduled: float, ready: float, namespace: str = "ns") -> PodTimes:
    return PodTimes(namespace=namespace, name=name, uid=name, owner=owner, created=scheduled - 0.1,
                    scheduled=scheduled, started=scheduled + 0.5, ready=ready)


def test_an_ordered_ready_floor_is_the_sum_and_a_parallel_floor_the_slowest_pod() -> None:
    pods = [pod("db-0", "db", 0.0, 10.0), pod("db-1", "db", 10.0, 18.0),
            pod("zk-0", "zk", 0.0, 7.0), pod("zk-1", "zk", 0.0, 9.0)]
    floor, floors = floor_of(pods, {("ns", "db"): "OrderedReady", ("ns", "zk"): "Parallel"})
    assert floors == {"ns/db": 18.0, "ns/zk": 9.0}
    assert floor == 18.0


def test_a_floor_without_pods_of_a_statefulset_is_refused() -> None:
    with pytest.raises(ValueError, match="no pods seen for ns/web"):
        floor_of([pod("db-0", "db", 0.0, 1.0)], {("ns", "db"): "Parallel", ("ns", "web"): "Parallel"})


def test_a_rollout_floor_adds_the_new_pods() -> None:
    assert rollout_floor([pod("a-1", "a", 0.0, 2.0), pod("a-0", "a", 5.0, 8.0)]) == 5.0


def test_the_peer_gets_the_state_objects_with_secrets_revealed_namespaces_first_and_renamed() -> None:
    deployment = {"resources": [
        {"type": "pulumi:providers:kubernetes", "inputs": {"kubeconfig": "x"}},
        {"type": "kubernetes:core/v1:Secret", "inputs": {
            "kind": "Secret", "metadata": {"name": "s", "namespace": "bo1-mysql"},
            "data": {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
                     "plaintext": '{"root-password": "cw=="}'}}},
        {"type": "kubernetes:core/v1:Namespace", "inputs": {"kind": "Namespace", "metadata": {"name": "bo1-mysql"}}},
    ]}
    objects = renamed(kubernetes_objects(deployment), {"bo1-mysql": "bp1-mysql"})
    assert [o["kind"] for o in objects] == ["Namespace", "Secret"]
    assert objects[0]["metadata"]["name"] == "bp1-mysql"
    assert objects[1]["data"] == {"root-password": "cw=="}
    assert unwrap_secrets([1, {"a": "b"}]) == [1, {"a": "b"}]


def test_the_wall_clock_pieces_add_up_to_the_call_and_the_biggest_are_named() -> None:
    stack = "urn:pulumi:s::p::pulumi:pulumi:Stack::p-s"
    sts = "urn:pulumi:s::p::stateful:infra:StatefulService$kubernetes:apps/v1:StatefulSet::mysql"
    cm = "urn:pulumi:s::p::kubernetes:core/v1:ConfigMap::cfg"
    clock = EventClock(began=100.0, prelude=102.0, summary=131.0, returned=131.5,
                       pre={stack: 104.0, cm: 105.0, sts: 105.5}, outputs={cm: 105.2, sts: 130.0, stack: 130.5})
    segments = clock.segments()
    assert segments["engine start (CLI, backend, plugins)"] == 2.0
    assert segments["graph (resource steps, awaits)"] == 25.0
    assert sum(segments.values()) == pytest.approx(31.5)
    pods = [pod("mysql-0", "mysql", 107.0, 127.0)]
    cut = wall_clock(clock, pods)
    assert cut[PODS] == pytest.approx(20.1)
    assert sum(cut.values()) == pytest.approx(31.5)
    top = biggest_costs([clock], [pods])
    assert [c.name for c in top] == [
        PODS,
        "awaits: last pod Ready -> last resource done",
        "engine start (CLI, backend, plugins)",
    ]


def test_bench_rounds_must_be_a_positive_integer_and_groups_known() -> None:
    assert Settings.from_env({"BENCH_ROUNDS": "1", "BENCH_GROUPS": "deploy, setup"}).groups == ("deploy", "setup")
    with pytest.raises(SystemExit, match="BENCH_ROUNDS must be a positive integer"):
        Settings.from_env({"BENCH_ROUNDS": "0"})
    with pytest.raises(SystemExit, match="allowed: cluster"):
        Settings.from_env({"BENCH_GROUPS": "deploys"})


def test_an_inner_budget_puts_the_enclosing_one_back() -> None:
    with bounded(30.0, "outer"):
        with bounded(5.0, "inner"):
            pass
        remaining = signal.getitimer(signal.ITIMER_REAL)[0]
    assert 20.0 < remaining <= 30.0
    assert signal.getitimer(signal.ITIMER_REAL)[0] == 0.0


def test_the_peer_runs_an_on_delete_statefulset_as_a_rolling_update_and_leaves_the_others_alone() -> None:
    zk = {"kind": "StatefulSet", "spec": {"replicas": 3, "updateStrategy": {"type": "OnDelete"}}}
    web = {"kind": "StatefulSet", "spec": {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {}}}}
    assert rolling(zk)["spec"] == {"replicas": 3, "updateStrategy": {"type": "RollingUpdate"}}
    assert rolling(web) == web
    assert rolling({"kind": "Service", "spec": {}}) == {"kind": "Service", "spec": {}}
