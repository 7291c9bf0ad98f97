"""Replication-aware routing and fast reconnects of the MySQL members, on the deployed stack.

* A replica whose replication is stopped leaves ``mysql-read`` within 15 s, says why in its pod's
  events (the readiness probe's output), and returns once replication runs again.
* The backup port (a full copy of the data) streams only to a peer that answers its challenge with
  the set's Secret: this machine, talking to every member's pod address, gets the challenge and a
  refusal, never data; with the right answer it gets a backup stream (so the check can tell).
* A writer commits rows to the primary while the primary's pod is deleted: every acknowledged commit
  is on every member afterwards. Measured: the write outage, and how long after the primary accepted
  writes again each replica had them (the goal is about 2 s).
* A replica that hangs (its server stopped with SIGSTOP from this machine: its socket stays open, it
  reads nothing) while the primary takes writes: the primary ends the replica's dump thread within
  ``netWriteTimeout`` plus the time its writes take to fill the socket buffers, instead of holding it
  until TCP gives up (about 15 minutes); the replica resumes once it runs again.

Writes go to a drill database owned by an account of its own; what a DBA does (``STOP REPLICA``, the
process list) runs as root inside the pods, root's only way in.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pymysql
import pytest
from kubernetes import client

from apps.mysql_scripts import SCRIPTS_DIR, MySQLFlavor, server_binary
from harness import hostproc, mysqldb
from harness.kube import Kube, delete_pods, exec_in_pod, get_pod, is_ready, pod_uids, restarts, wait_rolled_out
from harness.mysqldb import Login, Writer
from harness.stack import App
from harness.waits import wait_until

pytestmark = pytest.mark.cluster

DOWN = (pymysql.err.OperationalError, pymysql.err.InterfaceError, OSError)
#: The issue's bound for a broken replica to leave mysql-read.
LEAVES_READ_S = 15.0
#: Longest a replica may take to rejoin mysql-read once replication runs again.
RETURNS_S = 30.0
REPLICATION_S = 60.0
#: Longest a replica may take, after the restarted primary is Ready, to have its first write after the
#: outage (the goal is 2 s; measured -1.9 s, i.e. before Ready; 17.8 s and 55.2 s before the reconnect work).
CATCH_UP_S = 5.0


DRILL_PREFIX = "repl"


def ready_endpoints(namespace: str, service: str) -> set[str]:
    """The addresses a Service routes to: its EndpointSlices' ready endpoints."""
    slices = client.DiscoveryV1Api().list_namespaced_endpoint_slice(
        namespace, label_selector=f"kubernetes.io/service-name={service}").items
    return {address for piece in slices for endpoint in piece.endpoints or ()
            if endpoint.conditions is None or endpoint.conditions.ready is not False
            for address in endpoint.addresses}


def probe_events(kube: Kube, namespace: str, pod: str, since: float) -> list[str]:
    """Messages of the pod's readiness-probe failures recorded after ``since`` (epoch seconds)."""
    events = kube.core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={pod}").items
    found = []
    for event in events:
        when = event.last_timestamp or event.event_time or event.first_timestamp
        if when is not None and when.timestamp() >= since - 1 and "Readiness probe failed" in (event.message or ""):
            found.append(str(event.message))
    return found


def probe_says(kube: Kube, namespace: str, pod: str) -> str:
    """The server container's readiness probe, run in the pod: its output (``ready`` when it passes)."""
    try:
        exec_in_pod(kube, namespace, pod, ["bash", f"{SCRIPTS_DIR}/probe.sh", "ready"], container="mysql")
    except AssertionError as failed:
        return str(failed)
    return "ready"


