"""Maintenance and failure drills on the deployed stack: drains respect the budgets, a lost node is handled.

A node is drained with plain ``kubectl drain`` while a ZooKeeper writer runs: the member on it is
evicted (its budget allows one), a second member's eviction is refused (429) while the first is out,
and the nginx and MySQL pods on the node come back elsewhere with their names, claims and data. Then a
node loses power (``python -m localcluster.cluster node stop N``: every process of the node killed at
once): it turns NotReady, no second copy of its pods starts, ZooKeeper keeps its quorum; the
``node.kubernetes.io/out-of-service`` taint lets the pods start on the other nodes; the node comes back
clean. Every node ends Ready and schedulable, every StatefulSet ready, so the next tests do not notice.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pymysql
import pytest
from kubernetes.client.exceptions import ApiException

from harness import mysqldb, zk
from harness.kube import Kube, exec_in_pod, get_pod, is_ready, wait_ready, wait_rolled_out
from harness.mysqldb import Login
from harness.net import http_get
from harness.stack import App
from harness.waits import holds_for, wait_until
from localcluster.incluster import HOST_MOUNT_NS_FD

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
OUT_OF_SERVICE = "node.kubernetes.io/out-of-service"
DOWN = (pymysql.err.OperationalError, pymysql.err.InterfaceError, OSError)
#: A node whose heartbeats stopped turns NotReady after the controller's grace period (50 s by default).
NOT_READY_S = 120.0
MOVE_S = 180.0


def _host(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run a command in the host's mount namespace (the tests run in a private one, for the cluster's DNS).

    The cluster's processes must be stopped and started where the cluster's mounts are.
    """
    fd = os.environ.get(HOST_MOUNT_NS_FD)
    if fd is None:  # not under localcluster.incluster: this is the host's namespace already
        return subprocess.run(list(argv), cwd=REPO, capture_output=True, text=True, check=False)
    command = ["nsenter", f"--mount=/proc/self/fd/{fd}", f"--wd={REPO}", "--", *argv]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False, pass_fds=(int(fd),))


def _kubectl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", *args], capture_output=True, text=True, check=False)


def _node_of(kube: Kube, app: App, pod: str) -> str:
    found = get_pod(kube, app.namespace, pod)
    assert found is not None, f"{pod} does not exist"
    assert found.spec.node_name, f"{pod} is not scheduled"
    return str(found.spec.node_name)


def _pods_on(kube: Kube, app: App, node: str) -> list[str]:
    return [pod for pod in app.pods() if (p := get_pod(kube, app.namespace, pod)) and p.spec.node_name == node]


def _node_ready(kube: Kube, node: str) -> bool:
    obj = kube.core.read_node(node)
    return any(c.type == "Ready" and c.status == "True" for c in obj.status.conditions or ())


def _set_taint(kube: Kube, node: str, present: bool) -> None:
    obj = kube.core.read_node(node)
    taints = [t for t in obj.spec.taints or () if t.key != OUT_OF_SERVICE]
    if present:
        taints.append({"key": OUT_OF_SERVICE, "value": "nodeshutdown", "effect": "NoExecute"})
    kube.core.patch_node(node, {"spec": {"taints": [t if isinstance(t, dict) else t.to_dict() for t in taints]}})


def _evict(kube: Kube, app: App, pod: str) -> int:
    """Ask the API to evict ``pod`` (what a drain does); return the HTTP status (201 allowed, 429 refused)."""
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": app.namespace}}
    try:
        kube.core.create_namespaced_pod_eviction(pod, app.namespace, body)
    except ApiException as error:
        return int(error.status)
    return 201


def _wait_settled(kube: Kube, apps: list[App]) -> None:
    for app in apps:
        wait_rolled_out(kube, app.namespace, app.statefulset, timeout=MOVE_S)
        wait_ready(kube, app.namespace, app.pods(), timeout=MOVE_S)


