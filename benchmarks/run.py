"""Measure the project's speed goals against the running local cluster and print them as a table.

    make bench      (= python -m localcluster.incluster -- .venv/bin/python -m benchmarks.run)

Goals are printed next to the measurements, not asserted: the exit status is 0 unless a measurement
itself failed (an error, or a group running past its time budget). Every group runs under a hard
time budget (``SIGALRM``) and every wait has a deadline.

What is measured, and what it touches:

- the local cluster: ``python -m localcluster.cluster status``, and ``up`` while it already runs
  (idempotent; the components it restarted, if any, are reported). ``up`` runs with the host's
  resolv.conf, never the cluster's that ``incluster`` mounts: CoreDNS takes its upstream
  nameservers from ``/etc/resolv.conf``, and the cluster's one would leave CoreDNS without any;
- ``pulumi preview`` of the deployed stack (read-only);
- ZooKeeper and MySQL are measured once their StatefulSet has settled (teammates' tests roll and
  restart them), on the members that are Ready; a group that fails is tried once more;
- ZooKeeper, on the deployed ensemble: connecting, a create + get round trip through the first
  member's DNS name, and how soon a write on the first member is visible on the last one after
  ``sync``, all under a unique ``/bench-<uuid>`` znode that is deleted afterwards;
- MySQL/MariaDB, on the deployed servers: an insert on the primary and how soon each replica sees
  it, in a database ``bench_<uuid>`` that is dropped afterwards;
- StatefulSet mechanics, in a namespace ``bench-<id>`` of its own with plain manifests: OrderedReady
  and Parallel start of 3 pods with a volume each, a deleted pod coming back Ready and its DNS name
  following the new pod IP; the namespace (and its volumes) is deleted at the end, always.

Nothing of the stack's own workloads is changed or restarted.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import logging
import os
import re
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import dns.exception
import dns.resolver
import pymysql
from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from pulumi import automation as auto

from localcluster import env, incluster

REPO = Path(__file__).resolve().parent.parent
STACK = "local"
TOOLBOX_IMAGE = "stateful.local/toolbox:bookworm"
STORAGE_CLASS = "standard"
SET_LABEL = "bench.stateful.local/set"
POLL_S = 0.1
#: Rounds of OrderedReady and Parallel starts (alternating).
START_ROUNDS = 3

T = TypeVar("T")


# --- time budgets and waits ----------------------------------------------------------------------


class BudgetExceededError(Exception):
    """A group of measurements ran past its time budget."""


@contextlib.contextmanager
def bounded(seconds: float, what: str) -> Iterator[None]:
    """Raise ``BudgetExceededError`` in the main thread if the block runs longer than ``seconds``."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise BudgetExceededError(f"{what} ran past its budget of {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def wait_for(
    observe: Callable[[], T | None],
    timeout: float,
    what: str,
    *,
    interval: float = POLL_S,
    ignore: tuple[type[Exception], ...] = (),
) -> T:
    """Call ``observe`` until it returns something other than None; return that, or fail at the deadline.

    Exceptions of the types in ``ignore`` count as "not yet" and are reported if the deadline passes.
    """
    deadline = time.monotonic() + timeout
    last = "nothing observed yet"
    while True:
        try:
            value = observe()
        except ignore as err:
            last = f"{type(err).__name__}: {err}"
        else:
            if value is not None:
                return value
            last = "not yet"
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}; last observed: {last}")
        if interval > 0:
            time.sleep(interval)


# --- results -------------------------------------------------------------------------------------


def fmt(value: float, unit: str) -> str:
    """A measurement for the table: milliseconds below one second, a ratio as ``0.42x``."""
    if unit == "x":
        return f"{value:.2f}x"
    if value < 1.0:
        return f"{value * 1000:.1f} ms"
    return f"{value:.2f} s"


def spread(samples: Sequence[float], unit: str = "s") -> str:
    """``n=5, min .., max ..`` (or nothing for a single sample)."""
    if len(samples) < 2:
        return ""
    return f"n={len(samples)}, min {fmt(min(samples), unit)}, max {fmt(max(samples), unit)}"


@dataclass
class Result:
    """One row of the table: the median of the samples against an upper-bound goal."""

    name: str
    goal: float
    value: float | None = None
    unit: str = "s"
    detail: str = ""
    error: str | None = None

    @property
    def verdict(self) -> str:
        """``yes`` (goal met), ``NO`` (missed) or ``FAIL`` (no measurement)."""
        if self.error is not None or self.value is None:
            return "FAIL"
        return "yes" if self.value <= self.goal else "NO"


