"""Kubernetes API access for the benchmarks: clients, pod readiness, settled StatefulSets, namespaces."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from .report import Report, fmt
from .waits import wait_for


@dataclass(frozen=True)
class Kube:
    """The API groups used here (the responses are used as ``Any``, like the tests do)."""

    core: Any  # kubernetes.client.CoreV1Api
    apps: Any  # kubernetes.client.AppsV1Api


def connect_kube() -> Kube:
    """Clients for ``$KUBECONFIG`` (``env.apply`` defaults it to the local cluster's admin kubeconfig)."""
    load: Any = config.load_kube_config
    load(config_file=os.environ["KUBECONFIG"])  # the client read $KUBECONFIG at import, before env.apply
    return Kube(core=client.CoreV1Api(), apps=client.AppsV1Api())


def is_ready(pod: Any) -> bool:
    """Whether the pod is Ready and not being deleted."""
    if pod is None or pod.metadata.deletion_timestamp is not None:
        return False
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or ())


def settled_members(report: Report, kube: Kube, app: Mapping[str, Any], domain: str, timeout: float) -> list[str]:
    """DNS names of a stack app's Ready pods by ordinal, once its StatefulSet has settled.

    Teammates' smoke tests scale, roll and restart the stack's pods: measuring in the middle of that
    would measure their disruption. Settled means: the controller saw the latest spec, and as many
    pods as it wants exist, all Ready, none terminating. The count is the live StatefulSet's, not the
    stack output's (stale while another ``pulumi up`` runs). If the set has not settled by the
    deadline, the pods that are Ready then are measured, and the log says so.
    """
    namespace, name = str(app["namespace"]), str(app["statefulset"])
    selector = ",".join(f"{k}={v}" for k, v in sorted(app["selector"].items()))
    began = time.perf_counter()

    def ready_pods() -> tuple[int, int, list[Any]]:
        sts = kube.apps.read_namespaced_stateful_set(name, namespace, _request_timeout=10)
        pods = kube.core.list_namespaced_pod(namespace, label_selector=selector, _request_timeout=10).items
        current = (sts.status.observed_generation or 0) >= sts.metadata.generation
        wanted = int(sts.spec.replicas) if current else -1
        return wanted, len(pods), [p for p in pods if is_ready(p)]

    def settled() -> list[Any] | None:
        wanted, existing, ready = ready_pods()
        return ready if wanted == existing == len(ready) else None

    try:
        ready = wait_for(settled, timeout, f"{namespace}/{name} settled", interval=0.5)
        note = f"settled ({len(ready)} pods Ready) after {fmt(time.perf_counter() - began, 's')}"
    except TimeoutError:
        wanted, existing, ready = ready_pods()
        note = (f"NOT settled after {timeout:.0f} s ({len(ready)} Ready of {existing} pods, {wanted} wanted): "
                f"measuring the Ready ones")
    report.log(f"{namespace}/{name}: {note}")
    if not ready:
        raise RuntimeError(f"{namespace}/{name} has no Ready pod")
    ready.sort(key=lambda pod: int(str(pod.metadata.name).rsplit("-", 1)[1]))
    return [f"{pod.spec.hostname}.{pod.spec.subdomain}.{namespace}.svc.{domain}" for pod in ready]


def read_pod(kube: Kube, namespace: str, name: str) -> Any:
    """The pod, or None if it does not exist."""
    try:
        return kube.core.read_namespaced_pod(name, namespace, _request_timeout=10)
    except ApiException as err:
        if err.status == 404:
            return None
        raise



def create_namespace(kube: Kube, namespace: str) -> None:
    """Create the namespace and wait for its default ServiceAccount (pods are refused without it)."""
    body = {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": namespace, "labels": {"app.kubernetes.io/part-of": "stateful-bench"}}}
    kube.core.create_namespace(body, field_validation="Strict")
    wait_for(lambda: kube.core.read_namespaced_service_account("default", namespace, _request_timeout=10),
             30.0, f"ServiceAccount default in {namespace}", ignore=(ApiException,))



def delete_namespace(kube: Kube, namespace: str, timeout: float) -> float:
    """Delete the namespace; wait until it and the volumes of its claims are gone; return the seconds."""
    began = time.perf_counter()
    try:
        kube.core.delete_namespace(namespace, _request_timeout=10)
    except ApiException as err:
        if err.status != 404:
            raise

    def namespace_gone() -> bool | None:
        try:
            kube.core.read_namespace(namespace, _request_timeout=10)
        except ApiException as err:
            if err.status == 404:
                return True
            raise
        return None

    def volumes_gone() -> bool | None:
        pvs = kube.core.list_persistent_volume(_request_timeout=10).items
        left = [pv for pv in pvs if pv.spec.claim_ref is not None and pv.spec.claim_ref.namespace == namespace]
        return True if not left else None

    wait_for(namespace_gone, timeout, f"namespace {namespace} deleted", interval=0.5)
    wait_for(volumes_gone, max(5.0, timeout - (time.perf_counter() - began)),
             f"volumes of {namespace} deleted", interval=0.5)
    return time.perf_counter() - began

