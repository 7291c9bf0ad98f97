"""ZooKeeper, on the deployed ensemble: connecting, create + get round trips, and write-to-visible after ``sync``.

Everything happens under a unique ``/bench-<uuid>`` znode that is deleted afterwards.
"""

from __future__ import annotations

import contextlib
import statistics
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError

from .kube import Kube, settled_members
from .report import Report, fmt
from .waits import wait_for


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

