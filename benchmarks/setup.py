"""Cold setup, read back from the logs a fresh machine's ``make up`` left: each toolchain component, each image.

Nothing is rebuilt. A build's log is created when the build starts (the old one is removed first) and
the build's ``.complete`` marker is written when it ends; an image's log is written when its build
starts and its archive when it ends (an image log that is older than its archive by more than the
build could take, because it was appended to by a later build, falls back to the seconds mmdebstrap
itself reports). Creation (birth) times come from ``stat``; a file system without them leaves the
component out and says so. The first start of the cluster runs from its first log to the kubelets'.
The total (toolchain + images built one after the other, the cluster, and the deploy measured by this
run) is set against CI's 90-minute limit; images are really built alongside the toolchain, so the
total is an upper bound.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from localcluster import paths
from localcluster.images.builder import archive_path
from localcluster.images.catalog import RECIPES
from localcluster.toolchain.components import COMPONENTS

from .report import Report, fmt

#: CI's job limit.
CI_LIMIT_S = 90 * 60
MMDEBSTRAP_DONE = re.compile(r"^I: success in ([\d.]+) seconds$", re.MULTILINE)


def born(path: Path) -> float | None:
    """The file's creation time (``stat %W``), or None if unknown."""
    try:
        out = subprocess.run(["stat", "-c", "%W", str(path)], capture_output=True, text=True, check=True,
                             timeout=10).stdout.strip()
    except (subprocess.CalledProcessError, OSError):
        return None
    value = float(out or 0)
    return value if value > 0 else None


@dataclass(frozen=True)
class Built:
    """One component's or image's build time, from its files."""

    name: str
    seconds: float | None
    how: str


def component_builds() -> list[Built]:
    """Each toolchain component: its log's creation -> its ``.complete`` marker."""
    builds: list[Built] = []
    logs = paths.cache_root() / "logs"
    apt = logs / "apt.log"
    if apt.exists() and (start := born(apt)) is not None:
        builds.append(Built("apt packages", apt.stat().st_mtime - start, "apt.log"))
    for c in COMPONENTS:
        log, done = logs / f"{c.key}.log", c.home() / ".complete"
        start = born(log) if log.exists() else None
        if start is None or not done.exists():
            builds.append(Built(f"build {c.name}", None, f"no log or marker for {c.key}"))
            continue
        builds.append(Built(f"build {c.name}", done.stat().st_mtime - start, f"{log.name} -> .complete"))
    return builds


def image_builds() -> list[Built]:
    """Each image: its log's creation -> its archive."""
    builds: list[Built] = []
    for recipe in RECIPES:
        log, archive = paths.cache_root() / "logs" / f"image-{recipe.short}.log", archive_path(recipe)
        start = born(log) if log.exists() else None
        if start is None or not archive.exists():
            builds.append(Built(f"image {recipe.short}", None, "no log or archive"))
            continue
        seconds = archive.stat().st_mtime - start
        reported = [float(s) for s in MMDEBSTRAP_DONE.findall(log.read_text(encoding="utf-8", errors="replace"))]
        if (seconds < 0 or seconds > 1800) and reported:
            builds.append(Built(f"image {recipe.short}", reported[-1], "mmdebstrap's own figure"))
        else:
            builds.append(Built(f"image {recipe.short}", max(seconds, 0.0), f"{log.name} -> archive"))
    return builds


def cluster_first_start() -> float | None:
    """Seconds from the cluster's first log to the last kubelet's log being created (first ``cluster up``)."""
    logs = sorted((paths.state_root() / "cluster" / "logs").glob("*.log"))
    births = {log.name: born(log) for log in logs}
    known = [b for b in births.values() if b is not None]
    kubelets = [b for name, b in births.items() if name.startswith("kubelet-") and b is not None]
    if not known or not kubelets:
        return None
    return max(kubelets) - min(known)


def measure(report: Report, deploy_s: float | None) -> None:
    """The cold-setup rows: one per component and image, the cluster, and the total against CI's limit."""
    parts = component_builds() + image_builds()
    total = 0.0
    for part in parts:
        if part.seconds is None:
            report.log(f"setup: {part.name}: not measured ({part.how})")
            continue
        total += part.seconds
        report.add(f"setup: {part.name}", [part.seconds], goal=None, detail=part.how)
    cluster = cluster_first_start()
    if cluster is not None:
        total += cluster
        report.add("setup: cluster first start (to the kubelets)", [cluster], goal=None, detail="cluster logs")
    if deploy_s is not None:
        total += deploy_s
    report.add("setup: cold total (toolchain + images + cluster + deploy)", [total], goal=CI_LIMIT_S,
               detail=f"against CI's {CI_LIMIT_S // 60}-minute limit; images counted one after the other"
                      + (f"; deploy {fmt(deploy_s, 's')} from this run" if deploy_s is not None else ""))
    report.data["setup"] = {"parts": [vars(p) for p in parts], "cluster_first_start_s": cluster, "total_s": total}
