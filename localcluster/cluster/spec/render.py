"""Config files of the cluster's components, as pure functions of the layout (no I/O)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, ip_address
from pathlib import Path

import yaml

from localcluster.cluster.spec import layout as lay
from localcluster.cluster.spec.layout import Layout, Node

PAUSE_IMAGE = "stateful.local/pause:3.10"
#: Plugins that would touch host-wide paths or cannot work here; off in every node's containerd.
DISABLED_CONTAINERD_PLUGINS = (
    "io.containerd.nri.v1.nri",
    "io.containerd.snapshotter.v1.aufs",
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.snapshotter.v1.zfs",
    "io.containerd.snapshotter.v1.blockfile",
    "io.containerd.snapshotter.v1.erofs",
    "io.containerd.differ.v1.erofs",
    "io.containerd.tracing.processor.v1.otlp",
    "io.containerd.internal.v1.tracing",
)


def _q(value: str | Path) -> str:
    """A TOML basic string (JSON string escaping is valid TOML)."""
    return json.dumps(str(value))


def containerd_config(node: Node, *, pause_image: str = PAUSE_IMAGE) -> str:
    """Containerd 2.x config (version 3) with its own root, state and socket, CRI on cgroupfs."""
    disabled = ", ".join(_q(p) for p in DISABLED_CONTAINERD_PLUGINS)
    cri = "plugins.'io.containerd.cri.v1.runtime'"
    return f"""# Rendered by localcluster for {node.name}; do not edit.
version = 3
root = {_q(node.containerd_root)}
state = {_q(node.containerd_state)}
temp = {_q(node.runtime_dir / "tmp")}
imports = []
disabled_plugins = [{disabled}]

[grpc]
  address = {_q(node.containerd_socket)}

[ttrpc]
  address = {_q(str(node.containerd_socket) + ".ttrpc")}

[plugins.'io.containerd.internal.v1.opt']
  path = {_q(node.containerd_root / "opt")}

[plugins.'io.containerd.image-verifier.v1.bindir']
  bin_dir = {_q(node.containerd_root / "image-verifier")}

[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'

[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = {_q(pause_image)}

[{cri}]
  # root lacks CAP_SYS_RESOURCE here: without this every pod sandbox fails (oom_score_adj -998).
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  tolerate_missing_hugetlb_controller = true
  disable_hugetlb_controller = true
  netns_mounts_under_state_dir = true
  enable_cdi = false

[{cri}.containerd]
  default_runtime_name = 'runc'

[{cri}.containerd.runtimes.runc]
  runtime_type = 'io.containerd.runc.v2'

[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
  Root = {_q(node.runtime_dir / "runc")}

[{cri}.cni]
  bin_dirs = ['/usr/lib/cni']
  conf_dir = {_q(node.cni_conf_dir)}
  max_conf_num = 1

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = '127.0.0.1'
  stream_server_port = '0'
"""


def cni_conflist(node: Node, pod_cidr: IPv4Network) -> str:
    """Bridge network of a node: its own bridge and pod range, no masquerade (nothing goes out)."""
    gateway = pod_cidr.network_address + 1
    doc = {
        "cniVersion": "1.0.0",
        "name": node.bridge,
        "plugins": [
            {
                "type": "bridge",
                "bridge": node.bridge,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": str(pod_cidr), "gateway": str(gateway)}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(node.runtime_dir / "ipam"),
                },
            },
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


def kubelet_config(layout: Layout, node: Node) -> str:
    """KubeletConfiguration of one node (cgroup v1, cgroupfs, its own cgroup root and address)."""
    pki = layout.pki
    doc = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": node.cgroup,
        "cgroupsPerQOS": True,
        "enforceNodeAllocatable": ["pods"],
        "containerRuntimeEndpoint": f"unix://{node.containerd_socket}",
        "address": str(node.ip),
        "port": 10250,
        "readOnlyPort": 0,
        "healthzBindAddress": str(node.ip),
        "healthzPort": 10248,
        "tlsCertFile": str(pki / f"{node.name}.crt"),
        "tlsPrivateKeyFile": str(pki / f"{node.name}.key"),
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(pki / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "clusterDNS": [str(lay.CLUSTER_DNS_IP)],
        "clusterDomain": lay.CLUSTER_DOMAIN,
        "resolvConf": str(node.resolv_conf),
        "podLogsDir": str(node.pod_logs),
        "volumePluginDir": str(node.root / "volume-plugins"),
        "failSwapOn": False,
        "protectKernelDefaults": False,
        "serializeImagePulls": False,
        # Images come from local archives and can never be pulled again: no image GC.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        # A development disk must not evict pods.
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "nodefs.inodesFree": "1%",
            "imagefs.available": "1%",
            "imagefs.inodesFree": "1%",
        },
        "containerLogMaxSize": "10Mi",
        "containerLogMaxFiles": 2,
        "maxPods": 110,
    }
    return str(yaml.safe_dump(doc, sort_keys=False))


def kube_proxy_config(layout: Layout, kubeconfig: Path) -> str:
    """KubeProxyConfiguration: one iptables-mode proxy for the host network all nodes share."""
    doc = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clusterCIDR": str(lay.CLUSTER_CIDR),
        "hostnameOverride": layout.nodes[0].name,
        "bindAddress": str(layout.nodes[0].ip),
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "detectLocalMode": "ClusterCIDR",
        "nodePortAddresses": [str(lay.HOST_NET)],
        # Leave the host's conntrack sysctls alone (0 = do not touch).
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
        "iptables": {"localhostNodePorts": False, "masqueradeAll": False, "syncPeriod": "30s",
                     "minSyncPeriod": "1s"},
    }
    return str(yaml.safe_dump(doc, sort_keys=False))


def upstream_nameservers(resolv_conf: str) -> list[str]:
    """The ``nameserver`` entries of a resolv.conf, minus the cluster's own DNS addresses."""
    ours = {str(lay.COREDNS_IP), str(lay.CLUSTER_DNS_IP)}
    found: list[str] = []
    for line in resolv_conf.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver" and words[1] not in ours:
            try:
                ip_address(words[1])
            except ValueError:
                continue
            found.append(words[1])
    return found


def corefile(kubeconfig: Path, upstreams: Iterable[str]) -> str:
    """CoreDNS on the host: cluster.local from the API (TTL 5 s), everything else forwarded."""
    forward = " ".join(upstreams)
    forward_line = f"    forward . {forward}\n" if forward else ""
    return (
        f".:53 {{\n"
        f"    bind {lay.COREDNS_IP}\n"
        f"    errors\n"
        f"    ready 127.0.0.1:8181\n"
        f"    kubernetes {lay.CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{\n"
        f"        kubeconfig {kubeconfig}\n"
        f"        pods insecure\n"
        f"        fallthrough in-addr.arpa ip6.arpa\n"
        f"        ttl 5\n"
        f"    }}\n"
        f"{forward_line}"
        f"    cache 5\n"
        f"}}\n"
    )


def pod_resolv_conf() -> str:
    """resolv.conf kubelet reads as the node's: CoreDNS only, no host search domains."""
    return f"nameserver {lay.COREDNS_IP}\n"


def host_resolv_conf() -> str:
    """resolv.conf for processes on this machine that should see the cluster's names."""
    domain = lay.CLUSTER_DOMAIN
    return f"nameserver {lay.COREDNS_IP}\nsearch svc.{domain} {domain}\noptions ndots:5\n"


def node_addresses(layout: Layout) -> dict[str, IPv4Address]:
    """Node name to node IP, for status output."""
    return {n.name: n.ip for n in layout.nodes}