@dataclass
class Marks:
    """Data written before a drill, looked for after it."""

    kube: Kube
    nginx: App
    mysql: App
    login: Login  # the owner of the drill database
    mark: str
    database: str
    rows: set[int] = field(default_factory=set)

    def write(self) -> None:
        for pod in self.nginx.pods():
            exec_in_pod(self.kube, self.nginx.namespace, pod,
                        ["sh", "-c", f"echo {self.mark}-{pod} > /usr/share/nginx/html/{self.mark}.txt"],
                        container="nginx")
        primary, port = self.mysql.dns(self.mysql.first), self.mysql.port("mysql")
        number = len(self.rows) + 1
        mysqldb.query(primary, port, self.login, f"INSERT INTO `{self.database}`.marks (n) VALUES (%s)", (number,))
        self.rows.add(number)

    def missing(self) -> list[str]:
        """Every mark that a pod or server does not have (after waiting for replicas to catch up)."""
        missing = []
        for ordinal in self.nginx.ordinals:
            wanted = f"{self.mark}-{self.nginx.pod(ordinal)}"

            def body(ordinal: int = ordinal) -> str:
                return http_get(self.nginx.dns(ordinal), self.nginx.port("web"), f"/{self.mark}.txt").strip()

            try:  # a pod that moved a moment ago may not be in DNS yet
                wait_until(body, 60, f"{self.nginx.pod(ordinal)} to serve {wanted!r}", until=wanted.__eq__,
                           ignore=(OSError,))
            except AssertionError as error:
                missing.append(str(error))
        port = self.mysql.port("mysql")
        for ordinal in self.mysql.ordinals:
            host = self.mysql.dns(ordinal)

            def absent(host: str = host) -> set[int]:
                found = mysqldb.query(host, port, self.login, f"SELECT n FROM `{self.database}`.marks")
                return self.rows - {int(n) for (n,) in found}

            try:
                wait_until(absent, 60, f"{self.mysql.pod(ordinal)} to have every row", until=lambda m: not m,
                           ignore=(*DOWN, pymysql.err.ProgrammingError))
            except AssertionError as error:
                status = mysqldb.replication_summary(mysqldb.replication_status(self.kube, self.mysql, ordinal))
                missing.append(f"{error}; replica status: {status}")
        return missing


@pytest.fixture(scope="module")
def marks(kube: Kube, nginx: App, mysql: App, run_id: str) -> Iterator[Marks]:
    with mysqldb.drill_database(kube, mysql, f"drill_{run_id}", "marks (n INT PRIMARY KEY)") as drill:
        found = Marks(kube, nginx, mysql, drill.login, f"drill-{run_id}", drill.name)
        found.write()
        yield found


@pytest.fixture(scope="module")
def zk_root(zookeeper: App, run_id: str) -> Iterator[str]:
    path = f"/drill-{run_id}"
    yield path
    client = zk.client(zookeeper.pod_dns, zookeeper.port("client"))
    try:
        client.delete(path, recursive=True)
    finally:
        zk.stop(client)


def _followers(app: App) -> list[str]:
    """The members that follow (losing one costs no election), from the members' own answers to ``srvr``."""
    roles = wait_until(lambda: zk.modes(app.pod_dns, app.port("client")), 60, "one leader", until=zk.one_leader)
    return [app.pod(o) for o, dns in zip(app.ordinals, app.pod_dns, strict=True) if roles.get(dns) == "follower"]


def _a_follower(app: App, other_than: str = "") -> str:
    """A follower other than ``other_than``."""
    found = [pod for pod in _followers(app) if pod != other_than]
    assert found, f"no follower other than {other_than!r}"
    return found[0]


def _busiest_follower(kube: Kube, zookeeper: App, others: list[App]) -> str:
    """The follower whose node runs the most pods of ``others``: a drill there moves every app."""
    return max(_followers(zookeeper), key=lambda pod: sum(
        len(_pods_on(kube, app, _node_of(kube, zookeeper, pod))) for app in others))


