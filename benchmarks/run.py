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

import functools
import logging
import sys
import time
import uuid
from typing import Any

from localcluster import env

from .cluster import bench_cluster
from .kube import connect_kube, delete_namespace
from .mysql import bench_mysql
from .report import Report
from .resolver import under_cluster_resolver
from .stack import STACK, bench_preview, stack_outputs
from .statefulsets import bench_statefulsets
from .zookeeper import bench_zookeeper


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
