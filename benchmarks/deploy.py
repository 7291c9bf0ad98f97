"""Deploy from empty, ours against the peer's and the floor, in alternating rounds.

Each round deploys all three apps from nothing (namespaces, claims and volumes included) and takes
them down again: first ours (``pulumi up`` of the scratch stack, then ``pulumi destroy``), then the
peer's (``kubectl apply`` + ``rollout status``, then the namespaces deleted). A watch records every
pod's created / scheduled / started / Ready; the floor of a round is what the pods themselves needed
(``podwatch.floor_of``). In the last round each side, still deployed, also runs the unchanged-stack
and rolling-update measurements (``unchanged``, ``rollouts``) and, for ours, the failover drills
(``failover``) before it is taken down, so that only one copy of the apps runs at a time beside the
``local`` stack.
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import engine, failover, rollouts, unchanged
from .engine import EventClock
from .kube import Kube
from .podwatch import PodTimes, PodWatch, floor_of
from .report import Report, fmt
from .sides import Ours, Peer, statefulsets
from .timeline import Timeline


@dataclass
class Round:
    """One deploy from empty: when it started (wall clock), how long it took, what the pods needed."""

    side: str
    index: int
    start: float
    seconds: float
    floor: float
    floors: dict[str, float]
    pods: list[PodTimes]

    def figures(self) -> dict[str, Any]:
        """The round for the JSON, pod times relative to the start."""
        return {
            "side": self.side, "round": self.index, "seconds": round(self.seconds, 3),
            "floor_s": round(self.floor, 3),
            "floor_per_statefulset_s": {k: round(v, 3) for k, v in self.floors.items()},
            "pods": [{"namespace": p.namespace, "name": p.name, **p.relative(self.start)} for p in self.pods],
        }


def live_policies(kube: Kube, namespaces: Collection[str]) -> dict[tuple[str, str], str]:
    """(namespace, name) -> ``podManagementPolicy`` of the StatefulSets in ``namespaces``."""
    return {(str(sts.metadata.namespace), str(sts.metadata.name)): str(sts.spec.pod_management_policy)
            for ns in namespaces
            for sts in kube.apps.list_namespaced_stateful_set(ns, _request_timeout=10).items}


def measure_round(kube: Kube, side: str, index: int, namespaces: Collection[str], deploy: Callable[[], Any]) -> Round:
    """Deploy with ``deploy`` while watching the pods of ``namespaces``."""
    with PodWatch(kube, namespaces) as watch:
        start = time.time()
        began = time.perf_counter()
        deploy()
        seconds = time.perf_counter() - began
        time.sleep(0.3)  # the watch delivers the last Ready transitions (seen before rollout status returned)
    pods = [p for p in watch.snapshot(since=start) if p.owner]
    floor, floors = floor_of(pods, live_policies(kube, namespaces))
    return Round(side=side, index=index, start=start, seconds=seconds, floor=floor, floors=floors, pods=pods)


def describe(r: Round) -> str:
    """``round 2 ours 41.2 s, floor 30.1 s (mysql 30.1 s, ...)``."""
    floors = ", ".join(f"{k.split('/')[-1]} {fmt(v, 's')}" for k, v in sorted(r.floors.items()))
    return f"round {r.index} {r.side} {fmt(r.seconds, 's')}, floor {fmt(r.floor, 's')} ({floors})"


@dataclass
class DeployBench:
    """The deploy rounds and, on the last one, the unchanged, rollout and failover groups."""

    report: Report
    kube: Kube
    run_id: str
    out_dir: Path
    rounds: int
    domain: str
    apps: tuple[str, ...]
    ours_rounds: list[Round] = field(default_factory=list)
    peer_rounds: list[Round] = field(default_factory=list)
    clocks: list[EventClock] = field(default_factory=list)
    #: Ours' samples, for the ratios the peer's groups report.
    unchanged: dict[str, list[float]] = field(default_factory=dict)
    rolled: dict[str, tuple[float, float]] = field(default_factory=dict)

    def run(self) -> None:
        """Every round, always taking both sides down at the end."""
        log_file = (self.out_dir / "pulumi.log").open("a", encoding="utf-8")

        def log(line: str) -> None:
            log_file.write(line.rstrip("\n") + "\n")
            log_file.flush()

        ours = Ours(run_id=self.run_id, log=log, apps=self.apps)
        mark = len(self.report.results)
        peer: Peer | None = None
        self.report.log(f"scratch stack {ours.scratch.name} in {', '.join(ours.namespaces.values())}; "
                        f"pulumi output in {log_file.name}")
        try:
            ours.create()
            for index in range(1, self.rounds + 1):
                last = index == self.rounds
                clock = EventClock()
                r = measure_round(self.kube, "ours", index, ours.namespaces.values(), functools.partial(ours.up, clock))
                self.ours_rounds.append(r)
                self.clocks.append(clock)
                self.report.log(describe(r))
                if peer is None:
                    peer = Peer.of(ours, ours.objects(), self.out_dir / "peer-manifest.json")
                if last:
                    self._last_round_ours(ours)
                ours.destroy(self.kube)
                r = measure_round(self.kube, "peer", index, peer.namespaces.values(), peer.deploy)
                self.peer_rounds.append(r)
                self.report.log(describe(r))
                if last:
                    self._last_round_peer(peer)
                peer.delete(self.kube)
        finally:
            try:
                ours.remove()
            finally:
                if peer is not None:
                    peer.delete(self.kube)
                log_file.close()
        before = len(self.report.results)
        self._rows()
        # The deploy rows first, then those of the groups that ran on the last round.
        rows = self.report.results[before:]
        del self.report.results[before:]
        self.report.results[mark:mark] = rows

    def _last_round_ours(self, ours: Ours) -> None:
        real = statefulsets(ours.objects(), ours.namespaces)
        self.report.run("unchanged stack: ours", 300,
                        lambda: unchanged.measure_ours(self.report, ours, self.rounds, self.unchanged))
        self.report.run("rollouts: ours", 900,
                        lambda: rollouts.measure_ours(self.report, self.kube, ours, real, self.rolled))
        if {"zookeeper", "mysql"} - set(self.apps):
            self.report.log(f"failover drills skipped: they need zookeeper and mysql (apps: {', '.join(self.apps)})")
            return
        self.report.run("failover drills (scratch stack)", 600,
                        lambda: failover.measure(self.report, self.kube, ours, self.domain, self.rounds))

    def _last_round_peer(self, peer: Peer) -> None:
        self.report.run("unchanged stack: peer", 300,
                        lambda: unchanged.measure_peer(self.report, peer, self.rounds, self.unchanged))
        self.report.run("rollouts: peer", 900, lambda: rollouts.measure_peer(self.report, self.kube, peer, self.rolled))

    def _rows(self) -> None:
        ours, peer = self.ours_rounds, self.peer_rounds
        if not ours or not peer:
            raise RuntimeError("no complete round of both sides")
        pairs = list(zip(ours, peer, strict=False))
        self.report.add(f"deploy from empty: ours (pulumi up, {len(self.apps)} apps)", [r.seconds for r in ours],
                        goal=None, detail=f"floor median {fmt(statistics.median(r.floor for r in ours), 's')}")
        self.report.add("deploy from empty: peer (kubectl apply + rollout status)", [r.seconds for r in peer],
                        goal=None, detail=f"floor median {fmt(statistics.median(r.floor for r in peer), 's')}")
        self.report.add("deploy from empty: floor (pods' scheduled -> Ready)", [r.floor for r in ours + peer],
                        goal=None, detail="OrderedReady: sum over the pods, Parallel: the slowest; largest set")
        self.report.add("deploy: ours / peer", [o.seconds / p.seconds for o, p in pairs], goal=1.0, unit="x",
                        detail="per round pair; goal: never slower than the peer")
        self.report.add("deploy: ours / floor", [r.seconds / r.floor for r in ours], goal=1.2, unit="x",
                        detail="per round, against that round's own floor")
        self.report.add("deploy: peer / floor", [r.seconds / r.floor for r in peer], goal=None, unit="x")
        costs = engine.biggest_costs(self.clocks, [r.pods for r in ours])
        for rank, cost in enumerate(costs, start=1):
            self.report.add(f"pulumi up cost #{rank}: {cost.name}", [cost.seconds], goal=None,
                            detail="deploy from empty, median of the rounds; engine events and pod watch")
        fixed = [r.seconds - engine.wall_clock(c, r.pods)[engine.PODS] for c, r in zip(self.clocks, ours, strict=True)]
        self.report.add("pulumi up: everything but the pods", fixed, goal=None,
                        detail="engine, program, objects before the first pod, awaits after the last, exit")
        self.report.data["deploy"] = {
            "rounds": [r.figures() for r in ours + peer],
            "engine": [engine.breakdown(c, r.pods) for c, r in zip(self.clocks, ours, strict=True)],
            "biggest_costs_of_pulumi_up": [vars(c) for c in costs],
        }
        png = self.out_dir / "timeline.png"
        Timeline(ours=ours[0], peer=peer[0]).write(png)
        self.report.data["files"] = {**self.report.data.get("files", {}), "timeline_png": str(png)}
