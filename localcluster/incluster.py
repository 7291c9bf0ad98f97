"""Run a command on this machine that sees the cluster's DNS names, as a pod would.

    python3 -m localcluster.incluster -- CMD [ARGS...]

The command runs in a new *mount* namespace (the network namespace stays the host's, so pod IPs
and ClusterIPs are reachable) in which the cluster's ``resolv.conf`` (nameserver CoreDNS,
``search svc.cluster.local cluster.local``, ``ndots:5``) is bind-mounted over /etc/resolv.conf.
So ``web-demo-0.nginx-demo.demo.svc.cluster.local`` resolves through the cluster DNS; names
outside the cluster still resolve (CoreDNS forwards them to the host's nameservers). Nothing on
the host changes: the mount vanishes with the command. Needs root.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from pathlib import Path

from localcluster import paths

CLONE_NEWNS = 0x00020000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MS_BIND = 4096
RESOLV_CONF = "/etc/resolv.conf"
HOST_MOUNT_NS_FD = "STATEFUL_HOST_MOUNT_NS_FD"


def resolv_conf() -> Path:
    """The cluster's resolv.conf for host processes (written by ``cluster up``)."""
    return paths.state_root() / "cluster" / "resolv.conf"


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def enter(conf: Path) -> None:
    """Give this process a private mount namespace with ``conf`` over /etc/resolv.conf."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    _check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
    _check(libc.mount(os.fsencode(conf), os.fsencode(RESOLV_CONF), None, MS_BIND, None),
           f"bind {conf} over {RESOLV_CONF}")


def main(argv: list[str] | None = None) -> None:
    """Parse ``-- CMD...`` and exec CMD inside the namespace."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "--":
        args = args[1:]
    if not args:
        sys.exit("usage: python3 -m localcluster.incluster -- CMD [ARGS...]")
    conf = resolv_conf()
    if not conf.exists():
        sys.exit(f"{conf} does not exist: start the cluster first (make cluster)")
    # Keep a handle on the host's mount namespace, so that the command can run cluster commands there
    # (`nsenter --mount=/proc/self/fd/$STATEFUL_HOST_MOUNT_NS_FD`, e.g. the node drills' stop and start).
    host_ns = os.open("/proc/self/ns/mnt", os.O_RDONLY)
    os.set_inheritable(host_ns, True)
    os.environ[HOST_MOUNT_NS_FD] = str(host_ns)
    try:
        enter(conf)
    except OSError as err:
        sys.exit(f"cannot enter a mount namespace ({err}); this needs root")
    try:
        os.execvp(args[0], args)
    except OSError as err:
        sys.exit(f"cannot run {args[0]}: {err.strerror}")


if __name__ == "__main__":
    main()
