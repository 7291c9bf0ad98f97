"""A chart of one deploy from empty per side: each pod's created -> scheduled -> started -> Ready, side by side."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

#: Colours of the three stretches of a pod's timeline.
STRETCHES = (("created", "scheduled", "#bbbbbb", "waiting to be scheduled"),
             ("scheduled", "started", "#6a9fd4", "volume, image, container start"),
             ("started", "ready", "#e3a33b", "started -> Ready (probes)"))


class DeployRound(Protocol):
    """What the chart needs of a round (``deploy.Round``)."""

    side: str
    index: int
    start: float
    seconds: float
    floor: float
    pods: Any


@dataclass(frozen=True)
class Timeline:
    """Ours beside the peer's, on the same time axis."""

    ours: DeployRound
    peer: DeployRound

    def write(self, path: Path) -> None:
        """Write the PNG."""
        import matplotlib  # noqa: PLC0415 (only this group needs it; imported late and headless)

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
        from matplotlib.artist import Artist  # noqa: PLC0415
        from matplotlib.lines import Line2D  # noqa: PLC0415
        from matplotlib.patches import Rectangle  # noqa: PLC0415

        rounds = (self.ours, self.peer)
        rows = max(len(r.pods) for r in rounds)
        end = max(r.seconds for r in rounds) * 1.05
        fig, axes = plt.subplots(1, 2, figsize=(14, 1.2 + 0.45 * rows), sharex=True)
        for ax, r in zip(axes, rounds, strict=True):
            pods = sorted(r.pods, key=lambda p: (p.namespace, p.name))
            for y, pod in enumerate(pods):
                for begin, finish, colour, _ in STRETCHES:
                    a, b = getattr(pod, begin), getattr(pod, finish)
                    if a is not None and b is not None:
                        ax.barh(y, b - a, left=a - r.start, color=colour, height=0.6)
            ax.axvline(r.seconds, color="#c0392b", linestyle="--", linewidth=1)
            first = min((p.created for p in pods if p.created is not None), default=r.start) - r.start
            ax.axvline(first + r.floor, color="#27ae60", linestyle=":", linewidth=1)
            ax.set_yticks(range(len(pods)), [f"{p.namespace.split('-', 1)[-1]}/{p.name}" for p in pods], fontsize=8)
            ax.invert_yaxis()
            ax.set_xlim(0, end)
            ax.set_xlabel("seconds since the deploy started")
            label = "ours: pulumi up" if r.side == "ours" else "peer: kubectl apply + rollout status"
            ax.set_title(f"{label} (round {r.index}): {r.seconds:.1f} s, floor {r.floor:.1f} s", fontsize=10)
        handles: list[Artist] = [Rectangle((0, 0), 1, 1, color=c) for _, _, c, _ in STRETCHES]
        handles += [Line2D([0], [0], color="#c0392b", linestyle="--"), Line2D([0], [0], color="#27ae60", linestyle=":")]
        names = [n for _, _, _, n in STRETCHES] + ["deploy returned", "floor, from the first pod created"]
        fig.legend(handles, names, loc="lower center", ncol=5, fontsize=8)
        fig.tight_layout(rect=(0, 0.08, 1, 1))
        fig.savefig(path, dpi=110)
        plt.close(fig)
