"""The cluster's host processes as pure specs: command line, rendered files, cgroup, readiness probe.

Nothing here starts anything: ``localcluster.cluster.steps`` hands these specs to the runner.

A component's *spec* is a hash of its binary, argv, rendered files and the PKI; ``up`` restarts a
running component only when its spec changed, and leaves it alone otherwise.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from localcluster import paths
from localcluster.cluster.host import probes
from localcluster.cluster.spec import layout as lay
from localcluster.cluster.spec import render
from localcluster.cluster.spec.layout import Layout, Node

Probe = Callable[[], "str | None"]


@dataclass(frozen=True)
class Component:
    """One host process of the cluster."""

    name: str
    argv: tuple[str, ...]
    ready: Probe
    files: tuple[tuple[Path, str], ...] = ()
    cgroup: str | None = None
    timeout: float = 60.0
    dirs: tuple[Path, ...] = field(default=())
    inputs: tuple[Path, ...] = field(default=())

    def spec(self, salt: str) -> str:
        """Hash of everything the process was started from."""
        digest = hashlib.sha256(salt.encode())
        binary = Path(self.argv[0])
        if binary.exists():
            digest.update(os.path.realpath(binary).encode())
            digest.update(str(binary.stat().st_mtime_ns).encode())
        for arg in self.argv:
            digest.update(b"\0" + arg.encode())
            value = Path(arg.partition("=")[2] or arg)
            if value.is_absolute() and value.is_file() and value.stat().st_size < 1 << 20:
                digest.update(value.read_bytes())  # certificates, keys and kubeconfigs it reads
        for path, text in self.files:
            digest.update(b"\1" + str(path).encode() + b"\1" + text.encode())
        for path in self.inputs:
            digest.update(b"\2" + path.read_bytes())
        return digest.hexdigest()


def binary(name: str) -> str:
    """Path of a built binary."""
    return str(paths.bin_dir() / name)


def process_env() -> dict[str, str]:
    """Environment of every component: the built binaries first on PATH, sbin dirs present."""
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    parts = [str(paths.bin_dir()), *env.get("PATH", "").split(os.pathsep), "/usr/sbin", "/sbin"]
    seen: list[str] = []
    for part in parts:
        if part and part not in seen:
            seen.append(part)
    env["PATH"] = os.pathsep.join(seen)
    return env


def _pki(layout: Layout, name: str) -> str:
    return str(layout.pki / name)


def _kc(layout: Layout, name: str) -> str:
    return str(layout.kubeconfigs / f"{name}.kubeconfig")


def etcd(layout: Layout) -> Component:
    """Etcd on loopback, plain HTTP (reachable from this machine only)."""
    url = lay.ETCD_CLIENT_URL
    peer = "http://127.0.0.1:2380"
    return Component(
        name="etcd",
        argv=(
            binary("etcd"), "--name=stfl", f"--data-dir={layout.etcd_data}",
            f"--listen-client-urls={url}", f"--advertise-client-urls={url}",
            f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=stfl={peer}", "--listen-metrics-urls=http://127.0.0.1:2381",
            "--log-level=warn",
        ),
        ready=lambda: probes.expect_ok(probes.http_get("127.0.0.1", 2379, "/health"), '"true"'),
        timeout=60,
    )


def apiserver(layout: Layout) -> Component:
    """kube-apiserver on the host-side address 10.244.0.1 (pods reach it as 10.96.0.1)."""
    issuer = f"https://kubernetes.default.svc.{lay.CLUSTER_DOMAIN}"
    return Component(
        name="kube-apiserver",
        argv=(
            binary("kube-apiserver"),
            f"--etcd-servers={lay.ETCD_CLIENT_URL}",
            f"--bind-address={lay.APISERVER_IP}", f"--advertise-address={lay.APISERVER_IP}",
            f"--secure-port={lay.APISERVER_PORT}", f"--cert-dir={layout.root / 'apiserver'}",
            f"--tls-cert-file={_pki(layout, 'apiserver.crt')}",
            f"--tls-private-key-file={_pki(layout, 'apiserver.key')}",
            f"--client-ca-file={_pki(layout, 'ca.crt')}",
            f"--kubelet-client-certificate={_pki(layout, 'apiserver-kubelet-client.crt')}",
            f"--kubelet-client-key={_pki(layout, 'apiserver-kubelet-client.key')}",
            f"--kubelet-certificate-authority={_pki(layout, 'ca.crt')}",
            "--kubelet-preferred-address-types=InternalIP",
            f"--service-account-issuer={issuer}", f"--api-audiences={issuer}",
            f"--service-account-key-file={_pki(layout, 'sa.pub')}",
            f"--service-account-signing-key-file={_pki(layout, 'sa.key')}",
            f"--service-cluster-ip-range={lay.SERVICE_CIDR}",
            # The aggregation layer's front proxy (and the delegated authentication of the
            # controller-manager and scheduler, which read this CA from the API).
            f"--requestheader-client-ca-file={_pki(layout, 'ca.crt')}",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={_pki(layout, 'front-proxy-client.crt')}",
            f"--proxy-client-key-file={_pki(layout, 'front-proxy-client.key')}",
            "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
            "--allow-privileged=true", "--profiling=false", "--v=1",
        ),
        ready=lambda: probes.expect_ok(probes.https_get(
            str(lay.APISERVER_IP), lay.APISERVER_PORT, "/readyz", ca=layout.pki / "ca.crt",
            cert=layout.pki / "admin.crt", key=layout.pki / "admin.key")),
        timeout=120,
        dirs=(layout.root / "apiserver",),
    )


def controller_manager(layout: Layout) -> Component:
    """kube-controller-manager: node CIDRs, service-account tokens, the usual controllers."""
    kc = _kc(layout, "controller-manager")
    return Component(
        name="kube-controller-manager",
        argv=(
            binary("kube-controller-manager"),
            f"--kubeconfig={kc}", f"--authentication-kubeconfig={kc}", f"--authorization-kubeconfig={kc}",
            "--bind-address=127.0.0.1", "--secure-port=10257",
            f"--cert-dir={layout.root / 'controller-manager'}", "--leader-elect=false",
            "--allocate-node-cidrs=true", f"--cluster-cidr={lay.CLUSTER_CIDR}", "--node-cidr-mask-size=24",
            f"--service-cluster-ip-range={lay.SERVICE_CIDR}",
            f"--cluster-signing-cert-file={_pki(layout, 'ca.crt')}",
            f"--cluster-signing-key-file={_pki(layout, 'ca.key')}",
            f"--root-ca-file={_pki(layout, 'ca.crt')}",
            f"--service-account-private-key-file={_pki(layout, 'sa.key')}",
            "--use-service-account-credentials=true", "--profiling=false", "--v=1",
        ),
        ready=lambda: probes.expect_ok(probes.https_get("127.0.0.1", 10257, "/healthz")),
        dirs=(layout.root / "controller-manager",),
    )


def scheduler(layout: Layout) -> Component:
    """kube-scheduler."""
    kc = _kc(layout, "scheduler")
    return Component(
        name="kube-scheduler",
        argv=(
            binary("kube-scheduler"),
            f"--kubeconfig={kc}", f"--authentication-kubeconfig={kc}", f"--authorization-kubeconfig={kc}",
            "--bind-address=127.0.0.1", "--secure-port=10259",
            f"--cert-dir={layout.root / 'scheduler'}", "--leader-elect=false", "--profiling=false",
        ),
        ready=lambda: probes.expect_ok(probes.https_get("127.0.0.1", 10259, "/healthz")),
        dirs=(layout.root / "scheduler",),
    )


def kube_proxy(layout: Layout) -> Component:
    """One kube-proxy (iptables mode) for the network namespace every node shares."""
    config = layout.config / "kube-proxy.yaml"
    return Component(
        name="kube-proxy",
        argv=(binary("kube-proxy"), f"--config={config}", "--v=1"),
        files=((config, render.kube_proxy_config(layout, Path(_kc(layout, "kube-proxy")))),),
        ready=lambda: probes.expect_ok(probes.http_get("127.0.0.1", 10256, "/healthz")),
    )


def coredns(layout: Layout, upstreams: list[str]) -> Component:
    """CoreDNS as a host process on 10.244.0.53 (Service kube-dns, 10.96.0.10, points at it)."""
    corefile = layout.config / "Corefile"
    want = str(lay.KUBERNETES_SERVICE_IP)
    name = f"kubernetes.default.svc.{lay.CLUSTER_DOMAIN}"

    def ready() -> str | None:
        return probes.expect_ok(probes.http_get("127.0.0.1", 8181, "/ready")) or probes.dns_answers(
            str(lay.COREDNS_IP), name, want)

    return Component(
        name="coredns",
        argv=(binary("coredns"), "-conf", str(corefile)),
        files=((corefile, render.corefile(Path(_kc(layout, "coredns")), upstreams)),),
        ready=ready,
    )


def provisioner(layout: Layout) -> Component:
    """The host-path volume provisioner of StorageClass ``standard`` (a Python host process)."""
    heartbeat = layout.run / "provisioner.heartbeat"
    pidfile = layout.run / "provisioner.pid"

    def ready() -> str | None:
        if not heartbeat.exists() or not pidfile.exists():
            return "no heartbeat yet"
        if heartbeat.stat().st_mtime < pidfile.stat().st_mtime:
            return "no reconcile since start"
        return None

    return Component(
        name="provisioner",
        argv=(sys.executable, "-m", "localcluster.cluster.provisioner", f"--kubeconfig={_kc(layout, 'provisioner')}",
              f"--volumes={layout.volumes}", f"--heartbeat={heartbeat}"),
        ready=ready,
        inputs=(Path(__file__).parents[1] / "provisioner.py",),
    )


def containerd(node: Node) -> Component:
    """The node's containerd: own root, state, socket, CNI config; in the node's system cgroup."""
    return Component(
        name=f"containerd-{node.name}",
        argv=(binary("containerd"), "--config", str(node.containerd_config)),
        files=((node.containerd_config, render.containerd_config(node)),),
        ready=lambda: probes.unix_socket_accepts(node.containerd_socket),
        cgroup=node.system_cgroup,
        dirs=(node.containerd_root, node.runtime_dir, node.cni_conf_dir),
    )


def kubelet(layout: Layout, node: Node) -> Component:
    """The node's kubelet (registers as ``node-N`` with InternalIP 10.244.0.(10+N))."""
    return Component(
        name=f"kubelet-{node.name}",
        argv=(
            binary("kubelet"), f"--config={node.kubelet_config}", f"--kubeconfig={node.kubelet_kubeconfig}",
            f"--hostname-override={node.name}", f"--node-ip={node.ip}", f"--root-dir={node.kubelet_dir}",
            f"--cert-dir={node.root / 'kubelet-pki'}",
            f"--node-labels=topology.kubernetes.io/zone={node.zone}", "--v=1",
        ),
        files=(
            (node.kubelet_config, render.kubelet_config(layout, node)),
            (node.resolv_conf, render.pod_resolv_conf()),
        ),
        ready=lambda: probes.expect_ok(probes.http_get(str(node.ip), 10248, "/healthz"), "ok"),
        cgroup=node.system_cgroup,
        timeout=90,
        dirs=(node.kubelet_dir, node.pod_logs, node.root / "volume-plugins", node.root / "kubelet-pki"),
    )