def test_a_replica_with_stopped_replication_leaves_mysql_read_and_returns(kube: Kube, mysql: App) -> None:
    ordinal = mysql.ordinals[-1]
    name = mysql.pod(ordinal)
    read = str(mysql.extra.get("read_service", "mysql-read"))
    address = get_pod(kube, mysql.namespace, name).status.pod_ip
    wait_until(lambda: ready_endpoints(mysql.namespace, read), 60, f"{name} ({address}) to be an endpoint of {read}",
               until=lambda found: address in found)
    stopped_at = time.time()
    started = time.monotonic()
    mysqldb.admin_rows(kube, mysql, ordinal, "STOP REPLICA")
    try:
        wait_until(lambda: ready_endpoints(mysql.namespace, read), LEAVES_READ_S,
                   f"{name} ({address}) to leave {read} after STOP REPLICA", until=lambda found: address not in found,
                   interval=0.2)
        left = time.monotonic() - started
        print(f"{name} left {read} {left:.1f} s after STOP REPLICA")
        # What the kubelet records as the probe's event is the probe's output; the event itself may not
        # come (the kubelet's recorder allows an object 25 events, then one per 5 minutes), so the test
        # reads the probe's own answer and prints the event when there is one.
        said = probe_says(kube, mysql.namespace, name)
        assert "IO thread No" in said, f"{name}'s readiness probe says: {said}"
        assert "SQL thread No" in said, f"{name}'s readiness probe says: {said}"
        events = probe_events(kube, mysql.namespace, name, stopped_at)
        print(f"{name} probe: {said}; event: {events[-1] if events else 'none recorded (rate-limited)'}")
    finally:
        mysqldb.admin_rows(kube, mysql, ordinal, "START REPLICA")
    restarted = time.monotonic()
    wait_until(lambda: ready_endpoints(mysql.namespace, read), RETURNS_S,
               f"{name} ({address}) to return to {read} after START REPLICA", until=lambda found: address in found,
               interval=0.2)
    print(f"{name} returned to {read} {time.monotonic() - restarted:.1f} s after START REPLICA")
    status = mysqldb.replication_status(kube, mysql, ordinal)
    assert mysqldb.replicating(status), mysqldb.replication_summary(status)


# --- the clone port -----------------------------------------------------------------------------------

#: The first bytes of an xbstream chunk (mariadb-backup --stream=xbstream).
XBSTREAM_MAGIC = b"XBSTCK01"


def _talk(address: str, port: int, answer: Any, *, want: int = 65536, timeout: float = 20.0) -> bytes:
    """Connect, read the challenge line, send ``answer(nonce)`` (None: send nothing), return what follows."""
    with socket.create_connection((address, port), timeout=timeout) as conn:
        conn.settimeout(timeout)
        received = b""
        while b"\n" not in received:
            chunk = conn.recv(4096)
            if not chunk:
                break
            received += chunk
        line, _, rest = received.partition(b"\n")
        words = line.decode("ascii", "replace").split()
        assert words[:1] == ["CHALLENGE"], f"{address}:{port} greeted with {line!r}"
        assert len(words) == 2, f"{address}:{port} greeted with {line!r}"
        reply = answer(words[1])
        if reply is not None:
            conn.sendall(reply.encode() + b"\n")
        data = rest
        while len(data) < want:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        return line + b"\n" + data


def test_the_backup_port_gives_a_non_member_no_data(kube: Kube, mysql: App) -> None:
    port = mysql.port("backup")
    secret = mysqldb.secret_value(kube, mysql, "replication_password_key")
    refused = []
    for name in mysql.pods():
        address = get_pod(kube, mysql.namespace, name).status.pod_ip
        for what, answer in (("a wrong answer", lambda nonce: "0" * 64), ("no answer", lambda nonce: None)):
            got = _talk(address, port, answer)
            body = got.split(b"\n", 1)[1]
            assert body == b"REFUSED\n", (
                f"{name} ({address}:{port}) sent {len(body)} bytes after the challenge to {what}: {body[:80]!r}")
            refused.append(f"{name}/{what}")
    print(f"refused without data: {', '.join(refused)}")

    def proof(nonce: str) -> str:
        return hashlib.sha256(f"{nonce}\n{secret}".encode()).hexdigest()

    primary = get_pod(kube, mysql.namespace, mysql.pod(mysql.first)).status.pod_ip
    got = _talk(primary, port, proof, want=4096)
    assert got.split(b"\n", 2)[1] == b"STREAM", f"the right answer was refused by {primary}:{port}: {got[:120]!r}"
    assert XBSTREAM_MAGIC in got, f"the right answer got no backup stream from {primary}:{port}: {got[:120]!r}"


# --- writes while the primary restarts ---------------------------------------------------------------


def _max_row(host: str, port: int, login: Login, database: str) -> int:
    ((most,),) = mysqldb.query(host, port, login, f"SELECT COALESCE(MAX(n), 0) FROM `{database}`.writes")
    return int(most)


def _rows(host: str, port: int, login: Login, database: str) -> set[int]:
    return {int(n) for (n,) in mysqldb.query(host, port, login, f"SELECT n FROM `{database}`.writes")}


