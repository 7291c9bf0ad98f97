"""The local cluster does what issue 5 promises, checked with the Kubernetes API and plain names.

The classic StatefulSet example (headless Service ``nginx-demo``, StatefulSet ``web-demo`` with a
volumeClaimTemplate, image ``stateful.local/nginx:1.22``) in its own namespace (``classic-demo``;
the stack owns ``demo``): ordered start,
stable DNS names that follow a recreated pod, the same claim after a restart, ordered scaling; plus
node count and version, anti-affinity across nodes, and that unused cluster addresses stay local.
"""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self, TypeVar

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from harness import waits
from harness.kube import exec_in_pod, get_pod, is_ready
from localcluster import paths
from localcluster.cluster.spec import layout as lay

from .conftest import Api

pytestmark = pytest.mark.cluster

T = TypeVar("T")
NGINX_IMAGE = "stateful.local/nginx:1.22"
TOOLBOX_IMAGE = "stateful.local/toolbox:bookworm"
LABELS = {"app": "web-demo"}
POD_READY_S = 120.0
DNS_FOLLOW_S = 30.0
NODES = int(os.environ.get("NODES", "3") or 3)


# --- helpers -------------------------------------------------------------------------------------

#: What an API or DNS call may raise while the thing waited for is not there yet.
NOT_YET = (ApiException, OSError, LookupError)


def wait_until(observe: Callable[[], T], timeout: float, what: str, until: Callable[[T], bool] = bool) -> T:
    """``harness.waits.wait_until``, with the API's and the resolver's errors counted as "not yet"."""
    return waits.wait_until(observe, timeout, what, until=until, ignore=NOT_YET)


def wait_pod_ready(api: Api, namespace: str, name: str, not_uid: str | None = None) -> Any:
    return wait_until(lambda: get_pod(api, namespace, name), POD_READY_S, f"{name} Ready",
                      until=lambda p: p is not None and is_ready(p) and p.metadata.uid != not_uid)


def resolve_in(api: Api, namespace: str, pod: str, name: str) -> set[str]:
    out = exec_in_pod(api, namespace, pod, ["getent", "ahostsv4", name])
    return {line.split()[0] for line in out.splitlines() if line.strip()}


class PodEvents:
    """Records the ADDED/DELETED events of the demo pods in a thread, in resourceVersion order."""

    def __init__(self, api: Api, namespace: str) -> None:
        """Start from the pods' current resourceVersion (the watch begins on ``__enter__``)."""
        self.api, self.namespace = api, namespace
        self.events: list[tuple[str, str]] = []
        self._stop = threading.Event()
        listing = api.core.list_namespaced_pod(namespace, label_selector="app=web-demo")
        self._rv = str(listing.metadata.resource_version)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Self:
        """Start recording."""
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop recording."""
        self._stop.set()
        self._thread.join(timeout=15)

    def _run(self) -> None:
        rv = self._rv
        while not self._stop.is_set():
            w: Any = watch.Watch()  # type: ignore[no-untyped-call]
            try:
                for ev in w.stream(self.api.core.list_namespaced_pod, self.namespace,
                                   label_selector="app=web-demo", resource_version=rv, timeout_seconds=5):
                    rv = str(ev["object"].metadata.resource_version)
                    if ev["type"] in ("ADDED", "DELETED"):
                        self.events.append((str(ev["type"]), str(ev["object"].metadata.name)))
            except Exception:
                self._stop.wait(0.5)

    def names(self, kind: str) -> list[str]:
        """Pod names of the ``kind`` (ADDED or DELETED) events, in order."""
        return [name for event, name in list(self.events) if event == kind]


# --- fixtures ------------------------------------------------------------------------------------

def headless_service() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "nginx-demo", "labels": LABELS},
            "spec": {"clusterIP": "None", "selector": LABELS,
                     "ports": [{"name": "web", "port": 80}]}}


def statefulset(replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "web-demo"},
        "spec": {
            "serviceName": "nginx-demo", "replicas": replicas, "selector": {"matchLabels": LABELS},
            "template": {
                "metadata": {"labels": LABELS},
                "spec": {"terminationGracePeriodSeconds": 5, "containers": [{
                    "name": "nginx", "image": NGINX_IMAGE, "imagePullPolicy": "Never",
                    "ports": [{"name": "web", "containerPort": 80}],
                    "readinessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 1},
                    "volumeMounts": [{"name": "www", "mountPath": "/usr/share/nginx/html"}],
                }]},
            },
            "volumeClaimTemplates": [{
                "metadata": {"name": "www"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
            }],
        },
    }


@dataclass(frozen=True)
class Web:
    """The classic example as created: its namespace and the order its pods appeared in."""

    namespace: str
    created: list[str]


@pytest.fixture(scope="module")
def web(api: Api, namespace: str) -> Web:
    """The classic example, created at 2 replicas."""
    api.core.create_namespaced_service(namespace, headless_service())
    with PodEvents(api, namespace) as events:
        api.apps.create_namespaced_stateful_set(namespace, statefulset(2))
        for name in ("web-demo-0", "web-demo-1"):
            wait_pod_ready(api, namespace, name)
    return Web(namespace, events.names("ADDED"))


@pytest.fixture(scope="module")
def toolbox(api: Api, namespace: str) -> str:
    """A pod that looks names up from inside the cluster."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "toolbox"},
           "spec": {"terminationGracePeriodSeconds": 1, "containers": [
               {"name": "toolbox", "image": TOOLBOX_IMAGE, "imagePullPolicy": "Never"}]}}
    api.core.create_namespaced_pod(namespace, pod)
    wait_pod_ready(api, namespace, "toolbox")
    return "toolbox"


