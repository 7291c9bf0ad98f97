"""Processes of the local cluster's containers as this machine sees them (the tests run as root beside the nodes).

A container's processes are ordinary processes here, in a cgroup that names their pod's UID. A signal
sent from here reaches a container's PID 1 even where the container's own ``kill`` cannot (the kernel
drops SIGSTOP sent to a namespace's init from inside it).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

PROC = Path("/proc")


def pids_of(pod_uid: str, command: str) -> list[int]:
    """The processes named ``command`` (their ``comm``) running in the pod with UID ``pod_uid``."""
    wanted = {pod_uid, pod_uid.replace("-", "_")}  # cgroupfs and systemd spell the UID differently
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != command:
                continue
            cgroups = (entry / "cgroup").read_text()
        except OSError:  # the process ended meanwhile
            continue
        if any(uid in cgroups for uid in wanted):
            found.append(int(entry.name))
    return found


@contextmanager
def frozen(pid: int) -> Iterator[None]:
    """Stop ``pid`` (SIGSTOP: it reads and answers nothing, its sockets stay open) until the block ends."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
