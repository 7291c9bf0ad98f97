"""What the cluster's PKI holds, as plain data: every certificate and every client kubeconfig."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address

from localcluster.cluster.spec import layout as lay
from localcluster.cluster.spec import objects
from localcluster.cluster.spec.layout import Layout

#: Client kubeconfigs of the control-plane components and host services: (file and certificate stem, user).
SERVICE_KUBECONFIGS = (
    ("controller-manager", "system:kube-controller-manager"),
    ("scheduler", "system:kube-scheduler"),
    ("kube-proxy", "system:kube-proxy"),
    ("coredns", objects.COREDNS_USER),
    ("provisioner", objects.PROVISIONER_USER),
)


@dataclass(frozen=True)
class CertSpec:
    """A certificate to issue: file stem, subject, names and usages."""

    stem: str
    common_name: str
    organizations: tuple[str, ...] = ()
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[IPv4Address, ...] = ()
    server: bool = False
    client: bool = True


def cert_specs(layout: Layout) -> list[CertSpec]:
    """Every certificate the cluster needs: the API server's, the clients', each kubelet's pair."""
    dns_names = ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                 f"kubernetes.default.svc.{lay.CLUSTER_DOMAIN}")
    specs = [
        CertSpec("apiserver", "kube-apiserver", dns_names=dns_names, server=True, client=False,
                 ip_addresses=(lay.APISERVER_IP, lay.KUBERNETES_SERVICE_IP, IPv4Address("127.0.0.1"))),
        CertSpec("apiserver-kubelet-client", objects.APISERVER_KUBELET_USER),
        CertSpec("front-proxy-client", "front-proxy-client"),
        CertSpec("admin", "admin", organizations=("system:masters",)),
        *(CertSpec(stem, user) for stem, user in SERVICE_KUBECONFIGS),
    ]
    for node in layout.nodes:
        specs.append(CertSpec(node.name, node.name, dns_names=(node.name,), ip_addresses=(node.ip,),
                              server=True, client=False))
        specs.append(CertSpec(f"{node.name}-client", f"system:node:{node.name}", organizations=("system:nodes",)))
    return specs
