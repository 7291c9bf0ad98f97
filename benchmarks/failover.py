"""Failover on the scratch stack: ZooKeeper's leader pod deleted, MySQL's primary pod deleted; N rounds each.

Only the apps' public behaviour is used: names and ports from the stack outputs, ZooKeeper's ``srvr``
four-letter word and client port, MySQL's SQL port with the application account the stack creates (root
logs in only through a pod's socket), in a table ``bench_<uuid>`` of the application database.

- ZooKeeper: a client writes a znode every 50 ms through the client Service; the leader's pod is
  deleted; the election time runs from the delete call until another member reports ``leader``, the
  write gap is the longest stretch without an acknowledged write.
- MySQL: a client inserts a row every 50 ms on the primary's stable DNS name, reconnecting after
  errors; the primary's pod is deleted; the write outage is the longest stretch without an
  acknowledged insert, the replica catch-up runs from the first insert acknowledged after the outage
  until every replica has it. The table is dropped afterwards.

Each round waits until the set has settled again (every pod Ready, one leader) before the next.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pymysql
from kazoo.client import KazooClient

from harness.mysqldb import Login

from .kube import Kube, is_ready, read_pod
from .mysql import quoted
from .report import Report, fmt
from .sides import Ours
from .waits import wait_for

#: The client's pace: one write every this many seconds.
PACE_S = 0.05


def srvr_mode(host: str, port: int) -> str:
    """A ZooKeeper member's ``Mode`` from ``srvr``, or ``down``."""
    try:
        with socket.create_connection((host, port), timeout=1.0) as sock:
            sock.settimeout(1.0)
            sock.sendall(b"srvr")
            answer = b"".join(iter(lambda: sock.recv(4096), b"")).decode("utf-8", errors="replace")
    except OSError:
        return "down"
    return next((line.split(":", 1)[1].strip() for line in answer.splitlines() if line.startswith("Mode:")), "down")


@dataclass
class Pacer:
    """Runs ``write(n)`` every ``PACE_S`` in a thread; remembers when each write was acknowledged."""

    write: Callable[[int], None]
    acked: list[tuple[float, int]] = field(default_factory=list)
    errors: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    started: float = 0.0

    def __enter__(self) -> Pacer:
        """Start writing."""
        self.started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="bench-writer", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop writing."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)

    def _run(self) -> None:
        for n in itertools.count(1):
            if self._stop.is_set():
                return
            try:
                self.write(n)
            except Exception:  # an outage sample; the writer reconnects itself
                self.errors += 1
            else:
                self.acked.append((time.monotonic(), n))
            self._stop.wait(PACE_S)

    def count(self) -> int:
        """Acknowledged writes so far."""
        return len(self.acked)

    def more(self, count: int, timeout: float, what: str) -> None:
        """Wait for ``count`` further acknowledged writes."""
        target = self.count() + count
        wait_for(lambda: True if self.count() >= target else None, timeout, f"{count} more writes {what}",
                 interval=0.05)

    def longest_gap(self, after: float) -> tuple[float, int]:
        """(seconds, number of the first write after it) of the longest gap between acks at or after ``after``."""
        acked = [(t, n) for t, n in self.acked if t >= after - 5.0]
        gaps = [(b[0] - a[0], b[1]) for a, b in itertools.pairwise(acked)]
        return max(gaps, default=(0.0, 0))


def wait_pod_back(kube: Kube, namespace: str, pod: str, old_uid: str, timeout: float) -> None:
    """Wait until ``pod`` exists again with a new uid and is Ready."""
    def back() -> bool | None:
        new = read_pod(kube, namespace, pod)
        return True if new is not None and str(new.metadata.uid) != old_uid and is_ready(new) else None

    wait_for(back, timeout, f"{namespace}/{pod} back and Ready", interval=0.2)


def delete_pod(kube: Kube, namespace: str, pod: str) -> str:
    """Delete ``pod``; return its uid."""
    uid = str(read_pod(kube, namespace, pod).metadata.uid)
    kube.core.delete_namespaced_pod(pod, namespace, _request_timeout=10)
    return uid


# --- ZooKeeper -----------------------------------------------------------------------------------