@dataclass
class Report:
    """The rows measured so far, and progress lines on stderr."""

    results: list[Result] = field(default_factory=list)
    began: float = field(default_factory=time.monotonic)

    def log(self, message: str) -> None:
        """A progress line, stamped with the time since the start."""
        print(f"[{time.monotonic() - self.began:6.1f}s] {message}", file=sys.stderr, flush=True)

    def add(self, name: str, samples: Sequence[float], goal: float, *, unit: str = "s", detail: str = "") -> None:
        """Record the median of ``samples``."""
        value = statistics.median(samples)
        details = "; ".join(d for d in (spread(samples, unit), detail) if d)
        self.results.append(Result(name=name, goal=goal, value=value, unit=unit, detail=details))
        self.log(f"{name}: {fmt(value, unit)} (goal <= {fmt(goal, unit)})" + (f"  [{details}]" if details else ""))

    def fail(self, name: str, error: str) -> None:
        """Record a measurement that could not be made."""
        self.results.append(Result(name=name, goal=0.0, error=error))
        self.log(f"{name}: FAILED: {error}")

    def run(
        self,
        name: str,
        budget: float,
        measure: Callable[[], None],
        *,
        attempts: int = 1,
    ) -> None:
        """Run a group of measurements under a time budget per attempt; a failure becomes a FAIL row.

        A failed attempt's rows are dropped before the next attempt.
        """
        for attempt in range(1, attempts + 1):
            self.log(f"== {name} (budget {budget:.0f} s" + (f", attempt {attempt})" if attempt > 1 else ")"))
            mark = len(self.results)
            try:
                with bounded(budget, name):
                    measure()
            except Exception as err:
                del self.results[mark:]
                error = f"{type(err).__name__}: {err}"
                if attempt < attempts:
                    self.log(f"{name}: attempt {attempt} failed ({error}); trying again")
                    continue
                self.fail(f"{name}: aborted", error)
            return

    @property
    def failed(self) -> bool:
        """Whether any measurement failed."""
        return any(r.verdict == "FAIL" for r in self.results)

    def table(self) -> str:
        """The results as an aligned text table."""
        rows = [("benchmark", "measured", "goal", "ok", "detail")]
        for r in self.results:
            measured = fmt(r.value, r.unit) if r.value is not None else "-"
            goal = f"<= {fmt(r.goal, r.unit)}" if r.error is None else "-"
            detail = r.error if r.error is not None else r.detail
            rows.append((r.name, measured, goal, r.verdict, detail))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = []
        for i, row in enumerate(rows):
            cells = [row[0].ljust(widths[0]), row[1].rjust(widths[1]), row[2].rjust(widths[2]),
                     row[3].ljust(widths[3]), row[4]]
            lines.append("  ".join(cells).rstrip())
            if i == 0:
                lines.append("  ".join("-" * w for w in [*widths, len("detail")]))
        return "\n".join(lines)


# --- Kubernetes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kube:
    """The API groups used here (the responses are used as ``Any``, like the tests do)."""

    core: Any  # kubernetes.client.CoreV1Api
    apps: Any  # kubernetes.client.AppsV1Api


def connect_kube() -> Kube:
    """Clients for ``$KUBECONFIG`` (``env.apply`` defaults it to the local cluster's admin kubeconfig)."""
    load: Any = config.load_kube_config
    load(config_file=os.environ["KUBECONFIG"])  # the client read $KUBECONFIG at import, before env.apply
    return Kube(core=client.CoreV1Api(), apps=client.AppsV1Api())


def is_ready(pod: Any) -> bool:
    """Whether the pod is Ready and not being deleted."""
    if pod is None or pod.metadata.deletion_timestamp is not None:
        return False
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or ())