def test_writes_during_a_primary_restart_are_on_every_member_and_replicas_catch_up_at_once(
    kube: Kube, mysql: App, drill_login: Login, drill_database: str
) -> None:
    port = mysql.port("mysql")
    primary_pod, primary = mysql.pod(mysql.first), mysql.dns(mysql.first)
    replicas = {mysql.pod(i): mysql.dns(i) for i in mysql.ordinals[1:]}
    wait_rolled_out(kube, mysql.namespace, mysql.statefulset)
    old_uid = pod_uids(kube, mysql.namespace, [primary_pod])[primary_pod]
    # Watched together, every 0.1 s from the deletion on: the new primary's readiness, the first write
    # it acknowledged after the outage, and when each replica had that write.
    ready = accepted = 0.0
    first_after = 0
    caught_up: dict[str, float] = {}

    def observe() -> bool:
        nonlocal ready, accepted, first_after
        now = time.monotonic()
        if not ready:
            pod = get_pod(kube, mysql.namespace, primary_pod)
            if pod is not None and pod.metadata.uid != old_uid and is_ready(pod):
                ready = now
        if not first_after:
            gap, after = writer.longest_gap()
            if gap > 1.0 and writer.acked[-1][0] > after:
                first_after = after
                accepted = next(at for n, at in writer.acked if n == after)
        for name, host in replicas.items():
            if first_after and name not in caught_up:
                try:
                    if _max_row(host, port, drill_login, drill_database) >= first_after:
                        caught_up[name] = now
                except (*DOWN, pymysql.err.ProgrammingError):
                    pass
        return bool(ready) and len(caught_up) == len(replicas)

    with Writer(primary, port, drill_login, drill_database) as writer:
        writer.wait_for_writes(20, 30, "before the primary's pod is deleted")
        deleted = time.monotonic()
        delete_pods(kube, mysql.namespace, [primary_pod])
        try:
            wait_until(observe, 300, "the new primary to be Ready and every replica to have its first write after "
                       "the outage", interval=0.1)
        except AssertionError as error:
            raise AssertionError(f"{error}: Ready after {ready - deleted if ready else None} s, first write after "
                                 f"the outage {first_after or None}, replicas with it {sorted(caught_up)}") from None
        writer.wait_for_writes(20, 30, "after the primary is back")
    gap, _ = writer.longest_gap()
    acked = writer.numbers()
    print(f"primary deleted: new pod Ready after {ready - deleted:.1f} s; write outage {gap:.1f} s; writes "
          f"accepted again {accepted - ready:+.1f} s from Ready; {len(acked)} writes acknowledged")
    for name, at in sorted(caught_up.items()):
        print(f"  {name} had the first write after the outage {at - accepted:.1f} s after the primary accepted it "
              f"({at - ready:+.1f} s from the primary's Ready)")
    late = {name: round(at - ready, 1) for name, at in caught_up.items() if at - ready > CATCH_UP_S}
    assert not late, f"replicas caught up later than {CATCH_UP_S} s after the primary was Ready: {late}"
    for name, host in {primary_pod: primary, **replicas}.items():
        def missing(host: str = host) -> set[int]:
            return acked - _rows(host, port, drill_login, drill_database)

        lost = wait_until(missing, REPLICATION_S, f"{name} to have every acknowledged write",
                          until=lambda m: not m, ignore=DOWN)
        assert not lost, f"{name} lacks acknowledged writes {sorted(lost)[:20]}"
    for i in mysql.ordinals[1:]:
        status = mysqldb.replication_status(kube, mysql, i)
        assert mysqldb.replicating(status), f"{mysql.pod(i)}: {mysqldb.replication_summary(status)}"


# --- a hung replica -----------------------------------------------------------------------------------

#: Bytes per row of the flood that fills the hung replica's socket buffers.
PAD_BYTES = 256 * 1024
#: The most the flood writes: the buffers held less than 8 MB here (the hung replica's receive window
#: cannot grow). The binary logs keep it until they expire (the local stack: after a day).
FLOOD_MAX_BYTES = 16 * 1024 * 1024
#: How long past net_write_timeout the primary may hold the dump thread: the flood filling the buffers.
FILL_S = 8.0


def _dump_threads(kube: Kube, mysql: App) -> dict[str | None, str | None]:
    """The primary's binary log dump threads: the replica's address -> thread id."""
    rows = mysqldb.admin_rows(kube, mysql, mysql.first, "SELECT ID, HOST FROM information_schema.PROCESSLIST "
                              "WHERE COMMAND LIKE 'Binlog Dump%'")
    return {(row["HOST"] or "").rsplit(":", 1)[0]: row["ID"] for row in rows}


