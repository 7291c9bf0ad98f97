"""DNS: the cluster's resolver when run through ``localcluster.incluster``, and the host's for commands that need it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import dns.exception
import dns.resolver

from localcluster import incluster


def under_cluster_resolver() -> bool:
    """Whether /etc/resolv.conf is the cluster's, bind-mounted there by ``localcluster.incluster``."""
    mounted = any(len(fields) > 4 and fields[4] == incluster.RESOLV_CONF
                  for fields in (line.split() for line in Path("/proc/self/mountinfo").read_text().splitlines()))
    try:
        return mounted and Path(incluster.RESOLV_CONF).read_bytes() == incluster.resolv_conf().read_bytes()
    except OSError:
        return False


def with_host_resolver(argv: Sequence[str]) -> list[str]:
    """``argv`` run with the host's /etc/resolv.conf: in a mount namespace of its own without incluster's mount."""
    if not under_cluster_resolver():
        return list(argv)
    # "$0" is the mount point, "$@" the command; the unmount only affects the new namespace.
    return ["unshare", "--mount", "--propagation", "private", "--",
            "sh", "-c", 'umount "$0" && exec "$@"', incluster.RESOLV_CONF, *argv]


def resolve_a(resolver: dns.resolver.Resolver, name: str) -> set[str]:
    """The A records of ``name`` now (empty if it does not resolve)."""
    try:
        answer = resolver.resolve(name, "A", lifetime=1.0, search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.NoNameservers, dns.exception.Timeout):
        return set()
    return {rdata.to_text() for rdata in answer}

