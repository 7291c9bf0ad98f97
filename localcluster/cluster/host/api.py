"""Node objects and readiness checks through the API (the cluster's client side effects).

The Node objects are created with their pod CIDR before the kubelets register, so each node's
CNI config is known before its first pod.
"""

from __future__ import annotations

import datetime as dt
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

from kubernetes import client, config

from localcluster.cluster.spec.layout import Layout, Node


def core(kubeconfig: Path) -> client.CoreV1Api:
    """A CoreV1 client for ``kubeconfig``."""
    api_client = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
    return client.CoreV1Api(api_client)


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