# --- the cluster ---------------------------------------------------------------------------------

def test_every_node_is_ready(api: Api) -> None:
    nodes = api.core.list_node().items
    ready = sorted(n.metadata.name for n in nodes
                   if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or ()))
    assert ready == [f"node-{i}" for i in range(1, NODES + 1)]


def test_nodes_have_their_own_pod_range_and_zone(api: Api) -> None:
    for node in api.core.list_node().items:
        index = int(node.metadata.name.split("-")[1])
        assert node.spec.pod_cidr == f"10.244.{index}.0/24"
        assert node.metadata.labels["kubernetes.io/hostname"] == node.metadata.name
        assert node.metadata.labels["topology.kubernetes.io/zone"] == f"zone-{index}"


def test_server_is_kubernetes_1_36(api: Api) -> None:
    assert api.version.get_code().git_version.startswith("v1.36.")


def test_kubectl_reports_the_server_version() -> None:
    kubectl = str(paths.bin_dir() / "kubectl")
    out = subprocess.run([kubectl, "version"], capture_output=True, text=True, check=True,
                         env={**os.environ, "KUBECONFIG": os.environ.get("KUBECONFIG") or str(paths.kubeconfig())})
    assert "Server Version: v1.36." in out.stdout


def test_default_storage_class_is_standard(api: Api) -> None:
    classes: list[Any] = client.StorageV1Api().list_storage_class().items
    defaults = [c.metadata.name for c in classes
                if (c.metadata.annotations or {}).get("storageclass.kubernetes.io/is-default-class") == "true"]
    assert defaults == ["standard"]


# --- the classic StatefulSet example -------------------------------------------------------------

def test_pods_start_in_order(api: Api, web: Web) -> None:
    assert web.created == ["web-demo-0", "web-demo-1"]
    first, second = get_pod(api, web.namespace, "web-demo-0"), get_pod(api, web.namespace, "web-demo-1")
    first_ready = next(c.last_transition_time for c in first.status.conditions if c.type == "Ready")
    assert second.metadata.creation_timestamp >= first_ready


def test_each_pod_gets_its_own_bound_claim_under_the_volumes_dir(api: Api, web: Web) -> None:
    ns = web.namespace
    volumes = paths.state_root() / "volumes"
    for ordinal in (0, 1):
        pvc = api.core.read_namespaced_persistent_volume_claim(f"www-web-demo-{ordinal}", ns)
        assert pvc.status.phase == "Bound"
        pv = api.core.read_persistent_volume(pvc.spec.volume_name)
        assert Path(pv.spec.host_path.path).parent.parent == volumes
        assert Path(pv.spec.host_path.path).is_dir()


def test_pod_name_resolves_from_another_pod_to_the_pod_ip(api: Api, web: Web, toolbox: str) -> None:
    ns = web.namespace
    name = f"web-demo-0.nginx-demo.{ns}.svc.cluster.local"
    pod_ip = get_pod(api, ns, "web-demo-0").status.pod_ip
    assert resolve_in(api, ns, toolbox, name) == {pod_ip}
    assert resolve_in(api, ns, toolbox, "web-demo-0.nginx-demo") == {pod_ip}  # search path


def test_this_machine_resolves_pod_names_through_incluster(api: Api, web: Web) -> None:
    ns = web.namespace
    name = f"web-demo-1.nginx-demo.{ns}.svc.cluster.local"
    pod_ip = get_pod(api, ns, "web-demo-1").status.pod_ip
    out = subprocess.run([sys.executable, "-m", "localcluster.incluster", "--", "getent", "ahostsv4", name],
                         capture_output=True, text=True, check=True)
    assert {line.split()[0] for line in out.stdout.splitlines()} == {pod_ip}


