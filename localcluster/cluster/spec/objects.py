"""The static API objects the cluster needs before workloads, as plain data (no I/O).

RBAC of the host services, the DNS Service with its host endpoint, and the default StorageClass;
``steps.objects`` applies them server-side on every ``up``.
"""

from __future__ import annotations

import json
from typing import Any

from localcluster.cluster.provisioner import PROVISIONER
from localcluster.cluster.spec import layout as lay

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
