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
  following the new pod IP; the namespace (and its volumes) is deleted at the end, always;
- deploy from empty, ours (a scratch stack ``bench-<id>``, apps in namespaces ``bo<id>-<app>``) against
  the peer (``kubectl`` into ``bp<id>-<app>``), with the floor, the engine's breakdown, and on the last
  round the unchanged-stack, rolling-update and failover groups (``benchmarks.deploy``); both sides are
  taken down at the end, always;
- cold setup, read from the build logs in the toolchain cache (``benchmarks.setup``; nothing is rebuilt).

Nothing of the ``local`` stack's own workloads is changed or restarted. The table, the goals met, and
the paths of the JSON and the PNG (under the cluster's state dir) are printed at the end.
"""

from __future__ import annotations

import functools
import logging
import os
import statistics
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from localcluster import env, paths
from policy import install

from . import setup, zk_rollouts
from .cluster import bench_cluster
from .deploy import DeployBench
from .kube import Kube, connect_kube, delete_namespace
from .mysql import bench_mysql
from .report import Report
from .resolver import under_cluster_resolver
from .sides import APPS
from .stack import STACK, bench_preview, stack_outputs
from .statefulsets import bench_statefulsets
from .zookeeper import bench_zookeeper

#: The groups, in the order they run (``BENCH_GROUPS`` picks some of them).
GROUPS = ("cluster", "preview", "zookeeper", "zk-rollouts", "mysql", "statefulsets", "deploy", "setup")


@dataclass(frozen=True)
class Settings:
    """What the environment asks of this run, parsed once."""

    rounds: int
    groups: tuple[str, ...]
    apps: tuple[str, ...]

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """``BENCH_ROUNDS`` (a positive integer, default 3), ``BENCH_GROUPS`` and ``BENCH_APPS`` (comma-separated).

        ``BENCH_APPS`` picks the apps the deploy group deploys (default all three; fewer for a quick run).
        """
        raw = environ.get("BENCH_ROUNDS", str(DEFAULT_ROUNDS))
        if not raw.isdigit() or int(raw) < 1:
            raise SystemExit(f"BENCH_ROUNDS must be a positive integer, got {raw!r}")
        groups = tuple(g.strip() for g in environ.get("BENCH_GROUPS", ",".join(GROUPS)).split(",") if g.strip())
        unknown = sorted(set(groups) - set(GROUPS))
        if unknown:
            raise SystemExit(f"BENCH_GROUPS: unknown group(s) {', '.join(unknown)}; allowed: {', '.join(GROUPS)}")
        apps = tuple(a.strip() for a in environ.get("BENCH_APPS", ",".join(APPS)).split(",") if a.strip())
        if not apps or set(apps) - set(APPS):
            unknown = sorted(set(apps) - set(APPS))
            raise SystemExit(f"BENCH_APPS: unknown app(s) {', '.join(unknown) or '(none given)'}; "
                             f"allowed: {', '.join(APPS)}")
        return cls(rounds=int(raw), groups=groups, apps=apps)


#: Rounds of each side in the deploy group, and samples elsewhere, unless ``BENCH_ROUNDS`` says otherwise.
DEFAULT_ROUNDS = 3


def out_dir() -> Path:
    """A folder of this run's files under the local cluster's state dir (outside the repository)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = paths.state_root() / "bench" / stamp
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def stack_groups(report: Report, kube: Kube, wanted: set[str], rounds: int) -> str:
    """The groups on the deployed ``local`` stack and the StatefulSet mechanics; returns the cluster domain."""
    outputs: dict[str, Any] = {}
    report.run("stack outputs", 30, lambda: outputs.update(stack_outputs()))
    if "preview" in wanted:
        report.run("pulumi", 120, functools.partial(bench_preview, report))
    domain = str(outputs.get("cluster_domain", "cluster.local"))
    zookeeper, mysql = outputs.get("zookeeper"), outputs.get("mysql")
    if "zookeeper" in wanted:
        if zookeeper:
            report.run("zookeeper", 90, functools.partial(bench_zookeeper, report, kube, zookeeper, domain),
                       attempts=2)
        else:
            report.fail("zookeeper", f"stack {STACK} exports no zookeeper output")
    if "mysql" in wanted:
        if mysql:
            report.run("mysql", 90, functools.partial(bench_mysql, report, kube, mysql, domain), attempts=2)
        else:
            report.fail("mysql", f"stack {STACK} exports no mysql output")

    if "statefulsets" in wanted:
        namespace = f"bench-{uuid.uuid4().hex[:8]}"

        def teardown() -> None:
            seconds = delete_namespace(kube, namespace, timeout=120.0)
            report.add("sts: namespace deleted, with its volumes", [seconds], goal=60.0)

        try:
            report.run(f"statefulsets in {namespace}", 180,
                       functools.partial(bench_statefulsets, report, kube, namespace, domain, rounds))
        finally:
            report.run(f"delete namespace {namespace}", 150, teardown)
    return domain


def main() -> int:
    """Run the groups, print the table and the goals, write the JSON; 1 if a measurement failed, else 0."""
    settings = Settings.from_env(os.environ)
    env.apply()
    logging.getLogger("kazoo").setLevel(logging.CRITICAL)  # its reconnect chatter; failures raise anyway
    report = Report()
    folder = out_dir()
    report.log(f"rounds {settings.rounds}, groups {', '.join(settings.groups)}, apps {', '.join(settings.apps)}; "
               f"files in {folder}")
    if not under_cluster_resolver():
        report.log("WARNING: not run through localcluster.incluster: cluster DNS names will not resolve")
    kube = connect_kube()
    wanted = set(settings.groups)

    if "cluster" in wanted:
        report.run("cluster", 120, functools.partial(bench_cluster, report, kube))

    domain = stack_groups(report, kube, wanted, settings.rounds)

    if "zk-rollouts" in wanted:
        install.ensure()
        rollouts = max(zk_rollouts.ROLLOUTS, settings.rounds)
        report.run(f"zookeeper: {rollouts} rolling updates under a writer", 120 + 60 * rollouts,
                   functools.partial(zk_rollouts.measure, report, kube, rollouts, folder))

    deploy_s: float | None = None
    if "deploy" in wanted:
        install.ensure()  # the policy pack's virtualenv, which every `pulumi up` here runs
        bench = DeployBench(report=report, kube=kube, run_id=uuid.uuid4().hex[:6], out_dir=folder,
                            rounds=settings.rounds, domain=domain, apps=settings.apps)
        report.run("deploy from empty, ours vs the peer", 420 * settings.rounds + 1500, bench.run)
        if bench.ours_rounds:
            deploy_s = statistics.median(r.seconds for r in bench.ours_rounds)
    if "setup" in wanted:
        report.run("cold setup", 60, functools.partial(setup.measure, report, deploy_s))

    total = time.monotonic() - report.began
    json_path = folder / "bench.json"
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    report.write_json(json_path, date=date, rounds=settings.rounds, groups=list(settings.groups),
                      total_s=round(total, 1))
    print()
    print(f"{date}, rounds {settings.rounds}")
    print(report.table())
    print("\ngoals:")
    print("\n".join(f"  {line}" for line in report.goals()))
    print(f"\ntotal {total:.1f} s" + ("; some measurements FAILED" if report.failed else ""))
    print(f"JSON: {json_path}")
    png = report.data.get("files", {}).get("timeline_png")
    print(f"PNG:  {png}" if png else "PNG:  not written (the deploy group did not complete)")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
