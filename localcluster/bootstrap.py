"""API objects the cluster needs before workloads.

RBAC of the host services, the DNS Service, the default StorageClass, and the Node objects
(created with their pod CIDR before the kubelets register, so each node's CNI config is known
before its first pod).
"""

from __future__ import annotations

import datetime as dt
import json
from ipaddress import IPv4Network
from typing import Any

from kubernetes import client

from localcluster import layout as lay
from localcluster.layout import Layout, Node
from localcluster.provisioner import PROVISIONER

MANAGED_BY = "stateful-local-cluster"  # a label value: no slash
COREDNS_USER = "coredns"
PROVISIONER_USER = "stateful-provisioner"
APISERVER_KUBELET_USER = "kube-apiserver-kubelet-client"


def _cluster_role(name: str, rules: list[dict[str, Any]], user: str) -> list[dict[str, Any]]:
    return [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": name}, "rules": rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": name},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]},
    ]


def manifests() -> list[dict[str, Any]]:
    """Static objects, applied server-side on every ``up``."""
    read = ["get", "list", "watch"]
    dns_ports = [{"name": "dns", "protocol": "UDP", "port": 53},
                 {"name": "dns-tcp", "protocol": "TCP", "port": 53}]
    objects: list[dict[str, Any]] = []
    objects += _cluster_role("stateful:coredns", [
        {"apiGroups": [""], "resources": ["endpoints", "services", "pods", "namespaces"], "verbs": read},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": read},
    ], COREDNS_USER)
    objects += _cluster_role("stateful:provisioner", [
        {"apiGroups": [""], "resources": ["persistentvolumes"], "verbs": [*read, "create", "delete", "patch"]},
        {"apiGroups": [""], "resources": ["persistentvolumeclaims"], "verbs": read},
        {"apiGroups": [""], "resources": ["persistentvolumeclaims/status"], "verbs": ["patch"]},  # resizing
        {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses"], "verbs": read},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
    ], PROVISIONER_USER)
    objects.append({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "stateful:apiserver-kubelet-client"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "system:kubelet-api-admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                      "name": APISERVER_KUBELET_USER}],
    })
    objects.append({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kube-dns", "namespace": "kube-system",
                     "labels": {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}},
        "spec": {"clusterIP": str(lay.CLUSTER_DNS_IP), "ports": [
            {"name": p["name"], "protocol": p["protocol"], "port": 53, "targetPort": 53} for p in dns_ports]},
    })
    objects.append({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "kube-dns-host", "namespace": "kube-system",
                     "labels": {"kubernetes.io/service-name": "kube-dns",
                                "endpointslice.kubernetes.io/managed-by": MANAGED_BY}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [str(lay.COREDNS_IP)], "conditions": {"ready": True}}],
        "ports": dns_ports,
    })
    objects.append({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "standard",
                     "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": PROVISIONER, "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate",
        "allowVolumeExpansion": True,
    })
    return objects


def manifest_text() -> str:
    """All static objects as one ``List`` document (JSON is valid input for kubectl)."""
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": manifests()}, indent=1)


def ensure_node(api: client.CoreV1Api, node: Node) -> IPv4Network:
    """Create node-N with its pod CIDR and labels unless it exists; return its actual pod CIDR."""
    existing: Any
    try:
        existing = api.read_node(node.name)
    except client.ApiException as err:
        if err.status != 404:
            raise
        body = client.V1Node(
            metadata=client.V1ObjectMeta(name=node.name, labels={
                "kubernetes.io/hostname": node.name, "kubernetes.io/os": "linux",
                "topology.kubernetes.io/zone": node.zone,
            }),
            spec=client.V1NodeSpec(pod_cidr=str(node.pod_cidr), pod_cidrs=[str(node.pod_cidr)]),
        )
        try:
            existing = api.create_node(body)
        except client.ApiException as create_err:
            if create_err.status != 409:
                raise
            existing = api.read_node(node.name)
    cidr = existing.spec.pod_cidr
    if not cidr:
        raise RuntimeError(f"{node.name} exists without a pod CIDR; run `clean` and `up` again")
    return IPv4Network(str(cidr))


def remove_extra_nodes(api: client.CoreV1Api, layout: Layout) -> list[str]:
    """Delete node-M objects for M beyond the wanted count (after a scale-down)."""
    wanted = {n.name for n in layout.nodes}
    removed = []
    items: list[Any] = api.list_node().items
    for item in items:
        name = str(item.metadata.name)
        if name.startswith("node-") and name not in wanted:
            api.delete_node(name)
            removed.append(name)
    return removed


def node_ready(api: client.CoreV1Api, name: str, since: dt.datetime | None = None) -> str | None:
    """None when the node reports Ready=True (in a heartbeat not older than ``since``), else its state."""
    node: Any = api.read_node(name)
    for cond in node.status.conditions or []:
        if cond.type == "Ready":
            if since is not None and (cond.last_heartbeat_time is None or cond.last_heartbeat_time < since):
                return f"{name}: no status from the restarted kubelet yet"
            return None if cond.status == "True" else f"{name} Ready={cond.status}: {cond.message}"
    return f"{name} has no Ready condition yet"


def default_service_account(api: client.CoreV1Api) -> str | None:
    """None when the ``default`` ServiceAccount of namespace ``default`` exists."""
    try:
        api.read_namespaced_service_account("default", "default")
    except client.ApiException as err:
        return f"HTTP {err.status}"
    return None
