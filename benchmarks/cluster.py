"""The local cluster: ``cluster status``, and ``cluster up`` while it already runs (idempotent).

``up`` runs with the host's resolv.conf, never the cluster's that ``incluster`` mounts: CoreDNS takes
its upstream nameservers from ``/etc/resolv.conf``, and the cluster's one would leave CoreDNS without any.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Sequence

from .kube import Kube
from .report import Report
from .resolver import with_host_resolver
from .stack import REPO

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