def settled_members(report: Report, kube: Kube, app: Mapping[str, Any], domain: str, timeout: float) -> list[str]:
    """DNS names of a stack app's Ready pods by ordinal, once its StatefulSet has settled.

    Teammates' smoke tests scale, roll and restart the stack's pods: measuring in the middle of that
    would measure their disruption. Settled means: the controller saw the latest spec, and as many
    pods as it wants exist, all Ready, none terminating. The count is the live StatefulSet's, not the
    stack output's (stale while another ``pulumi up`` runs). If the set has not settled by the
    deadline, the pods that are Ready then are measured, and the log says so.
    """
    namespace, name = str(app["namespace"]), str(app["statefulset"])
    selector = ",".join(f"{k}={v}" for k, v in sorted(app["selector"].items()))
    began = time.perf_counter()

    def ready_pods() -> tuple[int, int, list[Any]]:
        sts = kube.apps.read_namespaced_stateful_set(name, namespace, _request_timeout=10)
        pods = kube.core.list_namespaced_pod(namespace, label_selector=selector, _request_timeout=10).items
        current = (sts.status.observed_generation or 0) >= sts.metadata.generation
        wanted = int(sts.spec.replicas) if current else -1
        return wanted, len(pods), [p for p in pods if is_ready(p)]

    def settled() -> list[Any] | None:
        wanted, existing, ready = ready_pods()
        return ready if wanted == existing == len(ready) else None

    try:
        ready = wait_for(settled, timeout, f"{namespace}/{name} settled", interval=0.5)
        note = f"settled ({len(ready)} pods Ready) after {fmt(time.perf_counter() - began, 's')}"
    except TimeoutError:
        wanted, existing, ready = ready_pods()
        note = (f"NOT settled after {timeout:.0f} s ({len(ready)} Ready of {existing} pods, {wanted} wanted): "
                f"measuring the Ready ones")
    report.log(f"{namespace}/{name}: {note}")
    if not ready:
        raise RuntimeError(f"{namespace}/{name} has no Ready pod")
    ready.sort(key=lambda pod: int(str(pod.metadata.name).rsplit("-", 1)[1]))
    return [f"{pod.spec.hostname}.{pod.spec.subdomain}.{namespace}.svc.{domain}" for pod in ready]


def read_pod(kube: Kube, namespace: str, name: str) -> Any:
    """The pod, or None if it does not exist."""
    try:
        return kube.core.read_namespaced_pod(name, namespace, _request_timeout=10)
    except ApiException as err:
        if err.status == 404:
            return None
        raise


# --- DNS (the cluster's, when run through localcluster.incluster) --------------------------------


def under_cluster_resolver() -> bool:
    """Whether /etc/resolv.conf is the cluster's, bind-mounted there by ``localcluster.incluster``."""
    mounted = any(len(fields) > 4 and fields[4] == incluster.RESOLV_CONF
                  for fields in (line.split() for line in Path("/proc/self/mountinfo").read_text().splitlines()))
    try:
        return mounted and Path(incluster.RESOLV_CONF).read_bytes() == incluster.resolv_conf().read_bytes()
    except OSError:
        return False


def with_host_resolver(argv: Sequence[str]) -> list[str]:
    """``argv`` run with the host's /etc/resolv.conf: in a mount namespace of its own without incluster's mount."""
    if not under_cluster_resolver():
        return list(argv)
    # "$0" is the mount point, "$@" the command; the unmount only affects the new namespace.
    return ["unshare", "--mount", "--propagation", "private", "--",
            "sh", "-c", 'umount "$0" && exec "$@"', incluster.RESOLV_CONF, *argv]


def resolve_a(resolver: dns.resolver.Resolver, name: str) -> set[str]:
    """The A records of ``name`` now (empty if it does not resolve)."""
    try:
        answer = resolver.resolve(name, "A", lifetime=1.0, search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.NoNameservers, dns.exception.Timeout):
        return set()
    return {rdata.to_text() for rdata in answer}


# --- 1. the local cluster ------------------------------------------------------------------------

#: Lines of ``cluster up`` that report a component (re)started or images imported, i.e. not idempotent.
UP_ACTION = re.compile(r"^\[\s*[\d.]+s\]\s+([\w.-]+): (started|restarted.*|imported .*)$")


def run_cluster(args: Sequence[str], *, timeout: float, host_resolver: bool = False) -> tuple[float, str]:
    """Run ``python -m localcluster.cluster ARGS``; return (seconds, output); fail on a non-zero exit."""
    argv = [sys.executable, "-m", "localcluster.cluster", *args]
    if host_resolver:
        argv = with_host_resolver(argv)
    began = time.perf_counter()
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, check=False)
    elapsed = time.perf_counter() - began
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        tail = "\n".join(output.strip().splitlines()[-5:])
        raise RuntimeError(f"cluster {' '.join(args)} exited {proc.returncode}: {tail}")
    return elapsed, output


