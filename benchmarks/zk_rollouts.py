"""ZooKeeper rolling updates under a writer, on a scratch stack of its own: N rollouts through ``pulumi up``.

Each rollout changes ``terminationGracePeriodSeconds`` by one second (a template change that alters no
behaviour) and runs ``pulumi up``, which restarts the followers first and the leader last. Meanwhile the
smoke tests' writer (``harness/zk.py``: kazoo through the client Service, the client settings the
README names) writes a znode every 0.1 s, and their quorum monitor asks every member for ``mntr`` four
times a second. Per rollout: the longest gap a client sees between acknowledged writes, the members' own
longest time without exactly one leader and a synced majority, and the number of elections (new leader
epochs). Goals: every gap <= 2 s, one election per rollout; split brains are counted too (goal 0).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from harness import zk
from harness.stack import App, outputs_of

from .kube import Kube, delete_namespace
from .report import Report, fmt
from .sides import Ours

#: Rollouts measured by default (issue: at least 5).
ROLLOUTS = 5
#: Goal for the longest write gap a client sees during one rollout.
GAP_GOAL_S = 2.0


def measure(report: Report, kube: Kube, rollouts: int, out_dir: Path) -> None:
    """Deploy ZooKeeper alone on a scratch stack, roll it ``rollouts`` times under a writer, tear it down."""
    log_file = (out_dir / "pulumi-zk-rollouts.log").open("a", encoding="utf-8")

    def log(line: str) -> None:
        log_file.write(line.rstrip("\n") + "\n")
        log_file.flush()

    ours = Ours(run_id=uuid.uuid4().hex[:6], log=log, apps=("zookeeper",))
    report.log(f"scratch stack {ours.scratch.name}; pulumi output in {log_file.name}")
    ours.create()
    try:
        ours.up()
        app = App.from_outputs(outputs_of(ours.stack), "zookeeper")
        port = int(app.ports["client"])
        root = f"/bench-rollout-{uuid.uuid4().hex[:8]}"
        gaps: list[float] = []
        outages: list[float] = []
        elections: list[int] = []
        splits = 0
        for number in range(1, rollouts + 1):
            grace = int(kube.apps.read_namespaced_stateful_set(app.statefulset, app.namespace, _request_timeout=10)
                        .spec.template.spec.termination_grace_period_seconds or 30)
            ours.scratch.set({ours.scratch.key("zookeeper"): {"terminationGracePeriodSeconds": grace + 1}})
            with zk.QuorumMonitor(app.pod_dns, port) as monitor, \
                    zk.Writer(zk.client_hosts(app), port, f"{root}/r{number}") as writer:
                writer.wait_for_writes(5, 30, "before the rollout")
                began = time.perf_counter()
                ours.up()
                seconds = time.perf_counter() - began
                writer.wait_for_writes(5, 30, "after the rollout")
            gap, _ = writer.longest_gap()
            outage, _ = monitor.longest_outage()
            gaps.append(gap)
            outages.append(outage)
            elections.append(monitor.elections())
            splits += len(monitor.split_brains())
            report.log(f"zk rollout {number}: pulumi up {seconds:.1f} s, write gap {gap:.2f} s, members without quorum "
                f"{outage:.2f} s, {elections[-1]} election(s)")
        per = "; per rollout "
        # The goals are for every rollout, so each row shows the worst one (the median is in the JSON's samples).
        report.add("zk rollout: longest write gap (client), worst", [max(gaps)], goal=GAP_GOAL_S,
                   detail=f"{rollouts} rollouts through pulumi up{per}" + ", ".join(fmt(g, "s") for g in gaps))
        report.add("zk rollout: members without one leader + majority, worst", [max(outages)], goal=GAP_GOAL_S,
                   detail=per.lstrip("; ") + ", ".join(fmt(o, "s") for o in outages))
        report.add("zk rollout: elections in one rollout, most", [float(max(elections))], goal=1.0, unit="n",
                   detail=per.lstrip("; ") + ", ".join(str(e) for e in elections))
        report.add("zk rollout: split-brain samples", [float(splits)], goal=0.0, unit="n",
                   detail="samples with more than one leader, all rollouts")
    finally:
        try:
            ours.remove()
            for namespace in ours.namespaces.values():
                delete_namespace(kube, namespace, timeout=180.0)
        finally:
            log_file.close()