def test_deleted_pod_returns_with_same_name_claim_and_data_and_new_ip_resolves(
    api: Api, web: Web, toolbox: str,
) -> None:
    ns = web.namespace
    exec_in_pod(api, ns, "web-demo-0", ["sh", "-c", "echo kept-on-disk > /usr/share/nginx/html/index.html"])
    old = get_pod(api, ns, "web-demo-0")
    old_claim = api.core.read_namespaced_persistent_volume_claim("www-web-demo-0", ns).metadata.uid
    api.core.delete_namespaced_pod("web-demo-0", ns)
    new = wait_pod_ready(api, ns, "web-demo-0", not_uid=old.metadata.uid)
    assert new.status.pod_ip != old.status.pod_ip
    claim = next(v.persistent_volume_claim.claim_name for v in new.spec.volumes if v.persistent_volume_claim)
    assert claim == "www-web-demo-0"
    assert api.core.read_namespaced_persistent_volume_claim(claim, ns).metadata.uid == old_claim
    body = urllib.request.urlopen(f"http://{new.status.pod_ip}/", timeout=5).read().decode()
    assert body.strip() == "kept-on-disk"
    name = f"web-demo-0.nginx-demo.{ns}.svc.cluster.local"
    wait_until(lambda: resolve_in(api, ns, toolbox, name), DNS_FOLLOW_S, f"{name} -> {new.status.pod_ip}",
               until=lambda ips: ips == {new.status.pod_ip})


def test_scaling_to_5_and_back_creates_and_deletes_in_order(api: Api, web: Web) -> None:
    ns = web.namespace
    with PodEvents(api, ns) as events:
        api.apps.patch_namespaced_stateful_set_scale("web-demo", ns, {"spec": {"replicas": 5}})
        for ordinal in (2, 3, 4):
            wait_pod_ready(api, ns, f"web-demo-{ordinal}")
        api.apps.patch_namespaced_stateful_set_scale("web-demo", ns, {"spec": {"replicas": 2}})
        wait_until(lambda: events.names("DELETED"), POD_READY_S, "web-demo-4..2 deleted",
                   until=lambda gone: len(gone) >= 3)
    assert events.names("ADDED") == ["web-demo-2", "web-demo-3", "web-demo-4"]
    assert events.names("DELETED") == ["web-demo-4", "web-demo-3", "web-demo-2"]


def test_required_anti_affinity_spreads_pods_over_distinct_nodes(api: Api, namespace: str) -> None:
    replicas = min(3, NODES)
    labels = {"app": "spread"}
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "spread"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {
                "terminationGracePeriodSeconds": 1,
                "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": labels}, "topologyKey": "kubernetes.io/hostname"}]}},
                "containers": [{"name": "toolbox", "image": TOOLBOX_IMAGE, "imagePullPolicy": "Never"}],
            }}},
    }
    api.apps.create_namespaced_deployment(namespace, deployment)
    pods = wait_until(
        lambda: api.core.list_namespaced_pod(namespace, label_selector="app=spread").items,
        POD_READY_S, f"{replicas} spread pods Ready",
        until=lambda items: len(items) == replicas and all(is_ready(p) for p in items))
    assert len({p.spec.node_name for p in pods}) == replicas
    api.apps.delete_namespaced_deployment("spread", namespace)


# --- traffic stays on this machine ---------------------------------------------------------------

def ip_route_get(address: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "route", "get", address], capture_output=True, text=True, check=False)


def connect_error(address: str, port: int = 80) -> tuple[int | None, float]:
    """The errno of a TCP connect to ``address`` (None if it connected) and how long it took."""
    began = time.monotonic()
    with socket.socket() as sock:
        sock.settimeout(2)
        try:
            sock.connect((address, port))
        except OSError as err:
            return err.errno, time.monotonic() - began
    return None, time.monotonic() - began


def test_an_unused_pod_address_is_unreachable_here() -> None:
    route = ip_route_get("10.244.200.7")
    assert route.returncode != 0
    assert "No route to host" in route.stderr
    code, _took = connect_error("10.244.200.7")
    assert code in (errno.EHOSTUNREACH, errno.ENETUNREACH)


def test_an_unused_service_address_stays_on_the_portless_host_bridge() -> None:
    route = ip_route_get("10.96.200.7")
    assert route.returncode == 0
    assert f"dev {lay.HOST_BRIDGE}" in route.stdout
    ports = subprocess.run(["ip", "-o", "link", "show", "master", lay.HOST_BRIDGE],
                           capture_output=True, text=True, check=True).stdout
    assert ports.strip() == ""
    code, took = connect_error("10.96.200.7")
    assert code in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ECONNREFUSED)
    assert took < 1.0  # rejected here, not timed out somewhere else


def test_a_pod_cannot_send_to_an_address_outside_the_machine(api: Api, web: Web, toolbox: str) -> None:
    ns = web.namespace
    probe = "timeout 3 bash -c '</dev/tcp/203.0.113.7/80' 2>&1; echo rc=$?"
    out = exec_in_pod(api, ns, toolbox, ["bash", "-c", probe])
    assert "rc=0" not in out


def test_a_pod_reaches_the_api_and_dns_through_service_ips(api: Api, web: Web, toolbox: str) -> None:
    ns = web.namespace
    out = exec_in_pod(api, ns, toolbox, ["bash", "-c", "timeout 3 bash -c '</dev/tcp/10.96.0.1/443' && echo open"])
    assert "open" in out
    assert resolve_in(api, ns, toolbox, "kubernetes.default.svc.cluster.local") == {"10.96.0.1"}