def bench_cluster(report: Report, kube: Kube) -> None:
    """``cluster status`` three times, ``cluster up`` (already running) twice."""
    status = [run_cluster(["status"], timeout=30)[0] for _ in range(3)]
    report.add("cluster: status", status, goal=2.0)
    nodes = len(kube.core.list_node(_request_timeout=10).items)
    ups: list[float] = []
    actions: list[str] = []
    for _ in range(2):
        # The running node count, so that `up` does not take $NODES (or 3) and stop or add nodes.
        elapsed, output = run_cluster(["up", "--nodes", str(nodes)], timeout=120, host_resolver=True)
        ups.append(elapsed)
        actions += [f"{m[1]} {m[2]}" for m in map(UP_ACTION.match, output.splitlines()) if m]
    touched = f"touched: {', '.join(actions)}" if actions else "every component left running"
    report.add(f"cluster: up when running ({nodes} nodes)", ups, goal=10.0, detail=touched)


# --- 2. pulumi preview ---------------------------------------------------------------------------


def stack_outputs() -> dict[str, Any]:
    """Plain values of the ``local`` stack's outputs."""
    stack = auto.select_stack(stack_name=STACK, work_dir=str(REPO))
    return {k: v.value for k, v in stack.outputs().items()}


def bench_preview(report: Report) -> None:
    """``pulumi preview`` of the deployed stack, three times (read-only)."""
    stack = auto.select_stack(stack_name=STACK, work_dir=str(REPO))
    samples: list[float] = []
    changes: dict[str, int] = {}
    for _ in range(3):
        began = time.perf_counter()
        result = stack.preview(color="never")
        samples.append(time.perf_counter() - began)
        # The keys are typed OpType but arrive as plain strings from the engine's JSON.
        summary = {auto.OpType(op).value: n for op, n in (result.change_summary or {}).items()}
        changes = {op: n for op, n in summary.items() if op != auto.OpType.SAME.value and n}
    same = summary.get(auto.OpType.SAME.value, 0)
    detail = f"no-op ({same} unchanged)" if not changes else f"NOT a no-op: {changes} (stack config changed?)"
    report.add(f"pulumi: preview --stack {STACK}", samples, goal=15.0, detail=detail)


# --- 3. ZooKeeper --------------------------------------------------------------------------------


def zk_connect(host: str, port: int) -> Any:
    """A started kazoo client connected to exactly one member (``kazoo.client.KazooClient``)."""
    zk = KazooClient(hosts=f"{host}:{port}", timeout=10.0,
                     connection_retry={"max_tries": 3, "delay": 0.1, "backoff": 2, "max_delay": 1.0})
    try:
        zk.start(timeout=10.0)
    except Exception:
        zk.stop()
        zk.close()
        raise
    return zk


def zk_close(zk: Any) -> None:
    """Stop and close a kazoo client."""
    zk.stop()
    zk.close()


def zk_delete_tree(zk: Any, members: Sequence[str], port: int, path: str) -> None:
    """Delete ``path`` and its children; if ``zk`` lost its member, once more through any member."""
    try:
        zk.delete(path, recursive=True)
    except NoNodeError:
        return
    except Exception:
        fresh = KazooClient(hosts=",".join(f"{m}:{port}" for m in members), timeout=10.0)
        try:
            fresh.start(timeout=10.0)
            with contextlib.suppress(NoNodeError):
                fresh.delete(path, recursive=True)
        except Exception as err:
            raise RuntimeError(f"could not delete the znode {path}: {type(err).__name__}: {err}") from err
        finally:
            zk_close(fresh)