def _lost_writes(zookeeper: App, path: str, writer: zk.Writer) -> list[int]:
    client = zk.client(zookeeper.pod_dns, zookeeper.port("client"))
    try:
        return sorted(writer.numbers() - zk.written(client, path))
    finally:
        zk.stop(client)


@dataclass
class Drain:
    """What a drain of one node looked like."""

    node: str
    moved: dict[str, tuple[str, float]]  # pod -> (new node, seconds until Ready again)
    claims: dict[str, tuple[str, str]]  # pod -> (claim uid before, after)
    member: str
    second: str
    second_status: int
    member_back_s: float
    writer: zk.Writer
    monitor: zk.QuorumMonitor
    lost: list[int]


def _claim_uid(kube: Kube, app: App, pod: str) -> str:
    claim = kube.core.read_namespaced_persistent_volume_claim(f"data-{pod}" if app.key != "nginx" else f"www-{pod}",
                                                              app.namespace)
    return str(claim.metadata.uid)


@pytest.fixture(scope="module")
def drain(  # noqa: PLR0917 (pytest passes fixtures by name)
    kube: Kube, nginx: App, zookeeper: App, mysql: App, marks: Marks, zk_root: str
) -> Iterator[Drain]:
    """Drain the node of a ZooKeeper follower under a writer, try a second eviction, uncordon."""
    apps = [nginx, zookeeper, mysql]
    _wait_settled(kube, apps)
    member = _busiest_follower(kube, zookeeper, [nginx, mysql])
    node = _node_of(kube, zookeeper, member)
    movers = {app.key: _pods_on(kube, app, node) for app in (nginx, mysql)}
    claims_before = {pod: _claim_uid(kube, app, pod) for app in (nginx, mysql) for pod in movers[app.key]}
    second = _a_follower(zookeeper, other_than=member)
    try:
        with (zk.QuorumMonitor(zookeeper.pod_dns, zookeeper.port("client")) as monitor,
              zk.Writer(zk.client_hosts(zookeeper), zookeeper.port("client"), f"{zk_root}/drain") as writer):
            writer.wait_for_writes(5, 30, "before the drain")
            started = time.monotonic()
            result = _kubectl("drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=180s")
            assert result.returncode == 0, f"kubectl drain {node} failed: {result.stderr or result.stdout}"
            print(f"drained {node} in {time.monotonic() - started:.1f} s")
            second_status = _evict(kube, zookeeper, second)  # while the first member cannot come back
            print(f"evicting {second} while {member} is out: {second_status} "
                  f"({time.monotonic() - started:.1f} s after the drain began)")
            moved: dict[str, tuple[str, float]] = {}
            for app in (nginx, mysql):
                for pod in movers[app.key]:
                    wait_ready(kube, app.namespace, [pod], timeout=MOVE_S)
                    moved[pod] = (_node_of(kube, app, pod), time.monotonic() - started)
                    print(f"{pod} Ready again on {moved[pod][0]} after {moved[pod][1]:.1f} s")
            assert get_pod(kube, zookeeper.namespace, member) is None or not is_ready(
                get_pod(kube, zookeeper.namespace, member)), f"{member} is Ready while {node} is cordoned"
            writer.wait_for_writes(5, 30, f"while {member} is out")
            uncordoned = time.monotonic()
            assert _kubectl("uncordon", node).returncode == 0
            wait_ready(kube, zookeeper.namespace, [member], timeout=MOVE_S)
            member_back_s = time.monotonic() - uncordoned
            back_on = _node_of(kube, zookeeper, member)
            print(f"{member} Ready again on {back_on} {member_back_s:.1f} s after uncordon")
            writer.wait_for_writes(5, 60, "after the member returned")
        lost = _lost_writes(zookeeper, f"{zk_root}/drain", writer)
        claims = {pod: (uid, _claim_uid(kube, app, pod)) for app in (nginx, mysql) for pod in movers[app.key]
                  for uid in [claims_before[pod]]}
        yield Drain(node, moved, claims, member, second, second_status, member_back_s, writer, monitor, lost)
    finally:
        _kubectl("uncordon", node)
        _wait_settled(kube, apps)


