"""StatefulSet mechanics in a namespace ``bench-<id>`` of its own, with plain manifests.

OrderedReady and Parallel start of 3 pods with a volume each, a deleted pod coming back Ready and its
DNS name following the new pod IP. The caller deletes the namespace (and its volumes) at the end, always.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import dns.resolver

from .kube import Kube, create_namespace, is_ready, read_pod
from .report import Report, fmt
from .resolver import resolve_a
from .waits import wait_for

TOOLBOX_IMAGE = "stateful.local/toolbox:bookworm"
STORAGE_CLASS = "standard"
SET_LABEL = "bench.stateful.local/set"
#: Rounds of OrderedReady and Parallel starts (alternating).
START_ROUNDS = 3

def headless_service(name: str) -> dict[str, Any]:
    """A headless Service governing the StatefulSet ``name``."""
    return {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
        "spec": {"clusterIP": "None", "selector": {SET_LABEL: name}, "ports": [{"name": "none", "port": 80}]},
    }


def statefulset(name: str, policy: str, replicas: int) -> dict[str, Any]:
    """A StatefulSet of idle toolbox pods with a 16Mi volume each, Ready as soon as they run."""
    labels = {SET_LABEL: name}
    container = {
        "name": "main",
        "image": TOOLBOX_IMAGE,
        "imagePullPolicy": "Never",
        # PID 1 ignores SIGTERM unless it traps it: exit at once instead of waiting out the grace period.
        "command": ["sh", "-c", "trap 'exit 0' TERM; sleep infinity & wait"],
        "readinessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 1},
        "securityContext": {"allowPrivilegeEscalation": False},
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
    }
    return {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name, "labels": labels},
        "spec": {
            "serviceName": name,
            "replicas": replicas,
            "podManagementPolicy": policy,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": 5,
                    "automountServiceAccountToken": False,
                    "securityContext": {"runAsUser": 65534, "runAsGroup": 65534, "runAsNonRoot": True},
                    "containers": [container],
                },
            },
            "volumeClaimTemplates": [{
                "metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": STORAGE_CLASS,
                         "resources": {"requests": {"storage": "16Mi"}}},
            }],
        },
    }



def start_set(
    kube: Kube, namespace: str, name: str, policy: str, *, replicas: int, timeout: float
) -> dict[str, float]:
    """Create the Service and StatefulSet; return each pod's seconds from creation to first seen Ready."""
    kube.core.create_namespaced_service(namespace, headless_service(name), field_validation="Strict")
    began = time.perf_counter()
    kube.apps.create_namespaced_stateful_set(namespace, statefulset(name, policy, replicas),
                                             field_validation="Strict")
    ready_at: dict[str, float] = {}

    def all_ready() -> dict[str, float] | None:
        pods = kube.core.list_namespaced_pod(namespace, label_selector=f"{SET_LABEL}={name}",
                                             _request_timeout=10).items
        now = time.perf_counter() - began
        for pod in pods:
            if is_ready(pod):
                ready_at.setdefault(pod.metadata.name, now)
        return dict(ready_at) if len(ready_at) >= replicas else None

    return wait_for(all_ready, timeout, f"{replicas} pods of {name} Ready")


def ready_order(ready_at: Mapping[str, float]) -> str:
    """``name-0 1.2 s, name-1 3.4 s, ...`` in the order the pods became Ready."""
    return ", ".join(f"{pod} {fmt(t, 's')}" for pod, t in sorted(ready_at.items(), key=lambda kv: kv[1]))


@dataclass
class Recreated:
    """What a pod deletion took: until the new pod was Ready, and until its DNS name gave the new IP."""

    ready_s: float
    dns_s: float
    same_ip: bool


