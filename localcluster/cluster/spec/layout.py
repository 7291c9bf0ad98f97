"""Where every file of the local cluster lives and which addresses it uses (pure, no side effects).

Addresses, all inside ranges that never leave this machine:

- ``10.244.0.0/16`` cluster CIDR. ``10.244.N.0/24`` is node-N's pod range on bridge ``stfl-nN``.
  ``10.244.0.0/24`` is never given to a node: it holds the host-side addresses, on the port-less
  bridge ``stfl-host``: the API server (``.1``), the node IPs (``.11`` for node-1, ...) and CoreDNS
  (``.53``).
- ``10.96.0.0/16`` Service CIDR; ``10.96.0.1`` is ``kubernetes``, ``10.96.0.10`` is ``kube-dns``.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from localcluster import paths

CLUSTER_CIDR = IPv4Network("10.244.0.0/16")
SERVICE_CIDR = IPv4Network("10.96.0.0/16")
HOST_NET = IPv4Network("10.244.0.0/24")
APISERVER_IP = IPv4Address("10.244.0.1")
COREDNS_IP = IPv4Address("10.244.0.53")
KUBERNETES_SERVICE_IP = IPv4Address("10.96.0.1")
CLUSTER_DNS_IP = IPv4Address("10.96.0.10")
APISERVER_PORT = 6443
CLUSTER_DOMAIN = "cluster.local"
HOST_BRIDGE = "stfl-host"
BRIDGE_PREFIX = "stfl-"
CGROUP_PARENT = "stateful"
MAX_NODES = 40
DEFAULT_NODES = 3
ETCD_CLIENT_URL = "http://127.0.0.1:2379"
UNIX_PATH_MAX = 107


@dataclass(frozen=True)
class Node:
    """One node: its number, name, addresses and directories."""

    index: int
    root: Path

    @property
    def name(self) -> str:
        """Node name, also its hostname label: ``node-N``."""
        return f"node-{self.index}"

    @property
    def ip(self) -> IPv4Address:
        """The kubelet's node IP (InternalIP), a host-local address on ``stfl-host``."""
        return HOST_NET.network_address + 10 + self.index

    @property
    def pod_cidr(self) -> IPv4Network:
        """The pod range this node is created with."""
        return IPv4Network(f"10.244.{self.index}.0/24")

    @property
    def bridge(self) -> str:
        """Name of the node's CNI bridge (shorter than the 15-character limit)."""
        return f"{BRIDGE_PREFIX}n{self.index}"

    @property
    def zone(self) -> str:
        """Value of the node's ``topology.kubernetes.io/zone`` label."""
        return f"zone-{self.index}"

    @property
    def cgroup(self) -> str:
        """The node's cgroup (relative to every hierarchy root); kubelet's ``cgroupRoot``."""
        return f"/{CGROUP_PARENT}/{self.name}"

    @property
    def system_cgroup(self) -> str:
        """Cgroup of the node's containerd, kubelet and containerd shims."""
        return f"{self.cgroup}/system"

    @property
    def containerd_root(self) -> Path:
        """Persistent containerd data (images, snapshots): survives ``down``."""
        return self.root / "containerd"

    @property
    def runtime_dir(self) -> Path:
        """Runtime state (like /run): containerd state, runc state, CNI IPAM; wiped by ``down``."""
        return self.root / "run"

    @property
    def containerd_state(self) -> Path:
        """Containerd's ``state`` directory."""
        return self.runtime_dir / "containerd"

    @property
    def containerd_socket(self) -> Path:
        """Containerd's gRPC socket (the CRI endpoint of the kubelet)."""
        return self.runtime_dir / "containerd.sock"

    @property
    def containerd_config(self) -> Path:
        """Containerd's config file."""
        return self.root / "containerd.toml"

    @property
    def cni_conf_dir(self) -> Path:
        """CNI network config directory of this node."""
        return self.root / "cni"

    @property
    def kubelet_dir(self) -> Path:
        """Kubelet ``--root-dir`` (pod volumes, plugins)."""
        return self.root / "kubelet"

    @property
    def kubelet_config(self) -> Path:
        """The KubeletConfiguration file."""
        return self.root / "kubelet.yaml"

    @property
    def kubelet_kubeconfig(self) -> Path:
        """The kubelet's client kubeconfig."""
        return self.root / "kubelet.kubeconfig"

    @property
    def resolv_conf(self) -> Path:
        """resolv.conf given to kubelet (the upstream for pods; no host search domains)."""
        return self.root / "resolv.conf"

    @property
    def pod_logs(self) -> Path:
        """Kubelet ``podLogsDir``."""
        return self.root / "pod-logs"


@dataclass(frozen=True)
class Layout:
    """All paths of one local cluster, for ``nodes`` nodes."""

    root: Path
    volumes: Path
    nodes: tuple[Node, ...]

    @classmethod
    def create(cls, node_count: int) -> Layout:
        """Layout under ``paths.state_root()`` for ``node_count`` nodes."""
        if not 1 <= node_count <= MAX_NODES:
            raise ValueError(f"NODES must be between 1 and {MAX_NODES}, got {node_count}")
        root = paths.state_root() / "cluster"
        nodes = tuple(Node(i, root / "nodes" / f"node-{i}") for i in range(1, node_count + 1))
        layout = cls(root=root, volumes=paths.state_root() / "volumes", nodes=nodes)
        longest = max(len(str(n.kubelet_dir / "pod-resources" / "kubelet.sock")) for n in nodes)
        if longest > UNIX_PATH_MAX:
            raise ValueError(
                f"the state directory {root} is too deep for unix sockets ({longest} > {UNIX_PATH_MAX}"
                " characters); set STATEFUL_STATE to a shorter path"
            )
        return layout

    def node(self, index: int) -> Node:
        """Node number ``index`` (1-based), also beyond this layout's count (for scale-down)."""
        return Node(index, self.root / "nodes" / f"node-{index}")

    @property
    def pki(self) -> Path:
        """Certificates and keys."""
        return self.root / "pki"

    @property
    def kubeconfigs(self) -> Path:
        """Client kubeconfigs of the control-plane components and host services."""
        return self.root / "kubeconfigs"

    @property
    def admin_kubeconfig(self) -> Path:
        """Admin kubeconfig (``KUBECONFIG`` for people and tests)."""
        return paths.kubeconfig()

    @property
    def etcd_data(self) -> Path:
        """Etcd data directory."""
        return self.root / "etcd"

    @property
    def logs(self) -> Path:
        """Per-component logs: ``logs/<component>.log``."""
        return self.root / "logs"

    @property
    def run(self) -> Path:
        """Pidfiles and the spec hash of each running component."""
        return self.root / "run"

    @property
    def config(self) -> Path:
        """Rendered config of the host-level components (Corefile, kube-proxy.yaml, ...)."""
        return self.root / "config"

    @property
    def host_resolv_conf(self) -> Path:
        """resolv.conf that ``localcluster.incluster`` binds over /etc/resolv.conf."""
        return self.root / "resolv.conf"

    @property
    def host_record(self) -> Path:
        """What the host looked like before the first ``up`` (sysctls, chains, directories)."""
        return self.root / "host-before.json"

    def log(self, component: str) -> Path:
        """Log file of one component."""
        return self.logs / f"{component}.log"

    @property
    def apiserver_url(self) -> str:
        """The API server's URL."""
        return f"https://{APISERVER_IP}:{APISERVER_PORT}"