def bench_zookeeper(report: Report, kube: Kube, app: Mapping[str, Any], domain: str) -> None:
    """Connect, create + get round trips, and write-to-visible-on-the-last-member after ``sync``."""
    members = settled_members(report, kube, app, domain, timeout=45.0)
    first, last = members[0], members[-1]
    port = int(app["ports"]["client"])
    first_name, last_name = first.split(".", 1)[0], last.split(".", 1)[0]

    connects: list[float] = []
    for _ in range(3):
        began = time.perf_counter()
        zk = zk_connect(first, port)
        connects.append(time.perf_counter() - began)
        zk_close(zk)
    report.add(f"zookeeper: connect to {first_name}", connects, goal=1.0)

    base = f"/bench-{uuid.uuid4()}"
    writer = zk_connect(first, port)
    reader: Any = None
    try:
        writer.create(base, b"")
        round_trips: list[float] = []
        for i in range(30):
            path = f"{base}/rtt-{i:03d}"
            began = time.perf_counter()
            writer.create(path, b"x" * 64)
            writer.get(path)
            round_trips.append(time.perf_counter() - began)
        p95 = statistics.quantiles(round_trips, n=20)[18]
        report.add(f"zookeeper: create+get round trip via {first_name}", round_trips, goal=0.020,
                   detail=f"p95 {fmt(p95, 's')}")

        reader = zk_connect(last, port)
        visible: list[float] = []
        acks: list[float] = []
        for i in range(5):
            path = f"{base}/vis-{i}"

            def seen(path: str = path) -> bool | None:
                reader.sync(path)
                return True if reader.exists(path) else None

            began = time.perf_counter()
            writer.create(path, b"v")
            acks.append(time.perf_counter() - began)
            wait_for(seen, 10.0, f"{path} on {last_name}", interval=0.0)
            visible.append(time.perf_counter() - began)
        report.add(f"zookeeper: write on {first_name} visible on {last_name} (sync)", visible, goal=0.100,
                   detail=f"write ack median {fmt(statistics.median(acks), 's')}")
    finally:
        try:
            zk_delete_tree(writer, members, port, base)
        finally:
            if reader is not None:
                zk_close(reader)
            zk_close(writer)


# --- 4. MySQL ------------------------------------------------------------------------------------


def root_password(kube: Kube, app: Mapping[str, Any]) -> str:
    """The root password from the Secret that the stack output names."""
    secret = app["secret"]
    obj = kube.core.read_namespaced_secret(secret["name"], app["namespace"], _request_timeout=10)
    return base64.b64decode((obj.data or {})[secret["root_password_key"]]).decode("utf-8")


def mysql_connect(host: str, port: int, password: str) -> Any:
    """An autocommit root connection with short timeouts (``pymysql.Connection``)."""
    return pymysql.connect(host=host, port=port, user="root", password=password, connect_timeout=5,
                           read_timeout=10, write_timeout=10, autocommit=True)