def zookeeper_round(kube: Kube, app: dict[str, Any], domain: str) -> tuple[float, float]:
    """Delete the leader's pod once; return (election seconds, longest write gap)."""
    namespace, port = str(app["namespace"]), int(app["ports"]["client"])
    members = [str(m) for m in app["pod_dns"]]
    roles = wait_for(lambda: (r if list((r := {m: srvr_mode(m, port) for m in members}).values()).count("leader") == 1
                              else None), 60.0, "one ZooKeeper leader", interval=0.3)
    leader = next(m for m, role in roles.items() if role == "leader")
    others = [m for m in members if m != leader]
    client_service = next((f"{name}.{namespace}.svc.{domain}" for name, ports in app["services"].items()
                           if name != app["headless_service"] and "client" in ports), None)
    hosts = [client_service] if client_service else members
    zk = KazooClient(hosts=",".join(f"{h}:{port}" for h in hosts), timeout=4.0,
                     connection_retry={"max_tries": -1, "delay": 0.1, "backoff": 1.5, "max_delay": 1.0})
    zk.start(timeout=30)
    base = f"/bench-failover-{uuid.uuid4().hex[:8]}"
    try:
        zk.ensure_path(base)
        with Pacer(lambda n: zk.create_async(f"{base}/w-{n:08d}", b"").get(timeout=5.0)) as pacer:
            pacer.more(10, 30.0, "before the delete")
            pod = leader.split(".", 1)[0]
            began = time.monotonic()
            uid = delete_pod(kube, namespace, pod)
            wait_for(lambda: True if any(srvr_mode(m, port) == "leader" for m in others) else None, 90.0,
                     "a new ZooKeeper leader", interval=0.05)
            election = time.monotonic() - began
            pacer.more(20, 90.0, "after the election")
            gap, _ = pacer.longest_gap(began)
        wait_pod_back(kube, namespace, pod, uid, 120.0)
        whole = ["follower"] * (len(members) - 1) + ["leader"]
        wait_for(lambda: True if sorted(srvr_mode(m, port) for m in members) == whole else None, 90.0,
                 "the ensemble whole again (one leader, every other member a follower)", interval=0.3)
    finally:
        try:
            zk.delete(base, recursive=True)
        finally:
            zk.stop()
            zk.close()
    return election, gap


# --- MySQL ---------------------------------------------------------------------------------------


@dataclass
class Inserter:
    """Inserts rows on one host, reconnecting after an error."""

    host: str
    port: int
    login: Login
    table: str
    conn: Any = None

    def __call__(self, n: int) -> None:
        """Insert row ``n``."""
        try:
            if self.conn is None:
                self.conn = connect(self.host, self.port, self.login)
            with self.conn.cursor() as cur:
                cur.execute(f"INSERT INTO {self.table} (id) VALUES (%s)", (n,))
        except Exception:
            if self.conn is not None:
                try:
                    self.conn.close()
                finally:
                    self.conn = None
            raise


def connect(host: str, port: int, login: Login) -> Any:
    """An autocommit connection as the application account, with short timeouts."""
    return pymysql.connect(host=host, port=port, user=login.user, password=login.password, connect_timeout=2,
                           read_timeout=3, write_timeout=3, autocommit=True)


def execute(host: str, port: int, login: Login, sql: str) -> None:
    """Run one statement on ``host`` on a fresh connection."""
    conn = connect(host, port, login)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def has_row(host: str, port: int, login: Login, table: str, n: int) -> bool | None:
    """Whether ``host`` has row ``n`` (None if not, or if it cannot be asked yet)."""
    try:
        conn = connect(host, port, login)
    except pymysql.err.Error:
        return None
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT 1 FROM {table} WHERE id = %s", (n,))
            return True if cur.fetchall() else None
    except pymysql.err.Error:
        return None
    finally:
        conn.close()


def drop_table(host: str, port: int, login: Login, table: str) -> None:
    """``DROP TABLE`` on the primary, retried while it is not reachable yet (it may be recovering)."""
    def dropped() -> bool:
        execute(host, port, login, f"DROP TABLE IF EXISTS {table}")
        return True

    wait_for(dropped, 120.0, f"{table} dropped on {host.split('.', 1)[0]}", interval=1.0,
             ignore=(pymysql.err.Error,))


@dataclass
class Recovery:
    """One MySQL failover round: when the new primary was Ready, took writes again, and each replica had them."""

    deleted: float
    recreated: float = 0.0  # when the new pod was first seen (the old server is gone by then)
    ready: float = 0.0
    first_after: int = 0  # the first insert the new server acknowledged
    accepted: float = 0.0  # when it was acknowledged
    caught_up: dict[str, float] = field(default_factory=dict)  # replica -> when it had that insert