def test_a_drain_evicts_one_member_and_the_budget_refuses_a_second(drain: Drain) -> None:
    assert drain.second_status == 429, (
        f"evicting {drain.second} while {drain.member} was out answered {drain.second_status}, expected 429")


def _assert_quorum_and_every_write(what: str, monitor: zk.QuorumMonitor, writer: zk.Writer, lost: list[int]) -> None:
    outage, roles = monitor.longest_outage()
    gap, at = writer.longest_gap()
    print(f"{what}: longest write gap {gap:.1f} s at {at:.0f} s; longest quorum outage {outage:.1f} s")
    assert outage == 0.0, f"the ensemble had no quorum for {outage:.1f} s during the {what} (roles: {roles})"
    assert not lost, f"{len(lost)} acknowledged writes lost: {lost[:10]}"


def test_a_drain_keeps_zookeeper_writing_with_quorum_and_loses_nothing(drain: Drain) -> None:
    _assert_quorum_and_every_write("drain", drain.monitor, drain.writer, drain.lost)


def test_pods_of_a_drained_node_come_back_elsewhere_with_their_claims_and_data(drain: Drain, marks: Marks) -> None:
    assert drain.moved, f"no nginx or MySQL pod ran on {drain.node}: nothing was shown to move"
    wrong = {pod: new for pod, (new, _) in drain.moved.items() if new == drain.node}
    assert not wrong, f"pods back on the drained node: {wrong}"
    replaced = {pod: uids for pod, uids in drain.claims.items() if uids[0] != uids[1]}
    assert not replaced, f"claims replaced: {replaced}"
    assert not marks.missing()


# --- a lost node ------------------------------------------------------------------------------------


@dataclass
class Loss:
    """What losing one node looked like."""

    node: str
    not_ready_s: float
    stranded: dict[str, str]  # pod -> uid, on the lost node
    second_copies: list[str]
    moved: dict[str, tuple[str, float]]
    member: str
    back_s: float
    writer: zk.Writer
    monitor: zk.QuorumMonitor
    lost: list[int]


def _power_back(kube: Kube, node: str, zookeeper: App, member: str) -> float:
    """Lift the out-of-service taint, start the node; return the seconds until its ZooKeeper member is Ready."""
    _set_taint(kube, node, False)
    restarted = time.monotonic()
    index = node.rsplit("-", 1)[1]
    start = _host(sys.executable, "-m", "localcluster.cluster", "node", "start", index)
    assert start.returncode == 0, f"node start {index} failed: {start.stdout[-2000:]}{start.stderr[-2000:]}"
    wait_until(lambda: _node_ready(kube, node), NOT_READY_S, f"{node} to be Ready again")
    wait_ready(kube, zookeeper.namespace, [member], timeout=MOVE_S)
    back_s = time.monotonic() - restarted
    print(f"{node} back and {member} Ready {back_s:.1f} s after the node started")
    return back_s


