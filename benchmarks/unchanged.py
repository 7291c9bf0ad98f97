"""An unchanged stack: ``pulumi preview`` and ``pulumi up`` of the deployed scratch stack vs ``kubectl diff``.

Each is run ``rounds`` times (at least 3) on the deployed side; nothing changes, and each says so.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from pulumi import automation as auto

from . import engine
from .engine import EventClock
from .report import Report, fmt
from .sides import Ours, Peer


def changes(summary: Any) -> dict[str, int]:
    """The operations other than ``same`` in a change summary (keys arrive as plain strings)."""
    ops = {auto.OpType(op).value: n for op, n in (summary or {}).items()}
    return {op: n for op, n in ops.items() if op != auto.OpType.SAME.value and n}


def measure_ours(report: Report, ours: Ours, rounds: int, store: dict[str, list[float]]) -> None:
    """Preview and up of the unchanged scratch stack; the samples go to ``store`` for the ratios."""
    previews: list[float] = []
    ups: list[float] = []
    clocks: list[EventClock] = []
    changed: dict[str, int] = {}
    for _ in range(max(3, rounds)):
        began = time.perf_counter()
        result = ours.preview()
        previews.append(time.perf_counter() - began)
        changed.update(changes(result.change_summary))
    for _ in range(max(3, rounds)):
        clock = EventClock()
        began = time.perf_counter()
        up = ours.up(clock)
        ups.append(time.perf_counter() - began)
        clocks.append(clock)
        changed.update(changes(up.summary.resource_changes))
    note = "no-op" if not changed else f"NOT a no-op: {changed}"
    report.add("unchanged: pulumi preview (ours)", previews, goal=None, detail=note)
    report.add("unchanged: pulumi up (ours)", ups, goal=None, detail=note)
    report.data["unchanged_up_engine"] = [engine.breakdown(c) for c in clocks]
    store["preview"], store["up"] = previews, ups


def measure_peer(report: Report, peer: Peer, rounds: int, store: dict[str, list[float]]) -> None:
    """``kubectl diff`` of the peer's objects; with the ratios of ours against it."""
    diffs: list[float] = []
    differed = 0
    for _ in range(max(3, rounds)):
        began = time.perf_counter()
        differed += peer.diff()
        diffs.append(time.perf_counter() - began)
    report.add("unchanged: kubectl diff (peer)", diffs, goal=None,
               detail="no differences" if not differed else f"differences in {differed} runs")
    diff = statistics.median(diffs)
    for what in ("preview", "up"):
        if store.get(what):
            ours = statistics.median(store[what])
            report.add(f"unchanged: pulumi {what} / kubectl diff", [ours / diff], goal=None, unit="x",
                       detail=f"{fmt(ours, 's')} / {fmt(diff, 's')} (medians)")
