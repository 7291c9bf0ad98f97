"""A rolling update of each app: ``pulumi up`` of a pod-template change vs ``kubectl rollout restart`` + status.

Ours changes ``terminationGracePeriodSeconds`` by one second in the scratch stack's settings (a template
change that alters no behaviour, as the smoke tests do) and runs ``pulumi up``; the peer runs
``kubectl rollout restart`` and ``kubectl rollout status``. Both replace every pod one at a time, so
the floor is the sum of the new pods' scheduled -> Ready (``podwatch.rollout_floor``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from . import engine
from .engine import EventClock
from .kube import Kube
from .podwatch import PodWatch, rollout_floor
from .report import Report, fmt
from .sides import Ours, Peer, StatefulSetRef


def rolled(kube: Kube, sts: StatefulSetRef, action: Callable[[], Any]) -> tuple[float, float, int]:
    """Run ``action`` while watching; return (seconds, floor, new pods)."""
    with PodWatch(kube, [sts.namespace]) as watch:
        start = time.time()
        began = time.perf_counter()
        action()
        seconds = time.perf_counter() - began
        time.sleep(0.3)
    new = [p for p in watch.snapshot(since=start) if p.owner == sts.name]
    if not new:
        raise RuntimeError(f"no new pod of {sts.namespace}/{sts.name} seen: nothing rolled")
    return seconds, rollout_floor(new), len(new)


def grace_period(kube: Kube, sts: StatefulSetRef) -> int:
    """The live StatefulSet's ``terminationGracePeriodSeconds``."""
    live = kube.apps.read_namespaced_stateful_set(sts.name, sts.namespace, _request_timeout=10)
    return int(live.spec.template.spec.termination_grace_period_seconds or 30)


def measure_ours(
    report: Report, kube: Kube, ours: Ours, sets: list[StatefulSetRef], store: dict[str, tuple[float, float]]
) -> None:
    """One rolling update per app through ``pulumi up``."""
    breakdowns: dict[str, Any] = {}
    for sts in sets:
        ours.scratch.set({ours.scratch.key(sts.app): {"terminationGracePeriodSeconds": grace_period(kube, sts) + 1}})
        clock = EventClock()
        seconds, floor, pods = rolled(kube, sts, lambda c=clock: ours.up(c))  # type: ignore[misc]
        breakdowns[sts.app] = engine.breakdown(clock)
        store[sts.app] = (seconds, floor)
        report.add(f"rollout {sts.app}: ours (pulumi up)", [seconds], goal=None,
                   detail=f"{pods} pods, floor {fmt(floor, 's')}")
        report.add(f"rollout {sts.app}: ours / floor", [seconds / floor], goal=1.2, unit="x")
    report.data["rollout_engine"] = breakdowns


def measure_peer(report: Report, kube: Kube, peer: Peer, store: Mapping[str, tuple[float, float]]) -> None:
    """One ``kubectl rollout restart`` + status per app; with the ratios of ours against it."""
    for sts in peer.sets:
        seconds, floor, pods = rolled(kube, sts, lambda s=sts: peer.restart(s))  # type: ignore[misc]
        report.add(f"rollout {sts.app}: peer (rollout restart + status)", [seconds], goal=None,
                   detail=f"{pods} pods, floor {fmt(floor, 's')}")
        report.add(f"rollout {sts.app}: peer / floor", [seconds / floor], goal=None, unit="x")
        if sts.app in store:
            report.add(f"rollout {sts.app}: ours / peer", [store[sts.app][0] / seconds], goal=1.0, unit="x")