def _observe(kube: Kube, app: dict[str, Any], *, login: Login, table: str, pacer: Pacer, seen: Recovery,
             old_uid: str) -> bool | None:
    """One look, every 0.1 s from the delete on: the new pod's readiness, the outage's end, each replica."""
    namespace, port = str(app["namespace"]), int(app["ports"]["mysql"])
    members = [str(m) for m in app["pod_dns"]]
    primary = str(app.get("primary_dns") or members[0])
    now = time.monotonic()
    if not seen.ready:
        pod = read_pod(kube, namespace, primary.split(".", 1)[0])
        if pod is not None and str(pod.metadata.uid) != old_uid:
            seen.recreated = seen.recreated or now
            if is_ready(pod):
                seen.ready = now
    if seen.recreated and not seen.first_after:
        # The old server may still acknowledge a write while it shuts down (the replicas have already
        # disconnected): the first write after the outage is the new server's first.
        after = next(((t, n) for t, n in list(pacer.acked) if t >= seen.recreated), None)
        if after is not None:
            seen.accepted, seen.first_after = after
    for host in members:
        if host != primary and seen.first_after and host not in seen.caught_up \
                and has_row(host, port, login, table, seen.first_after):
            seen.caught_up[host] = now
    return True if seen.ready and len(seen.caught_up) == len(members) - 1 else None


def mysql_round(kube: Kube, app: dict[str, Any], login: Login, table: str) -> tuple[float, float, float]:
    """Delete the primary's pod once; return (write outage, catch-up from the first write after it, from Ready).

    The replicas are watched while the writer runs, so catch-up is when each first had the first insert
    acknowledged after the outage; from Ready is negative when the new primary took writes before its
    readiness probe passed.
    """
    namespace, port = str(app["namespace"]), int(app["ports"]["mysql"])
    primary = str(app.get("primary_dns") or app["pod_dns"][0])
    inserter = Inserter(primary, port, login, table)
    with Pacer(inserter) as pacer:
        pacer.more(10, 30.0, "before the delete")
        began = time.monotonic()
        uid = delete_pod(kube, namespace, primary.split(".", 1)[0])
        seen = Recovery(deleted=began)
        wait_for(lambda: _observe(kube, app, login=login, table=table, pacer=pacer, seen=seen,
                                  old_uid=uid), 180.0,
                 "the new primary Ready and every replica with its first write after the outage", interval=0.1)
        pacer.more(20, 120.0, "after the primary is back")
        outage, _ = pacer.longest_gap(began)
    if inserter.conn is not None:
        inserter.conn.close()
    last = max(seen.caught_up.values())
    return outage, last - seen.accepted, last - seen.ready


def mysql_failovers(report: Report, kube: Kube, app: dict[str, Any], login: Login, rounds: int) -> None:
    """``rounds`` MySQL failover drills in a table of their own in the application database, dropped afterwards."""
    primary, port = str(app.get("primary_dns") or app["pod_dns"][0]), int(app["ports"]["mysql"])
    table = f"{quoted(str(app['app_database']))}.{quoted(f'bench_{uuid.uuid4().hex[:10]}')}"
    execute(primary, port, login, f"CREATE TABLE {table} (id INT PRIMARY KEY)")
    outages: list[float] = []
    catch_ups: list[float] = []
    from_ready: list[float] = []
    try:
        for i in range(rounds):
            outage, catch_up, after_ready = mysql_round(kube, app, login, table)
            report.log(f"mysql failover {i + 1}: write outage {fmt(outage, 's')}, replica catch-up "
                       f"{fmt(catch_up, 's')} after the first write, {after_ready:+.2f} s from the primary's Ready")
            outages.append(outage)
            catch_ups.append(catch_up)
            from_ready.append(after_ready)
    finally:
        drop_table(primary, port, login, table)
    report.add("mysql: primary pod deleted, write outage", outages, goal=30.0)
    report.add("mysql: replica catch-up after the outage", catch_ups, goal=2.0,
               detail="first insert after the outage -> on every replica")
    report.add("mysql: every replica caught up, from the primary's Ready", from_ready, goal=2.0,
               detail="negative: before the probe passed")


def measure(report: Report, kube: Kube, ours: Ours, domain: str, rounds: int) -> None:
    """ZooKeeper and MySQL failover drills, ``rounds`` each, on the deployed scratch stack."""
    outputs = ours.scratch.outputs()
    zk_app, db_app = dict(outputs["zookeeper"]), dict(outputs["mysql"])
    elections: list[float] = []
    gaps: list[float] = []
    for i in range(rounds):
        election, gap = zookeeper_round(kube, zk_app, domain)
        report.log(f"zookeeper failover {i + 1}: election {fmt(election, 's')}, write gap {fmt(gap, 's')}")
        elections.append(election)
        gaps.append(gap)
    report.add("zookeeper: leader pod deleted -> new leader", elections, goal=10.0)
    report.add("zookeeper: leader pod deleted, longest write gap", gaps, goal=10.0)

    login = Login(str(db_app["app_user"]), ours.scratch.passwords["mysqlAppPassword"])
    mysql_failovers(report, kube, db_app, login, rounds)
