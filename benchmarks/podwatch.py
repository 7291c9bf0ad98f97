"""Every pod's timeline in a set of namespaces, as seen by a watch: created, scheduled, started, Ready.

The API's own condition timestamps have a resolution of one second, which is too coarse for a floor
made of sums of a few seconds each; a watch started before the deploy sees each transition within
milliseconds of the API server recording it. The floor of a StatefulSet follows from its pods:
OrderedReady starts one pod after the previous one is Ready, so its floor is the sum of each pod's
scheduled -> Ready; Parallel starts them all at once, so its floor is the slowest pod's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from kubernetes import watch

from .kube import Kube

#: The four moments of a pod's timeline, in order.
STAGES = ("created", "scheduled", "started", "ready")


@dataclass
class PodTimes:
    """Wall-clock seconds (``time.time()``) at which a pod was first seen in each stage."""

    namespace: str
    name: str
    uid: str
    owner: str
    api_created: float = 0.0
    created: float | None = None
    scheduled: float | None = None
    started: float | None = None
    ready: float | None = None

    @property
    def complete(self) -> bool:
        """Whether every stage was seen."""
        return None not in (self.created, self.scheduled, self.started, self.ready)

    @property
    def scheduled_to_ready(self) -> float:
        """Seconds from scheduled to Ready (what the pod itself needs: volume, start, probes)."""
        if self.scheduled is None or self.ready is None:
            raise ValueError(f"{self.namespace}/{self.name} was not seen scheduled and Ready")
        return self.ready - self.scheduled

    def relative(self, origin: float) -> dict[str, float | None]:
        """The stages in seconds since ``origin``."""
        return {stage: (None if (t := getattr(self, stage)) is None else round(t - origin, 3)) for stage in STAGES}


def _new_watch() -> Any:
    make: Any = watch.Watch  # untyped in the client
    return make()


def _condition(pod: Any, kind: str) -> bool:
    return any(c.type == kind and c.status == "True" for c in pod.status.conditions or ())


def _running(pod: Any) -> bool:
    statuses = pod.status.container_statuses or ()
    return bool(statuses) and all(s.state is not None and s.state.running is not None for s in statuses)


def _owner(pod: Any) -> str:
    owners = pod.metadata.owner_references or ()
    return next((str(o.name) for o in owners if o.kind == "StatefulSet"), "")


class PodWatch:
    """Watches the pods of ``namespaces`` from ``__enter__`` to ``__exit__`` (in a thread)."""

    def __init__(self, kube: Kube, namespaces: Collection[str]) -> None:
        """Watch pods in ``namespaces`` (they need not exist yet)."""
        self.kube = kube
        self.namespaces = set(namespaces)
        self.pods: dict[str, PodTimes] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pod-watch", daemon=True)
        self.error: str | None = None

    def __enter__(self) -> PodWatch:
        """Start watching."""
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        """Stop watching (within the watch's short server timeout)."""
        self._stop.set()
        self._thread.join(timeout=15)

    def _run(self) -> None:
        while not self._stop.is_set():
            w = _new_watch()
            try:
                for event in w.stream(self.kube.core.list_pod_for_all_namespaces, timeout_seconds=2,
                                      _request_timeout=10):
                    self._see(event["object"], time.time())
                    if self._stop.is_set():
                        w.stop()
            except Exception as err:  # a dropped watch is re-opened; the error is kept for the report
                self.error = f"{type(err).__name__}: {err}"
                self._stop.wait(0.2)

    def _see(self, pod: Any, now: float) -> None:
        if pod.metadata.namespace not in self.namespaces:
            return
        uid = str(pod.metadata.uid)
        with self._lock:
            seen = self.pods.get(uid)
            if seen is None:
                stamp = pod.metadata.creation_timestamp
                seen = self.pods[uid] = PodTimes(namespace=str(pod.metadata.namespace), name=str(pod.metadata.name),
                                                 uid=uid, owner=_owner(pod), created=now,
                                                 api_created=stamp.timestamp() if stamp is not None else now)
            if seen.scheduled is None and _condition(pod, "PodScheduled"):
                seen.scheduled = now
            if seen.started is None and _running(pod):
                seen.started = now
            if seen.ready is None and _condition(pod, "Ready") and pod.metadata.deletion_timestamp is None:
                seen.ready = now

    def snapshot(self, since: float = 0.0) -> list[PodTimes]:
        """Copies of the pods the API created at or after ``since`` (wall clock), by namespace and name.

        The API's creation stamp counts, not when the watch first saw a pod: the pods that already ran
        when the watch started are seen at once. The stamp has whole seconds, hence the rounding down.
        """
        with self._lock:
            pods = [PodTimes(**vars(p)) for p in self.pods.values() if p.api_created >= int(since)]
        return sorted(pods, key=lambda p: (p.namespace, p.name, p.created or 0.0))


def floor_of(pods: Iterable[PodTimes], policies: Mapping[tuple[str, str], str]) -> tuple[float, dict[str, float]]:
    """The floor of a deploy: per StatefulSet the sum (OrderedReady) or max (Parallel) of scheduled -> Ready.

    ``policies`` maps (namespace, StatefulSet) to its ``podManagementPolicy``. The StatefulSets start
    together, so the deploy's floor is the largest of theirs. Returns (floor, floor per StatefulSet).
    """
    per_set: dict[tuple[str, str], list[float]] = {}
    for pod in pods:
        key = (pod.namespace, pod.owner)
        if key in policies:
            per_set.setdefault(key, []).append(pod.scheduled_to_ready)
    floors = {f"{ns}/{name}": (sum(times) if policies[(ns, name)] == "OrderedReady" else max(times))
              for (ns, name), times in per_set.items()}
    missing = sorted(f"{ns}/{name}" for ns, name in policies if (ns, name) not in per_set)
    if missing:
        raise ValueError(f"no pods seen for {', '.join(missing)}")
    return max(floors.values()), floors


def rollout_floor(pods: Iterable[PodTimes]) -> float:
    """The floor of a rolling update (one pod at a time): the sum of the new pods' scheduled -> Ready."""
    return sum(pod.scheduled_to_ready for pod in pods)
