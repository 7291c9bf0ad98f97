"""Talking to ZooKeeper members by their stable DNS names: four-letter words over TCP, and kazoo."""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from kazoo.client import KazooClient
from kazoo.handlers.threading import SequentialThreadingHandler

from . import quorum
from .stack import App
from .waits import wait_until


def four_letter(host: str, port: int, cmd: str, timeout: float = 5.0) -> str:
    """Send a four-letter word (``srvr``, ``mntr``, ``conf``...) and return the server's whole answer."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(cmd.encode("ascii"))
        chunks: list[bytes] = []
        while chunk := sock.recv(4096):
            chunks.append(chunk)
    answer = b"".join(chunks).decode("utf-8", errors="replace")
    if "not in the whitelist" in answer or "not executed" in answer:
        raise AssertionError(f"{host} refuses the four-letter word {cmd!r}: {answer.strip()}")
    return answer


def mode(host: str, port: int, timeout: float = 3.0) -> str:
    """The member's role from ``srvr``: ``leader``, ``follower``, ``standalone``, or why it has none."""
    try:
        answer = four_letter(host, port, "srvr", timeout=timeout)
    except OSError as err:
        return f"unreachable ({type(err).__name__}: {err})"
    for line in answer.splitlines():
        if line.startswith("Mode:"):
            return line.split(":", 1)[1].strip()
    return f"not serving ({answer.strip()[:80]!r})"


def modes(hosts: Sequence[str], port: int, timeout: float = 3.0) -> dict[str, str]:
    """Role of every member, by host."""
    return {host: mode(host, port, timeout) for host in hosts}


def one_leader(roles: dict[str, str]) -> bool:
    """Exactly one leader and every other member a follower."""
    values = list(roles.values())
    return values.count("leader") == 1 and values.count("follower") == len(values) - 1


def conf(host: str, port: int) -> dict[str, str]:
    """The member's running configuration from ``conf`` as key/value pairs."""
    pairs: dict[str, str] = {}
    for line in four_letter(host, port, "conf").splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            pairs[key.strip()] = value.strip()
    return pairs


def mntr(host: str, port: int, timeout: float = 5.0) -> dict[str, str]:
    """The member's metrics from ``mntr`` as key/value pairs (none while it is not serving)."""
    pairs: dict[str, str] = {}
    for line in four_letter(host, port, "mntr", timeout=timeout).splitlines():
        if "\t" in line:
            key, value = line.split("\t", 1)
            pairs[key.strip()] = value.strip()
    return pairs


def srvr(host: str, port: int, timeout: float = 5.0) -> dict[str, str]:
    """The member's ``srvr`` answer as key/value pairs (``Mode``, ``Zxid``...)."""
    pairs: dict[str, str] = {}
    for line in four_letter(host, port, "srvr", timeout=timeout).splitlines():
        if ":" in line:
            key, value = line.split(":", 1)
            pairs[key.strip()] = value.strip()
    return pairs


#: How long one member may take to answer in a sample before it counts as unreachable.
SAMPLE_TIMEOUT_S = 1.0
#: Pause between two samples of the ensemble.
SAMPLE_PERIOD_S = 0.25


def member(host: str, port: int, timeout: float = SAMPLE_TIMEOUT_S) -> quorum.Member:
    """One member's own view: ``mntr``, and the leader's epoch from ``srvr`` when it leads."""
    try:
        pairs = mntr(host, port, timeout=timeout)
        zxid = srvr(host, port, timeout=timeout).get("Zxid") if pairs.get("zk_server_state") == "leader" else None
    except OSError as err:
        return quorum.Member(state=f"unreachable ({type(err).__name__})")
    return quorum.Member.from_mntr(pairs, zxid)


def describe(m: quorum.Member) -> str:
    """``leader (leading - broadcast, 2 synced)``, ``follower (following - synchronization)``, ``unreachable``."""
    detail = [part for part in (m.peer_state, None if m.synced_followers is None else f"{m.synced_followers} synced")
              if part]
    return f"{m.state} ({', '.join(detail)})" if detail else m.state


def client_hosts(app: App) -> list[str]:
    """Where clients connect: the client Service (the one exporting the client port), else every member."""
    for name, ports in app.services.items():
        if name != app.headless_service and "client" in ports:
            return [f"{name}.{app.namespace}.svc.{app.cluster_domain}"]
    return app.pod_dns


#: Longest a client's TCP connect to one server may take. kazoo otherwise waits the whole session
#: timeout, and a connect to an address whose pod just went away (the Service's rules or the DNS answer
#: not updated yet) only fails when it runs out: a write gap of the session timeout after a restart.
CONNECT_TIMEOUT_S = 1.0


class QuickConnectHandler(SequentialThreadingHandler):  # type: ignore[misc]
    """kazoo's threading handler, with TCP connects bounded by ``CONNECT_TIMEOUT_S``."""

    def create_connection(self, *args: Any, **kwargs: Any) -> Any:
        """Open the socket as kazoo does, within ``CONNECT_TIMEOUT_S``."""
        kwargs["timeout"] = min(float(kwargs.get("timeout") or CONNECT_TIMEOUT_S), CONNECT_TIMEOUT_S)
        return super().create_connection(*args, **kwargs)


def client(hosts: Sequence[str], port: int, *, timeout: float = 10.0) -> Any:
    """A started kazoo client connected only to the given hosts (returns ``kazoo.client.KazooClient``).

    Reconnection retries quickly and without kazoo's default back-off to an hour, and each TCP connect
    gives up after ``CONNECT_TIMEOUT_S``, so that a measured outage is the ensemble's, not the
    client's. ``timeout`` is the session timeout.
    """
    zk = KazooClient(
        hosts=",".join(f"{h}:{port}" for h in hosts),
        timeout=timeout,
        handler=QuickConnectHandler(),
        connection_retry={"max_tries": -1, "delay": 0.1, "backoff": 1.5, "max_delay": 0.5},
    )
    zk.start(timeout=30)
    return zk


