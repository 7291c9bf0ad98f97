"""Where the time of ``pulumi up`` goes, from the engine's own events (Automation API ``on_event``).

The engine's event timestamps have a resolution of one second, so each event is stamped with the
wall clock when it arrives (the Automation API tails the event log every 0.1 s). The wall-clock
segments of an update do not overlap:

- engine start: from the call to the prelude event (CLI, backend, plugins, the policy pack's host);
- program start: prelude -> the stack resource registered (language host, Python imports);
- program until the first resource: the program reading its config and checking the live StatefulSets;
- graph: first resource -> the last resource's outputs; within it, each resource's step (create or
  update, including the provider's await) runs in parallel with the others: the longest are named;
- finish: last resource -> summary (stack outputs, stack-wide policies, the snapshot);
- exit: summary -> the call returns.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pulumi import automation as auto

from .podwatch import PodTimes


@dataclass
class EventClock:
    """An ``on_event`` callback that remembers when each event of interest arrived."""

    began: float = field(default_factory=time.time)
    prelude: float | None = None
    summary: float | None = None
    returned: float | None = None
    pre: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, float] = field(default_factory=dict)
    ops: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, event: auto.EngineEvent) -> None:
        """Record ``event``'s arrival."""
        now = time.time()
        with self._lock:
            if event.prelude_event is not None and self.prelude is None:
                self.prelude = now
            elif event.summary_event is not None:
                self.summary = now
            elif event.resource_pre_event is not None:
                meta = event.resource_pre_event.metadata
                self.pre.setdefault(meta.urn, now)
                self.ops[meta.urn] = str(getattr(meta.op, "value", meta.op))
            elif event.res_outputs_event is not None:
                self.outputs[event.res_outputs_event.metadata.urn] = now

    def done(self) -> None:
        """Mark the moment the Automation API call returned."""
        self.returned = time.time()

    def steps(self) -> dict[str, float]:
        """Seconds of each resource's step (pre -> outputs), by ``type::name``; the stack itself excluded."""
        steps: dict[str, float] = {}
        for urn, began in self.pre.items():
            kind = urn.split("::")[-2].rsplit("$", 1)[-1]
            if kind == "pulumi:pulumi:Stack" or urn not in self.outputs:
                continue
            steps[f"{short_type(kind)} {urn.rsplit('::', 1)[-1]}"] = self.outputs[urn] - began
        return steps

    def segments(self) -> dict[str, float]:
        """The non-overlapping wall-clock segments of the update (see the module docstring)."""
        if self.prelude is None or self.summary is None or self.returned is None or not self.pre:
            raise ValueError("the update's events are incomplete (no prelude, resource or summary event)")
        stack = next((t for urn, t in self.pre.items() if urn.split("::")[-2].endswith("pulumi:pulumi:Stack")), None)
        others = [t for urn, t in self.pre.items() if not urn.split("::")[-2].endswith("pulumi:pulumi:Stack")]
        registered = stack if stack is not None else min(self.pre.values())
        first = min(others, default=registered)
        last = max((t for urn, t in self.outputs.items() if not urn.split("::")[-2].endswith("pulumi:pulumi:Stack")),
                   default=first)
        return {
            "engine start (CLI, backend, plugins)": self.prelude - self.began,
            "program start (language host, Python imports)": registered - self.prelude,
            "program until the first resource (config, live checks)": first - registered,
            "graph (resource steps, awaits)": last - first,
            "finish (outputs, stack policies, snapshot)": self.summary - last,
            "exit": self.returned - self.summary,
        }


def short_type(token: str) -> str:
    """``kubernetes:apps/v1:StatefulSet`` -> ``StatefulSet``; a dynamic resource keeps its name."""
    return token.rsplit(":", 1)[-1]


#: The piece of a deploy that the pods themselves take (the floor, and the gaps OrderedReady leaves).
PODS = "awaits on the pods: first created -> last Ready"


@dataclass(frozen=True)
class Cost:
    """One named share of ``pulumi up``'s wall clock (median over the rounds)."""

    name: str
    seconds: float


def wall_clock(clock: EventClock, pods: Sequence[PodTimes]) -> dict[str, float]:
    """A deploy's wall clock cut at the engine's events and the pods' first creation and last Ready.

    The pieces do not overlap and add up to the whole call; the pods' piece is what the floor measures
    (plus what OrderedReady adds between one pod Ready and the next created).
    """
    segments = clock.segments()
    if not pods:
        return segments
    timed = [p for p in pods if p.created is not None and p.ready is not None]
    first_pod = min(p.created for p in timed if p.created is not None)
    last_ready = max(p.ready for p in timed if p.ready is not None)
    before = segments["engine start (CLI, backend, plugins)"] + segments[
        "program start (language host, Python imports)"] + segments[
        "program until the first resource (config, live checks)"]
    first = clock.began + before
    last = first + segments["graph (resource steps, awaits)"]
    cut = {k: v for k, v in segments.items() if not k.startswith("graph")}
    cut["resources before the first pod (namespaces, config, Services, the StatefulSet objects)"] = first_pod - first
    cut[PODS] = last_ready - first_pod
    cut["awaits: last pod Ready -> last resource done"] = last - last_ready
    return cut


def biggest_costs(clocks: Sequence[EventClock], pods: Sequence[Sequence[PodTimes]], top: int = 3) -> list[Cost]:
    """The ``top`` largest pieces of ``wall_clock``, medians over the rounds (``pods`` per round)."""
    pieces: dict[str, list[float]] = {}
    for clock, round_pods in zip(clocks, pods, strict=True):
        for name, seconds in wall_clock(clock, round_pods).items():
            pieces.setdefault(name, []).append(seconds)
    costs = [Cost(name, statistics.median(samples)) for name, samples in pieces.items()]
    return sorted(costs, key=lambda c: c.seconds, reverse=True)[:top]


def breakdown(clock: EventClock, pods: Sequence[PodTimes] = ()) -> dict[str, Any]:
    """One update's segments (cut at the pods when given) and steps, for the JSON."""
    return {
        "segments_s": {k: round(v, 3) for k, v in wall_clock(clock, pods).items()},
        "steps_s": {k: round(v, 3) for k, v in sorted(clock.steps().items(), key=lambda kv: -kv[1])},
    }
