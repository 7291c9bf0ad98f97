"""The mount table, and unmounting everything below a directory (deepest first)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import time
from dataclasses import dataclass
from pathlib import Path

MNT_DETACH = 2


@dataclass(frozen=True)
class Mount:
    """One line of /proc/self/mountinfo: where, what type, from which source."""

    target: Path
    fstype: str
    source: str


def _unescape(field: str) -> str:
    r"""Undo the octal escapes of /proc/self/mountinfo (``\040`` is a space)."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit() and len(field[i + 1:i + 4]) == 3:
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def table() -> list[Mount]:
    """Every mount of this mount namespace, in mount order."""
    found: list[Mount] = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        rest = right.split()
        found.append(Mount(Path(_unescape(left.split()[4])), rest[0] if rest else "",
                           _unescape(rest[1]) if len(rest) > 1 else ""))
    return found


def under(root: Path) -> list[Path]:
    """Mount points at or below ``root``, the most recently mounted first."""
    root = Path(os.path.realpath(root))
    hits = [m.target for m in table() if m.target == root or root in m.target.parents]
    return list(reversed(hits))


def _umount2(path: Path) -> int:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if libc.umount2(os.fsencode(path), MNT_DETACH) != 0:
        return ctypes.get_errno()
    return 0


def unmount_under(root: Path, *, timeout: float = 20.0) -> list[Path]:
    """Detach every mount at or below ``root``, deepest first; return mounts still present."""
    deadline = time.monotonic() + timeout
    while True:
        left = under(root)
        if not left or time.monotonic() >= deadline:
            return left
        for target in sorted(left, key=lambda p: len(p.parts), reverse=True):
            _umount2(target)
