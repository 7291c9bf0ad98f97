"""Per-node cgroups in every mounted hierarchy (cgroup v1, hybrid, or v2).

Node N owns ``/stateful/node-N`` in each hierarchy: kubelet puts pods under ``kubepods`` there
(its ``cgroupRoot``), and containerd, kubelet and the containerd shims run in ``system``. ``down``
finds every process of a node in these cgroups, never by name.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from localcluster.cluster.host import mounts


def hierarchies() -> list[Path]:
    """Mount points of every cgroup hierarchy (v1 controllers, named v1, and cgroup2)."""
    return [m.target for m in mounts.table() if m.fstype in ("cgroup", "cgroup2")]


def _copy_cpuset(path: Path) -> None:
    """A new v1 cpuset cgroup starts with no CPUs or memory nodes: copy them from the parent."""
    for knob in ("cpuset.cpus", "cpuset.mems"):
        mine, parents = path / knob, path.parent / knob
        if mine.exists() and not mine.read_text().strip():
            mine.write_text(parents.read_text().strip() or "0")


def ensure(cgroup: str) -> list[Path]:
    """Create ``cgroup`` (e.g. ``/stateful/node-1/system``) in every hierarchy; return its dirs."""
    dirs: list[Path] = []
    parts = [p for p in cgroup.split("/") if p]
    for root in hierarchies():
        path = root
        for part in parts:
            path = path / part
            if not path.is_dir():
                path.mkdir()
            _copy_cpuset(path)
        dirs.append(path)
    return dirs


def procs_files(cgroup: str) -> list[Path]:
    """``cgroup.procs`` of ``cgroup`` in every hierarchy (creating the cgroup if needed)."""
    return [d / "cgroup.procs" for d in ensure(cgroup)]


def pids_under(cgroup: str) -> set[int]:
    """Every process in ``cgroup`` or below it, in any hierarchy."""
    pids: set[int] = set()
    rel = cgroup.strip("/")
    for root in hierarchies():
        top = root / rel
        if not top.is_dir():
            continue
        for dirpath, _dirs, files in os.walk(top):
            if "cgroup.procs" in files:
                with contextlib.suppress(OSError):
                    text = (Path(dirpath) / "cgroup.procs").read_text()
                    pids.update(int(p) for p in text.split())
    return pids


def remove(cgroup: str, *, timeout: float = 10.0) -> list[str]:
    """Remove ``cgroup`` and everything below it (deepest first); return what could not be removed."""
    rel = cgroup.strip("/")
    left: list[str] = []
    for root in hierarchies():
        top = root / rel
        if not top.is_dir():
            continue
        dirs = sorted((Path(d) for d, _s, _f in os.walk(top)), key=lambda p: len(p.parts), reverse=True)
        for path in dirs:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as err:  # EBUSY while the kernel finishes tearing processes down
                    if time.monotonic() >= deadline:
                        left.append(f"{path}: {err.strerror}")
                        break
                    time.sleep(0.1)
    return left


def remove_if_empty(cgroup: str) -> None:
    """Remove ``cgroup`` in every hierarchy where it has no children left."""
    rel = cgroup.strip("/")
    for root in hierarchies():
        with contextlib.suppress(OSError):
            (root / rel).rmdir()
