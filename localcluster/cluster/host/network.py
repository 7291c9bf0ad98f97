"""The cluster's host network: addresses, routes, guard rules, sysctls; and removing all of it.

What ``setup`` makes (and ``teardown`` removes):

- bridge ``stfl-host`` with no ports, carrying the host-side addresses (API server, node IPs,
  CoreDNS) as /32s;
- ``blackhole 10.244.0.0/16``: a pod address nobody has dies here (the nodes' bridge /24 routes
  are more specific and win);
- ``10.96.0.0/16 dev stfl-host``: Service addresses go to the port-less bridge, where a packet that
  kube-proxy did not DNAT is dropped (and rejected earlier by the guard). A *blackhole* route here
  would also stop the host's own connections to ClusterIPs: the route lookup of ``connect()``
  happens before the OUTPUT DNAT;
- iptables chains ``STFL-*``: nothing from outside reaches the cluster ranges (mangle PREROUTING),
  pods cannot send to addresses outside the cluster (FORWARD), and no Service traffic is sent
  anywhere but to the cluster range (OUTPUT, FORWARD);
- sysctls ``ip_forward`` and ``bridge-nf-call-iptables``. Their original values, and those of the
  sysctls kubelet and kube-proxy set, are recorded before the first ``up`` and restored by
  ``teardown``.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address
from pathlib import Path

from localcluster.cluster.spec import layout as lay
from localcluster.cluster.spec.layout import Layout

#: sysctls changed by us, by kubelet (protectKernelDefaults: false) or kube-proxy.
SYSCTLS = (
    "net/ipv4/ip_forward",
    "net/bridge/bridge-nf-call-iptables",
    "net/ipv4/conf/all/route_localnet",
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
    "net/netfilter/nf_conntrack_max",
    "net/netfilter/nf_conntrack_tcp_timeout_established",
    "net/netfilter/nf_conntrack_tcp_timeout_close_wait",
)
OUR_CHAIN_PREFIXES = ("STFL-", "KUBE-", "CNI-")
TABLES = ("raw", "mangle", "nat", "filter")
REJECT_NET = ["-j", "REJECT", "--reject-with", "icmp-net-unreachable"]


def _cmd(argv: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} failed: {proc.stderr.strip()}")
    return proc


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name


def read_sysctl(name: str) -> str | None:
    """Current value of a sysctl (``net/ipv4/ip_forward`` form), or None when absent."""
    try:
        return _sysctl_path(name).read_text().strip()
    except OSError:
        return None


def write_sysctl(name: str, value: str) -> None:
    """Set a sysctl if it differs."""
    if read_sysctl(name) != value:
        _sysctl_path(name).write_text(value + "\n")


def _chains(binary: str) -> dict[str, list[str]]:
    """Chains per table, as ``iptables-save`` shows them."""
    out: dict[str, list[str]] = {}
    proc = _cmd([f"{binary}-save"], check=False)
    table = ""
    for line in proc.stdout.splitlines():
        if line.startswith("*"):
            table = line[1:]
            out.setdefault(table, [])
        elif line.startswith(":"):
            out[table].append(line[1:].split()[0])
    return out


def record_host(layout: Layout, host_dirs: Iterable[Path]) -> dict[str, object]:
    """Record the host's state before the first ``up`` (kept until ``down`` restores it)."""
    if layout.host_record.exists():
        return dict(json.loads(layout.host_record.read_text()))
    record: dict[str, object] = {
        "sysctls": {name: read_sysctl(name) for name in SYSCTLS},
        "chains": {b: _chains(b) for b in ("iptables", "ip6tables")},
        "dirs": {str(d): d.exists() for d in host_dirs},
    }
    layout.host_record.parent.mkdir(parents=True, exist_ok=True)
    layout.host_record.write_text(json.dumps(record, indent=2) + "\n")
    return record


def load_record(layout: Layout) -> dict[str, object]:
    """The record ``record_host`` made (empty when there is none)."""
    if not layout.host_record.exists():
        return {}
    return dict(json.loads(layout.host_record.read_text()))


def _host_addresses(layout: Layout) -> list[IPv4Address]:
    return [lay.APISERVER_IP, lay.COREDNS_IP, *(n.ip for n in layout.nodes)]