def stop(zk: Any) -> None:
    """Stop and close a kazoo client."""
    zk.stop()
    zk.close()


#: Longest one write may block before it counts as failed (its outcome is then unknown).
WRITE_TIMEOUT_S = 5.0
#: The writer's session timeout: the server's minimum (``minSessionTimeout``, 4 s here). kazoo waits
#: as long for a server's answer to its connect request, and pings after a third of it.
WRITER_SESSION_S = 4.0


@dataclass
class Writer:
    """Writes numbered znodes under ``path`` as fast as the ensemble acknowledges them, in a thread.

    Keeps every acknowledged number with the time it was acknowledged, so a test can check that no
    acknowledged write is lost and measure the longest stretch without a successful write. Connect
    it as clients do: through the client Service.
    """

    hosts: Sequence[str]
    port: int
    path: str
    acked: list[tuple[float, int]] = field(default_factory=list)
    failures: list[tuple[float, str]] = field(default_factory=list)
    started: float = 0.0
    stopped: float = 0.0
    _zk: Any = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Writer:
        """Connect and start writing."""
        self._zk = client(self.hosts, self.port, timeout=WRITER_SESSION_S)
        self._zk.ensure_path(self.path)
        self.started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="zk-writer", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop writing and disconnect."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=WRITE_TIMEOUT_S * 3)
        self.stopped = time.monotonic()
        stop(self._zk)

    def _run(self) -> None:
        number = 0
        while not self._stop.is_set():
            number += 1
            try:
                self._zk.create_async(f"{self.path}/w-{number:08d}", b"").get(timeout=WRITE_TIMEOUT_S)
            except Exception as err:  # any failure is an outage sample
                self.failures.append((time.monotonic(), f"{type(err).__name__}: {err}"))
            else:
                self.acked.append((time.monotonic(), number))
            self._stop.wait(0.1)

    def count(self) -> int:
        """Acknowledged writes so far."""
        return len(self.acked)

    def wait_for_writes(self, more: int, timeout: float, what: str) -> None:
        """Wait until ``more`` further writes are acknowledged."""
        target = self.count() + more
        wait_until(self.count, timeout, f"{more} more acknowledged writes {what}",
                   until=lambda n: n >= target)

    def longest_gap(self) -> tuple[float, float]:
        """(seconds, offset from start) of the longest stretch without an acknowledged write."""
        end = self.stopped or time.monotonic()
        times = [self.started, *(t for t, _ in self.acked), end]
        gap, at = max((b - a, a - self.started) for a, b in itertools.pairwise(times))
        return gap, at

    def numbers(self) -> set[int]:
        """Numbers of the acknowledged writes."""
        return {n for _, n in self.acked}


def written(zk: Any, path: str) -> set[int]:
    """Numbers of the writes present under ``path`` (after a ``sync``)."""
    zk.sync(path)
    return {int(child.split("-", 1)[1]) for child in zk.get_children(path)}


@dataclass
class QuorumMonitor:
    """Samples every member's own view (``mntr``, ``srvr`` on a leader) four times a second, in a thread.

    All members are asked at once in each sample; ``quorum.classify`` judges the samples: exactly one
    leader and a synced majority, else no leader, a split brain or a leader still synchronising.
    """

    hosts: Sequence[str]
    port: int
    samples: list[tuple[float, dict[str, quorum.Member]]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> QuorumMonitor:
        """Start sampling."""
        self._thread = threading.Thread(target=self._run, name="zk-quorum", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop sampling."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        with ThreadPoolExecutor(max_workers=len(self.hosts), thread_name_prefix="zk-sample") as pool:
            while not self._stop.is_set():
                at = time.monotonic()
                answers = pool.map(lambda host: member(host, self.port, SAMPLE_TIMEOUT_S), self.hosts)
                self.samples.append((at, dict(zip(self.hosts, answers, strict=True))))
                self._stop.wait(SAMPLE_PERIOD_S)

    @property
    def members(self) -> int:
        """The ensemble's size."""
        return len(self.hosts)

    def outages(self) -> list[quorum.Stretch]:
        """Every stretch of samples without one leader and a synced majority."""
        return quorum.outages(self.samples, self.members)

    def longest_outage(self) -> tuple[float, dict[str, str]]:
        """(seconds, each member's state at its start) of the longest stretch without a quorum."""
        found = max(self.outages(), key=lambda stretch: stretch.seconds, default=None)
        if found is None:
            return 0.0, {}
        return found.seconds, {host: describe(m) for host, m in found.first.items()}

    def split_brains(self) -> list[dict[str, str]]:
        """The samples in which more than one member led."""
        return [
            {host: describe(m) for host, m in sample.items()}
            for _, sample in self.samples
            if quorum.classify(sample, self.members) is quorum.Verdict.SPLIT_BRAIN
        ]

    def elections(self) -> int:
        """How many new leader epochs took over while sampling."""
        return quorum.elections(self.samples, self.members)

    def summary(self) -> str:
        """One line for a test's output: outage, elections, samples."""
        outage, roles = self.longest_outage()
        return (f"members without one leader and a synced majority for at most {outage:.1f} s "
                f"(first: {roles or 'never'}); {self.elections()} election(s); {len(self.samples)} samples; "
                f"{len(self.split_brains())} split-brain samples")