def recreate_pod(kube: Kube, resolver: dns.resolver.Resolver, namespace: str, pod: str, fqdn: str) -> Recreated:
    """Delete ``pod``; time the new pod to Ready and its DNS name to the new IP, from the deletion."""
    old = read_pod(kube, namespace, pod)
    old_uid, old_ip = str(old.metadata.uid), str(old.status.pod_ip)
    wait_for(lambda: True if resolve_a(resolver, fqdn) == {old_ip} else None, 30.0, f"{fqdn} -> {old_ip}")
    began = time.perf_counter()
    kube.core.delete_namespaced_pod(pod, namespace)
    seen: dict[str, Any] = {}

    def observe() -> Recreated | None:
        now = time.perf_counter() - began
        if "ready" not in seen:
            new = read_pod(kube, namespace, pod)
            if new is not None and str(new.metadata.uid) != old_uid and new.status.pod_ip:
                seen["ip"] = str(new.status.pod_ip)
                if is_ready(new):
                    seen["ready"] = now
        if "ip" in seen and "dns" not in seen and resolve_a(resolver, fqdn) == {seen["ip"]}:
            seen["dns"] = now
        if "ready" in seen and "dns" in seen:
            return Recreated(ready_s=seen["ready"], dns_s=seen["dns"], same_ip=seen["ip"] == old_ip)
        return None

    return wait_for(observe, 90.0, f"{pod} recreated, Ready, and {fqdn} -> its new IP")


def remove_set(kube: Kube, namespace: str, name: str, timeout: float) -> None:
    """Delete a StatefulSet and its Service; wait until its pods are gone (the claims stay until the end)."""
    kube.apps.delete_namespaced_stateful_set(name, namespace, _request_timeout=10)
    kube.core.delete_namespaced_service(name, namespace, _request_timeout=10)

    def gone() -> bool | None:
        pods = kube.core.list_namespaced_pod(namespace, label_selector=f"{SET_LABEL}={name}",
                                             _request_timeout=10).items
        return None if pods else True

    wait_for(gone, timeout, f"pods of {name} gone", interval=0.2)


def bench_statefulsets(report: Report, kube: Kube, namespace: str, domain: str, rounds: int = START_ROUNDS) -> None:
    """OrderedReady and Parallel start of 3 pods (alternating rounds), and pod recreation with DNS following.

    Each set is removed before the next starts, so every start has the cluster to itself (exec
    readiness probes every second are not free on a small machine).
    """
    replicas = 3
    resolver = dns.resolver.Resolver()
    create_namespace(kube, namespace)

    ordered: list[dict[str, float]] = []
    parallel: list[dict[str, float]] = []
    recreated: list[Recreated] = []
    for round_ in range(1, rounds + 1):
        name = f"ord-{round_}"
        ordered.append(start_set(kube, namespace, name, "OrderedReady", replicas=replicas, timeout=90.0))
        report.log(f"round {round_}: OrderedReady {ready_order(ordered[-1])}")
        if round_ == 1:
            recreated = [recreate_pod(kube, resolver, namespace, f"{name}-{i}",
                                      f"{name}-{i}.{name}.{namespace}.svc.{domain}.") for i in range(replicas)]
        remove_set(kube, namespace, name, timeout=60.0)
        name = f"par-{round_}"
        parallel.append(start_set(kube, namespace, name, "Parallel", replicas=replicas, timeout=90.0))
        report.log(f"round {round_}: Parallel {ready_order(parallel[-1])}")
        remove_set(kube, namespace, name, timeout=60.0)

    ordered_s = [max(r.values()) for r in ordered]
    parallel_s = [max(r.values()) for r in parallel]
    report.add(f"sts: {replicas} pods OrderedReady, create -> all Ready", ordered_s, goal=60.0,
               detail=f"round 1: {ready_order(ordered[0])}")
    same = sum(r.same_ip for r in recreated)
    report.add("sts: deleted pod back Ready", [r.ready_s for r in recreated], goal=30.0,
               detail="from the delete call; same claim")
    lag = statistics.median(r.dns_s - r.ready_s for r in recreated)
    report.add("sts: pod DNS name -> new IP", [r.dns_s for r in recreated], goal=30.0,
               detail=f"from the delete call; {fmt(lag, 's')} after Ready (median; CoreDNS caches 5 s)"
                      + (f"; {same} got the old IP back" if same else ""))
    report.add(f"sts: {replicas} pods Parallel, create -> all Ready", parallel_s, goal=30.0,
               detail=f"round 1: {ready_order(parallel[0])}")
    ratio = statistics.median(parallel_s) / statistics.median(ordered_s)
    report.add("sts: Parallel / OrderedReady start time", [ratio], goal=0.7, unit="x",
               detail="ratio of the medians; below 1: Parallel starts the pods at once")

