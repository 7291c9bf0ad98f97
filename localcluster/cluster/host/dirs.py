"""Host-wide paths that kubelet, containerd and CNI write to despite their private directories.

``clean`` removes what the cluster left there: only its own entries, and directories only when
they are empty and were absent before the first ``up``.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

#: Directories a component may create outside the state directory.
HOST_DIRS = (
    Path("/run/containerd"),       # shim sockets: /run/containerd/s/<hash>
    Path("/var/lib/cni"),          # libcni result cache: /var/lib/cni/results/<network>-<id>-<if>
    Path("/var/log/containers"),   # kubelet's symlinks to container logs
    Path("/var/log/pods"),
    Path("/var/lib/kubelet"),
    Path("/var/run/kubernetes"),
    Path("/run/netns"),
    Path("/opt/containerd"),
    Path("/opt/cni"),
    Path("/etc/cni"),
    Path("/etc/kubernetes"),
    Path("/usr/libexec/kubernetes"),
)


def _listening_unix_paths() -> set[str]:
    """Paths of unix sockets some process still holds."""
    paths: set[str] = set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
            words = line.split()
            if len(words) >= 8 and words[7].startswith("/"):
                paths.add(words[7])
    return paths


def _remove_empty_tree(top: Path) -> None:
    """Remove ``top`` and its subdirectories when they hold no files."""
    if not top.is_dir() or top.is_symlink():
        return
    for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda w: len(w[0]), reverse=True):
        with contextlib.suppress(OSError):
            Path(dirpath).rmdir()


def _entries(directory: Path) -> list[Path]:
    return list(directory.iterdir()) if directory.is_dir() else []


def clean(state: Path, bridge_prefix: str, sandboxes: set[str], existed: dict[str, bool]) -> list[str]:
    """Remove the cluster's entries from the host paths; return what is left that is ours.

    ``sandboxes`` are the ids of the pod sandboxes the nodes had: libcni caches a result per
    network, sandbox and interface (``<network>-<sandbox id>-<ifname>``), also for the loopback
    network every containerd shares the name of.
    """
    live = _listening_unix_paths()
    # Dead shims' sockets, and kubelet's device-plugin socket (a fixed path, whatever --root-dir).
    for sock in _entries(Path("/run/containerd/s")) + _entries(Path("/var/lib/kubelet/device-plugins")):
        if sock.is_socket() and str(sock) not in live:
            sock.unlink(missing_ok=True)
    for entry in _entries(Path("/var/lib/cni/results")):
        if entry.name.startswith(bridge_prefix) or any(f"-{sid}-" in entry.name for sid in sandboxes):
            entry.unlink(missing_ok=True)
    state_real = os.path.realpath(state) + os.sep
    for link in _entries(Path("/var/log/containers")) + _entries(Path("/var/log/pods")):
        if link.is_symlink() and os.path.realpath(link).startswith(state_real):
            link.unlink(missing_ok=True)
    left: list[str] = []
    for directory in HOST_DIRS:
        if existed.get(str(directory), True) or not directory.exists():
            continue
        _remove_empty_tree(directory)
        if directory.exists():
            left.append(f"{directory} (not empty)")
    return left