@dataclass
class Flood:
    """Inserts PAD_BYTES rows into ``pad`` on the primary in a thread, up to FLOOD_MAX_BYTES."""

    host: str
    port: int
    login: Login
    database: str
    rows: int = 0
    error: BaseException | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        pad = b"x" * PAD_BYTES
        try:
            conn = mysqldb.connect(self.host, self.port, self.login, database=self.database)
            try:
                with conn.cursor() as cur:
                    while not self.stop.is_set() and self.rows * PAD_BYTES < FLOOD_MAX_BYTES:
                        cur.execute("INSERT INTO pad (n, pad) VALUES (%s, %s)", (self.rows + 1, pad))
                        self.rows += 1
            finally:
                conn.close()
        except pymysql.err.MySQLError as failed:  # reported by the test, not lost in the thread
            self.error = failed

    @property
    def written_mb(self) -> float:
        return self.rows * PAD_BYTES / 2**20


def test_the_primary_ends_a_hung_replicas_dump_thread_within_net_write_timeout(
    kube: Kube, mysql: App, drill_login: Login, drill_database: str
) -> None:
    port, ordinal = mysql.port("mysql"), mysql.ordinals[-1]
    name, primary = mysql.pod(ordinal), mysql.dns(mysql.first)
    pod = get_pod(kube, mysql.namespace, name)
    address, restarted = pod.status.pod_ip, restarts(pod)
    limit = int(mysql.extra["net_write_timeout"])  # what the stack sets (stateful:mysql.netWriteTimeout)
    bound = limit + FILL_S
    threads = wait_until(lambda: _dump_threads(kube, mysql), 60, f"{name}'s dump thread on the primary",
                         until=lambda found: address in found)
    thread = threads[address]
    binary = server_binary(MySQLFlavor(str(mysql.extra["flavor"])))
    pids = hostproc.pids_of(pod.metadata.uid, binary)
    assert len(pids) == 1, f"{name}'s {binary} processes on this machine: {pids}"
    mysqldb.query(primary, port, drill_login,
                  f"CREATE TABLE IF NOT EXISTS `{drill_database}`.pad (n INT PRIMARY KEY, pad LONGBLOB)")
    flood = Flood(primary, port, drill_login, drill_database)
    freed, asked = None, ""
    with hostproc.frozen(pids[0]):
        hung = time.monotonic()
        writer = threading.Thread(target=flood.run, name="flood", daemon=True)
        writer.start()
        try:
            freed = wait_until(lambda: _dump_threads(kube, mysql).get(address) != thread, bound + 5,
                               f"the primary to end {name}'s dump thread {thread}", interval=0.5,
                               ignore=mysqldb.ADMIN_DOWN)
            held = time.monotonic() - hung
        except AssertionError as still:
            held, asked = time.monotonic() - hung, f"; last look: {str(still)[-300:]}"
        finally:
            flood.stop.set()
            writer.join(timeout=60)
    print(f"{name} hung (SIGSTOP): the primary {'ended' if freed else 'still held'} its dump thread after "
          f"{held:.1f} s (net_write_timeout {limit} s), {flood.written_mb:.0f} MB written meanwhile")
    assert flood.error is None, f"the flood stopped after {flood.written_mb:.0f} MB: {flood.error}"
    assert freed, (f"the primary still held {name}'s dump thread {thread} {held:.0f} s after the replica hung "
                   f"(net_write_timeout {limit} s; {flood.written_mb:.0f} MB written meanwhile){asked}")
    assert held <= bound, f"the primary held the hung {name}'s dump thread {held:.1f} s (at most {bound:.0f} s)"
    assert restarts(get_pod(kube, mysql.namespace, name)) == restarted, (
        f"{name} was restarted while it hung: its death, not the primary's timeout, may have ended the thread")

    def caught_up() -> bool:
        ((most,),) = mysqldb.query(mysql.dns(ordinal), port, drill_login,
                                     f"SELECT COALESCE(MAX(n), 0) FROM `{drill_database}`.pad")
        return int(most) == flood.rows and mysqldb.replicating(mysqldb.replication_status(kube, mysql, ordinal))

    wait_until(caught_up, REPLICATION_S, f"{name} to resume and have all {flood.rows} flooded rows",
               ignore=(*DOWN, *mysqldb.ADMIN_DOWN))
    wait_until(lambda: _dump_threads(kube, mysql), 30, f"{name} to attach a new dump thread",
               until=lambda found: address in found)
