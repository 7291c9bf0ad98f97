"""Policies on the pods a workload runs: probes, requests, limits, pinned images, restricted security."""

from __future__ import annotations

from typing import Any

import pytest
from policy_support import changed, messages, pod, stack

from policy.model import Resource, Stack


def test_a_sidecar_without_readiness_probe_is_reported() -> None:
    def change(props: dict[str, Any]) -> None:
        pod(props)["containers"][1].pop("readinessProbe")

    assert messages("probes", changed(stack(), "StatefulSet", "mysql", change)) == [
        "StatefulSet mysql/mysql: container replication has no readinessProbe"
    ]


def test_a_main_container_without_liveness_probe_is_reported() -> None:
    def change(props: dict[str, Any]) -> None:
        pod(props)["containers"][0].pop("livenessProbe")

    assert messages("probes", changed(stack(), "StatefulSet", "zk", change)) == [
        "StatefulSet zookeeper/zk: container zookeeper has no livenessProbe"
    ]


def test_a_deployment_is_held_to_the_same_pod_rules() -> None:
    deployment = Resource(
        "kubernetes:apps/v1:Deployment",
        {"metadata": {"name": "d", "namespace": "n"}, "spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}},
    )
    assert messages("probes", Stack((deployment,))) == [
        "Deployment n/d: container c has no readinessProbe",
        "Deployment n/d: container c has no livenessProbe",
    ]


def test_an_init_container_without_requests_is_reported() -> None:
    def change(props: dict[str, Any]) -> None:
        pod(props)["initContainers"][0]["resources"].pop("requests")

    assert messages("resource-requests", changed(stack(), "StatefulSet", "web-demo", change)) == [
        "StatefulSet demo/web-demo: container index requests no cpu or memory"
    ]


def test_a_container_without_memory_limit_is_advised_against() -> None:
    def change(props: dict[str, Any]) -> None:
        pod(props)["containers"][0]["resources"].pop("limits")

    assert messages("memory-limits", changed(stack(), "StatefulSet", "web-demo", change)) == [
        "StatefulSet demo/web-demo: container nginx sets no memory limit"
    ]


@pytest.mark.parametrize(
    ("image", "problem"),
    [("nginx", "untagged means latest"), ("stateful.local/nginx:latest", "not latest")],
)
def test_an_unpinned_image_is_reported(image: str, problem: str) -> None:
    def change(props: dict[str, Any]) -> None:
        pod(props)["containers"][0]["image"] = image

    (message,) = messages("pinned-images", changed(stack(), "StatefulSet", "web-demo", change))
    assert message.startswith("StatefulSet demo/web-demo: container nginx: image must name a pinned")
    assert problem in message


def test_an_image_pinned_by_digest_passes() -> None:
    def change(props: dict[str, Any]) -> None:
        pod(props)["containers"][0]["image"] = "nginx:latest@sha256:" + "a" * 64

    assert messages("pinned-images", changed(stack(), "StatefulSet", "web-demo", change)) == []


def restricted(change: Any) -> list[str]:
    return messages("restricted-pod-security", changed(stack(), "StatefulSet", "zk", change))


def test_a_pod_allowed_to_run_as_root_is_reported() -> None:
    def change(props: dict[str, Any]) -> None:
        pod(props)["securityContext"].update(runAsNonRoot=False, runAsUser=0)
        pod(props)["containers"][0]["securityContext"].pop("runAsNonRoot")

    assert restricted(change) == [
        "StatefulSet zookeeper/zk: runs as root (securityContext.runAsUser: 0)",
        "StatefulSet zookeeper/zk: container zookeeper may run as root (runAsNonRoot is not true, neither its own "
        "nor the pod's)",
    ]


def test_a_container_allowed_to_escalate_is_reported() -> None:
    def change(props: dict[str, Any]) -> None:
        pod(props)["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True

    assert restricted(change) == [
        "StatefulSet zookeeper/zk: container zookeeper may escalate privileges "
        "(securityContext.allowPrivilegeEscalation is not false)"
    ]


def test_capabilities_beyond_net_bind_service_are_reported() -> None:
    def change(props: dict[str, Any]) -> None:
        pod(props)["containers"][0]["securityContext"]["capabilities"] = {"add": ["NET_BIND_SERVICE", "SYS_ADMIN"]}

    assert restricted(change) == [
        "StatefulSet zookeeper/zk: container zookeeper does not drop ALL capabilities",
        "StatefulSet zookeeper/zk: container zookeeper adds the capabilities SYS_ADMIN (only NET_BIND_SERVICE may "
        "be added)",
    ]


def test_an_unconfined_seccomp_profile_is_reported() -> None:
    def change(props: dict[str, Any]) -> None:
        pod(props)["containers"][0]["securityContext"]["seccompProfile"] = {"type": "Unconfined"}

    assert restricted(change) == [
        "StatefulSet zookeeper/zk: container zookeeper has no RuntimeDefault or Localhost seccomp profile "
        "(neither its own nor the pod's)"
    ]


def test_anything_from_the_host_is_reported() -> None:
    def change(props: dict[str, Any]) -> None:
        pod(props)["hostNetwork"] = True
        pod(props)["volumes"].append({"name": "root", "hostPath": {"path": "/"}})
        pod(props)["containers"][0]["ports"] = [{"containerPort": 2181, "hostPort": 2181}]

    assert restricted(change) == [
        "StatefulSet zookeeper/zk: uses the host's namespace (hostNetwork: true)",
        "StatefulSet zookeeper/zk: volume root is of a type the restricted level refuses: hostPath",
        "StatefulSet zookeeper/zk: container zookeeper binds the host's port 2181",
    ]


def test_an_unsafe_sysctl_is_reported_and_a_safe_one_passes() -> None:
    def change(props: dict[str, Any]) -> None:
        pod(props)["securityContext"]["sysctls"] = [
            {"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"},
            {"name": "kernel.msgmax", "value": "65536"},
        ]

    assert restricted(change) == ["StatefulSet zookeeper/zk: sets the unsafe sysctl kernel.msgmax"]


def test_a_privileged_init_container_is_reported() -> None:
    def change(props: dict[str, Any]) -> None:
        pod(props)["initContainers"][0]["securityContext"]["privileged"] = True

    assert messages("restricted-pod-security", changed(stack(), "StatefulSet", "mysql", change)) == [
        "StatefulSet mysql/mysql: container init-config is privileged"
    ]