def fetch(conn: Any, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run one statement and return its rows."""
    with conn.cursor() as cur:
        cur.execute(sql, tuple(args) or None)
        return [tuple(row) for row in cur.fetchall()]


def has_rows(conn: Any, sql: str, args: Sequence[Any] = ()) -> bool | None:
    """True if the query returns rows, else None (for ``wait_for``)."""
    return True if fetch(conn, sql, args) else None


def has_no_rows(conn: Any, sql: str, args: Sequence[Any] = ()) -> bool | None:
    """True if the query returns no rows, else None (for ``wait_for``)."""
    return None if fetch(conn, sql, args) else True


def drop_database(conn: Any, host: str, port: int, password: str, db: str) -> None:
    """``DROP DATABASE`` on the primary; if ``conn`` broke, once more on a fresh connection."""
    sql = f"DROP DATABASE IF EXISTS `{db}`"
    try:
        fetch(conn, sql)
    except pymysql.err.Error:
        try:
            fresh = mysql_connect(host, port, password)
            try:
                fetch(fresh, sql)
            finally:
                fresh.close()
        except pymysql.err.Error as err:
            raise RuntimeError(f"could not drop the database {db} on {host}: {err}") from err


def bench_mysql(report: Report, kube: Kube, app: Mapping[str, Any], domain: str) -> None:
    """Inserts on the primary, and how soon each (Ready) replica sees them, in a database of its own."""
    members = settled_members(report, kube, app, domain, timeout=45.0)
    port = int(app["ports"]["mysql"])
    primary = str(app.get("primary_dns") or members[0])
    if primary not in members:
        raise RuntimeError(f"the primary {primary} is not Ready")
    replicas = [m for m in members if m != primary]
    password = root_password(kube, app)
    db = f"bench_{uuid.uuid4().hex[:12]}"
    table = f"`{db}`.`t`"
    exists = "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = 't'"
    short = {host: host.split(".", 1)[0] for host in [primary, *replicas]}

    conns: dict[str, Any] = {}
    try:
        conns[primary] = mysql_connect(primary, port, password)
        for host in replicas:
            conns[host] = mysql_connect(host, port, password)
        fetch(conns[primary], f"CREATE DATABASE `{db}`")
        fetch(conns[primary], f"CREATE TABLE {table} (id INT PRIMARY KEY, note VARCHAR(64))")
        for host in replicas:
            wait_for(functools.partial(has_rows, conns[host], exists, [db]), 30.0, f"table {table} on {short[host]}")

        inserts: list[float] = []
        lags: dict[str, list[float]] = {host: [] for host in replicas}
        for i in range(1, 6):
            began = time.perf_counter()
            fetch(conns[primary], f"INSERT INTO {table} (id, note) VALUES (%s, %s)", [i, "bench"])
            acked = time.perf_counter()
            inserts.append(acked - began)
            pending = list(replicas)

            def poll(i: int = i, pending: list[str] = pending, acked: float = acked) -> bool | None:
                for host in list(pending):
                    if fetch(conns[host], f"SELECT 1 FROM {table} WHERE id = %s", [i]):
                        lags[host].append(time.perf_counter() - acked)
                        pending.remove(host)
                return True if not pending else None

            wait_for(poll, 10.0, f"row {i} on {', '.join(short[h] for h in pending)}", interval=0.002)
        report.add(f"mysql: autocommit insert on {short[primary]}", inserts, goal=0.050)
        for host in replicas:
            report.add(f"mysql: replication lag to {short[host]}", lags[host], goal=1.0,
                       detail="insert acked on primary -> row visible")
    finally:
        try:
            if primary in conns:
                drop_database(conns[primary], primary, port, password, db)
                for host in replicas:
                    if host in conns:
                        wait_for(functools.partial(has_no_rows, conns[host], exists, [db]), 30.0,
                                 f"{db} dropped on {short[host]}", ignore=(pymysql.err.Error,))
        finally:
            for conn in conns.values():
                conn.close()


# --- 5. StatefulSet mechanics in a namespace of our own ------------------------------------------


def headless_service(name: str) -> dict[str, Any]:
    """A headless Service governing the StatefulSet ``name``."""
    return {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
        "spec": {"clusterIP": "None", "selector": {SET_LABEL: name}, "ports": [{"name": "none", "port": 80}]},
    }


def statefulset(name: str, policy: str, replicas: int) -> dict[str, Any]:
    """A StatefulSet of idle toolbox pods with a 16Mi volume each, Ready as soon as they run."""
    labels = {SET_LABEL: name}
    container = {
        "name": "main",
        "image": TOOLBOX_IMAGE,
        "imagePullPolicy": "Never",
        # PID 1 ignores SIGTERM unless it traps it: exit at once instead of waiting out the grace period.
        "command": ["sh", "-c", "trap 'exit 0' TERM; sleep infinity & wait"],
        "readinessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 1},
        "securityContext": {"allowPrivilegeEscalation": False},
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
    }
    return {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name, "labels": labels},
        "spec": {
            "serviceName": name,
            "replicas": replicas,
            "podManagementPolicy": policy,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": 5,
                    "automountServiceAccountToken": False,
                    "securityContext": {"runAsUser": 65534, "runAsGroup": 65534, "runAsNonRoot": True},
                    "containers": [container],
                },
            },
            "volumeClaimTemplates": [{
                "metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": STORAGE_CLASS,
                         "resources": {"requests": {"storage": "16Mi"}}},
            }],
        },
    }


def create_namespace(kube: Kube, namespace: str) -> None:
    """Create the namespace and wait for its default ServiceAccount (pods are refused without it)."""
    body = {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": namespace, "labels": {"app.kubernetes.io/part-of": "stateful-bench"}}}
    kube.core.create_namespace(body, field_validation="Strict")
    wait_for(lambda: kube.core.read_namespaced_service_account("default", namespace, _request_timeout=10),
             30.0, f"ServiceAccount default in {namespace}", ignore=(ApiException,))


def start_set(
    kube: Kube, namespace: str, name: str, policy: str, *, replicas: int, timeout: float
) -> dict[str, float]:
    """Create the Service and StatefulSet; return each pod's seconds from creation to first seen Ready."""
    kube.core.create_namespaced_service(namespace, headless_service(name), field_validation="Strict")
    began = time.perf_counter()
    kube.apps.create_namespaced_stateful_set(namespace, statefulset(name, policy, replicas),
                                             field_validation="Strict")
    ready_at: dict[str, float] = {}

    def all_ready() -> dict[str, float] | None:
        pods = kube.core.list_namespaced_pod(namespace, label_selector=f"{SET_LABEL}={name}",
                                             _request_timeout=10).items
        now = time.perf_counter() - began
        for pod in pods:
            if is_ready(pod):
                ready_at.setdefault(pod.metadata.name, now)
        return dict(ready_at) if len(ready_at) >= replicas else None

    return wait_for(all_ready, timeout, f"{replicas} pods of {name} Ready")


def ready_order(ready_at: Mapping[str, float]) -> str:
    """``name-0 1.2 s, name-1 3.4 s, ...`` in the order the pods became Ready."""
    return ", ".join(f"{pod} {fmt(t, 's')}" for pod, t in sorted(ready_at.items(), key=lambda kv: kv[1]))


@dataclass
class Recreated:
    """What a pod deletion took: until the new pod was Ready, and until its DNS name gave the new IP."""

    ready_s: float
    dns_s: float
    same_ip: bool


def recreate_pod(kube: Kube, resolver: dns.resolver.Resolver, namespace: str, pod: str, fqdn: str) -> Recreated:
    """Delete ``pod``; time the new pod to Ready and its DNS name to the new IP, from the deletion."""
    old = read_pod(kube, namespace, pod)
    old_uid, old_ip = str(old.metadata.uid), str(old.status.pod_ip)
    wait_for(lambda: True if resolve_a(resolver, fqdn) == {old_ip} else None, 30.0, f"{fqdn} -> {old_ip}")
    began = time.perf_counter()
    kube.core.delete_namespaced_pod(pod, namespace)
    seen: dict[str, Any] = {}

    def observe() -> Recreated | None:
        now = time.perf_counter() - began
        if "ready" not in seen:
            new = read_pod(kube, namespace, pod)
            if new is not None and str(new.metadata.uid) != old_uid and new.status.pod_ip:
                seen["ip"] = str(new.status.pod_ip)
                if is_ready(new):
                    seen["ready"] = now
        if "ip" in seen and "dns" not in seen and resolve_a(resolver, fqdn) == {seen["ip"]}:
            seen["dns"] = now
        if "ready" in seen and "dns" in seen:
            return Recreated(ready_s=seen["ready"], dns_s=seen["dns"], same_ip=seen["ip"] == old_ip)
        return None

    return wait_for(observe, 90.0, f"{pod} recreated, Ready, and {fqdn} -> its new IP")


def remove_set(kube: Kube, namespace: str, name: str, timeout: float) -> None:
    """Delete a StatefulSet and its Service; wait until its pods are gone (the claims stay until the end)."""
    kube.apps.delete_namespaced_stateful_set(name, namespace, _request_timeout=10)
    kube.core.delete_namespaced_service(name, namespace, _request_timeout=10)

    def gone() -> bool | None:
        pods = kube.core.list_namespaced_pod(namespace, label_selector=f"{SET_LABEL}={name}",
                                             _request_timeout=10).items
        return None if pods else True

    wait_for(gone, timeout, f"pods of {name} gone", interval=0.2)


def bench_statefulsets(report: Report, kube: Kube, namespace: str, domain: str) -> None:
    """OrderedReady and Parallel start of 3 pods (alternating rounds), and pod recreation with DNS following.

    Each set is removed before the next starts, so every start has the cluster to itself (exec
    readiness probes every second are not free on a small machine).
    """
    replicas = 3
    resolver = dns.resolver.Resolver()
    create_namespace(kube, namespace)

    ordered: list[dict[str, float]] = []
    parallel: list[dict[str, float]] = []
    recreated: list[Recreated] = []
    for round_ in range(1, START_ROUNDS + 1):
        name = f"ord-{round_}"
        ordered.append(start_set(kube, namespace, name, "OrderedReady", replicas=replicas, timeout=90.0))
        report.log(f"round {round_}: OrderedReady {ready_order(ordered[-1])}")
        if round_ == 1:
            recreated = [recreate_pod(kube, resolver, namespace, f"{name}-{i}",
                                      f"{name}-{i}.{name}.{namespace}.svc.{domain}.") for i in range(replicas)]
        remove_set(kube, namespace, name, timeout=60.0)
        name = f"par-{round_}"
        parallel.append(start_set(kube, namespace, name, "Parallel", replicas=replicas, timeout=90.0))
        report.log(f"round {round_}: Parallel {ready_order(parallel[-1])}")
        remove_set(kube, namespace, name, timeout=60.0)

    ordered_s = [max(r.values()) for r in ordered]
    parallel_s = [max(r.values()) for r in parallel]
    report.add(f"sts: {replicas} pods OrderedReady, create -> all Ready", ordered_s, goal=60.0,
               detail=f"round 1: {ready_order(ordered[0])}")
    same = sum(r.same_ip for r in recreated)
    report.add("sts: deleted pod back Ready", [r.ready_s for r in recreated], goal=30.0,
               detail="from the delete call; same claim")
    lag = statistics.median(r.dns_s - r.ready_s for r in recreated)
    report.add("sts: pod DNS name -> new IP", [r.dns_s for r in recreated], goal=30.0,
               detail=f"from the delete call; {fmt(lag, 's')} after Ready (median; CoreDNS caches 5 s)"
                      + (f"; {same} got the old IP back" if same else ""))
    report.add(f"sts: {replicas} pods Parallel, create -> all Ready", parallel_s, goal=30.0,
               detail=f"round 1: {ready_order(parallel[0])}")
    ratio = statistics.median(parallel_s) / statistics.median(ordered_s)
    report.add("sts: Parallel / OrderedReady start time", [ratio], goal=0.7, unit="x",
               detail="ratio of the medians; below 1: Parallel starts the pods at once")


def delete_namespace(kube: Kube, namespace: str, timeout: float) -> float:
    """Delete the namespace; wait until it and the volumes of its claims are gone; return the seconds."""
    began = time.perf_counter()
    try:
        kube.core.delete_namespace(namespace, _request_timeout=10)
    except ApiException as err:
        if err.status != 404:
            raise

    def namespace_gone() -> bool | None:
        try:
            kube.core.read_namespace(namespace, _request_timeout=10)
        except ApiException as err:
            if err.status == 404:
                return True
            raise
        return None

    def volumes_gone() -> bool | None:
        pvs = kube.core.list_persistent_volume(_request_timeout=10).items
        left = [pv for pv in pvs if pv.spec.claim_ref is not None and pv.spec.claim_ref.namespace == namespace]
        return True if not left else None

    wait_for(namespace_gone, timeout, f"namespace {namespace} deleted", interval=0.5)
    wait_for(volumes_gone, max(5.0, timeout - (time.perf_counter() - began)),
             f"volumes of {namespace} deleted", interval=0.5)
    return time.perf_counter() - began


# --- main ----------------------------------------------------------------------------------------


def main() -> int:
    """Run every group, print the table; 1 if a measurement failed, else 0."""
    env.apply()
    logging.getLogger("kazoo").setLevel(logging.CRITICAL)  # its reconnect chatter; failures raise anyway
    report = Report()
    if not under_cluster_resolver():
        report.log("WARNING: not run through localcluster.incluster: cluster DNS names will not resolve")
    kube = connect_kube()

    report.run("cluster", 120, functools.partial(bench_cluster, report, kube))

    outputs: dict[str, Any] = {}
    report.run("stack outputs", 30, lambda: outputs.update(stack_outputs()))
    report.run("pulumi", 120, functools.partial(bench_preview, report))
    domain = str(outputs.get("cluster_domain", "cluster.local"))
    zookeeper, mysql = outputs.get("zookeeper"), outputs.get("mysql")
    if zookeeper:
        report.run("zookeeper", 90, functools.partial(bench_zookeeper, report, kube, zookeeper, domain), attempts=2)
    else:
        report.fail("zookeeper", f"stack {STACK} exports no zookeeper output")
    if mysql:
        report.run("mysql", 90, functools.partial(bench_mysql, report, kube, mysql, domain), attempts=2)
    else:
        report.fail("mysql", f"stack {STACK} exports no mysql output")

    namespace = f"bench-{uuid.uuid4().hex[:8]}"

    def teardown() -> None:
        seconds = delete_namespace(kube, namespace, timeout=120.0)
        report.add("sts: namespace deleted, with its volumes", [seconds], goal=60.0)

    try:
        report.run(f"statefulsets in {namespace}", 180,
                   functools.partial(bench_statefulsets, report, kube, namespace, domain))
    finally:
        report.run(f"delete namespace {namespace}", 150, teardown)

    total = time.monotonic() - report.began
    print()
    print(report.table())
    print(f"\ntotal {total:.1f} s" + ("; some measurements FAILED" if report.failed else ""))
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