def _link_exists(name: str) -> bool:
    return _cmd(["ip", "link", "show", "dev", name], check=False).returncode == 0


def _ipt(table: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return _cmd(["iptables", "-w", "-t", table, *args], check=check)


def _guard_rules() -> dict[tuple[str, str], list[list[str]]]:
    """Rules of each STFL chain, keyed by (table, built-in chain it is jumped from)."""
    cluster, services = str(lay.CLUSTER_CIDR), str(lay.SERVICE_CIDR)
    not_to_cluster = ["-m", "conntrack", "--ctorigdst", services, "!", "-d", cluster]
    return {
        ("mangle", "PREROUTING"): [
            ["-i", "lo", "-j", "RETURN"],
            ["-i", f"{lay.BRIDGE_PREFIX}+", "-j", "RETURN"],
            ["-d", cluster, "-j", "DROP"],
            ["-d", services, "-j", "DROP"],
        ],
        ("filter", "FORWARD"): [
            [*not_to_cluster, *REJECT_NET],
            ["-s", cluster, "!", "-d", cluster, "-j", "REJECT", "--reject-with", "icmp-net-prohibited"],
        ],
        ("filter", "OUTPUT"): [
            [*not_to_cluster, *REJECT_NET],
        ],
    }


def ensure_guard() -> None:
    """(Re)write the STFL chains and make their jumps the first rule of each built-in chain."""
    for (table, builtin), rules in _guard_rules().items():
        chain = f"STFL-{builtin}"
        if _ipt(table, "-S", chain, check=False).returncode != 0:
            _ipt(table, "-N", chain)
        # iptables lists matches in its own order: compare each rule as a sorted list of words.
        current = [sorted(shlex.split(c)) for c in _ipt(table, "-S", chain).stdout.splitlines()[1:]]
        if current != [sorted(["-A", chain, *r]) for r in rules]:
            _ipt(table, "-F", chain)
            for rule in rules:
                _ipt(table, "-A", chain, *rule)
        listing = _ipt(table, "-S", builtin).stdout.splitlines()
        jump = f"-A {builtin} -j {chain}"
        if len(listing) < 2 or listing[1] != jump or listing.count(jump) != 1:
            while _ipt(table, "-D", builtin, "-j", chain, check=False).returncode == 0:
                pass
            _ipt(table, "-I", builtin, "1", "-j", chain)


def setup(layout: Layout) -> None:
    """Create the host bridge, addresses, routes, guard chains; set forwarding sysctls."""
    write_sysctl("net/ipv4/ip_forward", "1")
    write_sysctl("net/bridge/bridge-nf-call-iptables", "1")
    if not _link_exists(lay.HOST_BRIDGE):
        _cmd(["ip", "link", "add", lay.HOST_BRIDGE, "type", "bridge"])
    _cmd(["ip", "link", "set", lay.HOST_BRIDGE, "up"])
    listing = _cmd(["ip", "-o", "-4", "addr", "show", "dev", lay.HOST_BRIDGE]).stdout
    have = {line.split()[3] for line in listing.splitlines()}
    wanted = {f"{address}/32" for address in _host_addresses(layout)}
    for cidr in sorted(wanted - have):
        _cmd(["ip", "addr", "add", cidr, "dev", lay.HOST_BRIDGE])
    for cidr in sorted(have - wanted):  # node IPs of nodes beyond a lowered NODES
        _cmd(["ip", "addr", "del", cidr, "dev", lay.HOST_BRIDGE])
    _cmd(["ip", "route", "replace", "unreachable", str(lay.CLUSTER_CIDR)])
    _cmd(["ip", "route", "replace", str(lay.SERVICE_CIDR), "dev", lay.HOST_BRIDGE])
    ensure_guard()


def remove_node_links(bridge: str) -> None:
    """Delete a node's bridge and any veth still attached to it."""
    if not _link_exists(bridge):
        return
    listing = _cmd(["ip", "-o", "link", "show", "master", bridge], check=False).stdout
    for line in listing.splitlines():
        name = line.split(":", 2)[1].strip().split("@")[0]
        _cmd(["ip", "link", "del", name], check=False)
    _cmd(["ip", "link", "del", bridge], check=False)


def _remove_chains(binary: str, keep: dict[str, list[str]]) -> None:
    """Remove our chains (STFL-, KUBE-, CNI-) that did not exist before, and every jump to them."""
    for table, chains in _chains(binary).items():
        ours = [c for c in chains if c.startswith(OUR_CHAIN_PREFIXES) and c not in keep.get(table, [])]
        if not ours:
            continue
        save = _cmd([f"{binary}-save", "-t", table], check=False).stdout
        for line in save.splitlines():
            if not line.startswith("-A "):
                continue
            words = shlex.split(line)
            target = next((words[i + 1] for i, w in enumerate(words[:-1]) if w in ("-j", "-g")), "")
            if target in ours and words[1] not in ours:
                _cmd([binary, "-w", "-t", table, "-D", *words[1:]], check=False)
        for chain in ours:
            _cmd([binary, "-w", "-t", table, "-F", chain], check=False)
        for chain in ours:
            _cmd([binary, "-w", "-t", table, "-X", chain], check=False)


def _remove_new_empty_tables(binary: str, before: dict[str, list[str]]) -> None:
    """Delete tables (e.g. ``mangle``) that appeared with the cluster and hold no rule any more.

    With the nf_tables backend a table stays after its last rule is gone; ``nft`` can remove it.
    Without ``nft`` the empty tables stay: they hold no rules and change nothing.
    """
    nft = shutil.which("nft")
    if nft is None:
        return
    family = "ip" if binary == "iptables" else "ip6"
    for table in _chains(binary):
        if table in before:
            continue
        rules = _cmd([f"{binary}-save", "-t", table], check=False).stdout
        if not any(line.startswith("-A ") for line in rules.splitlines()):
            _cmd([nft, "delete", "table", family, table], check=False)


def teardown(layout: Layout, node_bridges: Iterable[str]) -> None:
    """Remove everything ``setup``, CNI and kube-proxy left; restore the recorded sysctls."""
    record = load_record(layout)
    for bridge in node_bridges:
        remove_node_links(bridge)
    for line in _cmd(["ip", "-o", "link", "show"], check=False).stdout.splitlines():
        name = line.split(":", 2)[1].strip().split("@")[0]
        if name.startswith(lay.BRIDGE_PREFIX) and name != lay.HOST_BRIDGE:
            remove_node_links(name)
    _cmd(["ip", "route", "del", "unreachable", str(lay.CLUSTER_CIDR)], check=False)
    _cmd(["ip", "route", "del", str(lay.SERVICE_CIDR)], check=False)
    if _link_exists(lay.HOST_BRIDGE):
        _cmd(["ip", "link", "del", lay.HOST_BRIDGE], check=False)
    chains = record.get("chains", {})
    assert isinstance(chains, dict)
    for binary in ("iptables", "ip6tables"):
        _remove_chains(binary, dict(chains.get(binary, {})))
        if binary in chains:  # without a record, no table is known to be new
            _remove_new_empty_tables(binary, dict(chains[binary]))
    for direction in ("-s", "-d"):
        for cidr in (lay.CLUSTER_CIDR, lay.SERVICE_CIDR):
            _cmd(["conntrack", "-D", direction, str(cidr)], check=False)
    sysctls = record.get("sysctls", {})
    assert isinstance(sysctls, dict)
    for name, value in sysctls.items():
        if value is not None:
            with contextlib.suppress(OSError):
                write_sysctl(str(name), str(value))


def leftovers() -> list[str]:
    """Links, routes and chains of the cluster still present (empty after a clean ``down``)."""
    found: list[str] = []
    for line in _cmd(["ip", "-o", "link", "show"], check=False).stdout.splitlines():
        name = line.split(":", 2)[1].strip().split("@")[0]
        if name.startswith(lay.BRIDGE_PREFIX) or (name.startswith("veth") and "master stfl-" in line):
            found.append(f"link {name}")
    for line in _cmd(["ip", "route", "show", "table", "all"], check=False).stdout.splitlines():
        if "10.244." in line or "10.96." in line:
            found.append(f"route {line.strip()}")
    for binary in ("iptables", "ip6tables"):
        for table, chains in _chains(binary).items():
            found += [f"{binary} {table} {c}" for c in chains if c.startswith(OUR_CHAIN_PREFIXES)]
    return found