@pytest.fixture(scope="module")
def loss(  # noqa: PLR0917 (pytest passes fixtures by name)
    kube: Kube, nginx: App, zookeeper: App, mysql: App, marks: Marks, zk_root: str, drain: Drain
) -> Iterator[Loss]:
    """Cut the power of a ZooKeeper follower's node; taint it out of service; bring it back."""
    apps = [nginx, zookeeper, mysql]
    _wait_settled(kube, apps)
    member = _busiest_follower(kube, zookeeper, [nginx, mysql])
    node = _node_of(kube, zookeeper, member)
    index = int(node.rsplit("-", 1)[1])
    stranded = {pod: str(get_pod(kube, app.namespace, pod).metadata.uid)
                for app in apps for pod in _pods_on(kube, app, node)}
    by_pod = {pod: app for app in apps for pod in app.pods()}
    try:
        with (zk.QuorumMonitor(zookeeper.pod_dns, zookeeper.port("client")) as monitor,
              zk.Writer(zk.client_hosts(zookeeper), zookeeper.port("client"), f"{zk_root}/loss") as writer):
            writer.wait_for_writes(5, 30, "before the power cut")
            started = time.monotonic()
            stop = _host(sys.executable, "-m", "localcluster.cluster", "node", "stop", str(index))
            assert stop.returncode == 0, f"node stop {index} failed: {stop.stdout}{stop.stderr}"
            wait_until(lambda: not _node_ready(kube, node), NOT_READY_S, f"{node} to turn NotReady")
            not_ready_s = time.monotonic() - started
            print(f"{node} NotReady {not_ready_s:.1f} s after the power cut")

            def copies() -> list[str]:
                found = []
                for pod, uid in stranded.items():
                    now = get_pod(kube, by_pod[pod].namespace, pod)
                    if now is not None and (str(now.metadata.uid) != uid or now.spec.node_name != node):
                        found.append(f"{pod} on {now.spec.node_name}")
                return found

            holds_for(copies, 15, f"no second copy of the pods of {node}", until=lambda found: not found)
            second_copies = copies()
            writer.wait_for_writes(5, 30, f"while {node} is down")
            tainted = time.monotonic()
            _set_taint(kube, node, True)
            moved: dict[str, tuple[str, float]] = {}
            for pod, uid in stranded.items():
                app = by_pod[pod]
                if app.key == "zookeeper":
                    continue  # required anti-affinity: no other node may take it
                wait_ready(kube, app.namespace, [pod], not_uids={pod: uid}, timeout=MOVE_S)
                moved[pod] = (_node_of(kube, app, pod), time.monotonic() - tainted)
                print(f"{pod} Ready on {moved[pod][0]} {moved[pod][1]:.1f} s after the out-of-service taint")
            back_s = _power_back(kube, node, zookeeper, member)
            writer.wait_for_writes(5, 60, "after the node returned")
        lost = _lost_writes(zookeeper, f"{zk_root}/loss", writer)
        yield Loss(node, not_ready_s, stranded, second_copies, moved, member, back_s, writer, monitor, lost)
    finally:
        with_taint = any(t.key == OUT_OF_SERVICE for t in kube.core.read_node(node).spec.taints or ())
        if with_taint:
            _set_taint(kube, node, False)
        if not _node_ready(kube, node):
            _host(sys.executable, "-m", "localcluster.cluster", "node", "start", str(index))
        _wait_settled(kube, apps)


def test_a_lost_node_turns_not_ready_and_no_second_copy_of_its_pods_starts(loss: Loss) -> None:
    assert loss.stranded, f"no pod ran on {loss.node}"
    assert not loss.second_copies, (
        f"second copies while {loss.node} could not be confirmed stopped: {loss.second_copies}")


def test_zookeeper_keeps_quorum_and_writing_when_a_node_is_lost(loss: Loss) -> None:
    _assert_quorum_and_every_write("node loss", loss.monitor, loss.writer, loss.lost)


def test_the_out_of_service_taint_moves_the_pods_with_their_claims_and_data(loss: Loss, marks: Marks) -> None:
    movable = [pod for pod in loss.stranded if not pod.startswith(loss.member.rsplit("-", 1)[0] + "-")]
    assert sorted(loss.moved) == sorted(movable)
    assert all(new != loss.node for new, _ in loss.moved.values()), f"pods not moved: {loss.moved}"
    assert not marks.missing()


def test_every_node_is_ready_and_schedulable_afterwards(kube: Kube, loss: Loss) -> None:
    for node in kube.core.list_node().items:
        name = node.metadata.name
        assert _node_ready(kube, name), f"{name} is not Ready"
        assert not node.spec.unschedulable, f"{name} is cordoned"
        assert not any(t.key == OUT_OF_SERVICE for t in node.spec.taints or ()), f"{name} keeps the taint"
