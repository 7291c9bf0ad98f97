"""Policies on the pods a workload runs: probes, requests, limits, pinned images, restricted pod security.

They apply to every object with a pod template (StatefulSet, Deployment, DaemonSet, Job, CronJob, Pod)
and read its inputs, so a violation stops the change before it reaches the cluster.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from infra.imageref import image_problem
from infra.labels import NAME
from policy.kube import PROJECT_APPS, containers, describe, mapping, pod_labels, pod_spec, sequence
from policy.model import Level, ResourceArgs, ResourcePolicy

#: Sysctls the Pod Security Standards allow at the baseline and restricted levels (Kubernetes 1.29+).
SAFE_SYSCTLS = frozenset({
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
})
#: Volume types the restricted level allows.
RESTRICTED_VOLUMES = frozenset({
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "image", "persistentVolumeClaim", "projected",
    "secret",
})
_SECCOMP = frozenset({"RuntimeDefault", "Localhost"})


def check_probes(args: ResourceArgs) -> Iterator[str]:
    """Every container has a readiness probe; the main (first) container also a liveness probe."""
    pod = pod_spec(args)
    if pod is None:
        return
    for index, container in enumerate(containers(pod, init=False)):
        name = container.get("name")
        if "readinessProbe" not in container:
            yield f"{describe(args)}: container {name} has no readinessProbe"
        if index == 0 and "livenessProbe" not in container:
            yield f"{describe(args)}: container {name} has no livenessProbe"


def check_requests(args: ResourceArgs) -> Iterator[str]:
    """Every container, init containers too, requests cpu and memory (the scheduler places pods by them)."""
    pod = pod_spec(args)
    if pod is None:
        return
    for container in containers(pod):
        requests = mapping(mapping(container.get("resources")).get("requests"))
        missing = [name for name in ("cpu", "memory") if name not in requests]
        if missing:
            yield f"{describe(args)}: container {container.get('name')} requests no {' or '.join(missing)}"


def check_memory_limits(args: ResourceArgs) -> Iterator[str]:
    """Every container sets a memory limit (a leak then kills one container, not the node's neighbours)."""
    pod = pod_spec(args)
    if pod is None:
        return
    for container in containers(pod):
        if "memory" not in mapping(mapping(container.get("resources")).get("limits")):
            yield f"{describe(args)}: container {container.get('name')} sets no memory limit"


def check_pinned_images(args: ResourceArgs) -> Iterator[str]:
    """Every image names a fixed tag or a digest: no ``latest``, no untagged image (which means latest)."""
    pod = pod_spec(args)
    if pod is None:
        return
    for container in containers(pod):
        problem = image_problem(str(container.get("image") or ""))
        if problem is not None:
            yield f"{describe(args)}: container {container.get('name')}: image {problem}{_config_hint(args)}"


def _config_hint(args: ResourceArgs) -> str:
    """`` (stack config stateful:nginx.image)`` for a workload of one of the project's apps, else nothing."""
    app = pod_labels(args).get(NAME)
    return f" (stack config stateful:{app}.image)" if app in PROJECT_APPS else ""


def check_restricted(args: ResourceArgs) -> Iterator[str]:
    """The pod meets the Kubernetes Pod Security Standards' restricted level (so does a namespace enforcing it).

    Host namespaces, host paths and ports, privileged containers, added capabilities other than
    NET_BIND_SERVICE, unsafe sysctls and non-default /proc mounts are refused; every container runs as a
    non-root user, drops ALL capabilities, cannot escalate privileges and has a RuntimeDefault or Localhost
    seccomp profile (its own or the pod's).
    """
    pod = pod_spec(args)
    if pod is None:
        return
    where = describe(args)
    for problem in _pod_problems(pod):
        yield f"{where}: {problem}"
    pod_context = mapping(pod.get("securityContext"))
    for container in containers(pod):
        for problem in _container_problems(container, pod_context):
            yield f"{where}: container {container.get('name')} {problem}"


def _pod_problems(pod: Mapping[str, Any]) -> Iterator[str]:
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(field) is True:
            yield f"uses the host's namespace ({field}: true)"
    for volume in sequence(pod.get("volumes")):
        types = sorted(set(mapping(volume)) - {"name"} - RESTRICTED_VOLUMES)
        if types:
            yield f"volume {mapping(volume).get('name')} is of a type the restricted level refuses: {', '.join(types)}"
    context = mapping(pod.get("securityContext"))
    for sysctl in sequence(context.get("sysctls")):
        name = mapping(sysctl).get("name")
        if name not in SAFE_SYSCTLS:
            yield f"sets the unsafe sysctl {name}"
    if context.get("runAsUser") == 0:
        yield "runs as root (securityContext.runAsUser: 0)"


def _container_problems(container: Mapping[str, Any], pod_context: Mapping[str, Any]) -> Iterator[str]:
    context = mapping(container.get("securityContext"))
    if context.get("privileged") is True:
        yield "is privileged"
    if context.get("allowPrivilegeEscalation") is not False:
        yield "may escalate privileges (securityContext.allowPrivilegeEscalation is not false)"
    non_root = context.get("runAsNonRoot", pod_context.get("runAsNonRoot"))
    if non_root is not True:
        yield "may run as root (runAsNonRoot is not true, neither its own nor the pod's)"
    if context.get("runAsUser") == 0:
        yield "runs as root (securityContext.runAsUser: 0)"
    capabilities = mapping(context.get("capabilities"))
    if "ALL" not in {str(name) for name in sequence(capabilities.get("drop"))}:
        yield "does not drop ALL capabilities"
    added = sorted({str(name) for name in sequence(capabilities.get("add"))} - {"NET_BIND_SERVICE"})
    if added:
        yield f"adds the capabilities {', '.join(added)} (only NET_BIND_SERVICE may be added)"
    seccomp = mapping(context.get("seccompProfile")) or mapping(pod_context.get("seccompProfile"))
    if seccomp.get("type") not in _SECCOMP:
        yield "has no RuntimeDefault or Localhost seccomp profile (neither its own nor the pod's)"
    if context.get("procMount", "Default") != "Default":
        yield f"mounts /proc as {context.get('procMount')}"
    for port in sequence(container.get("ports")):
        if mapping(port).get("hostPort"):
            yield f"binds the host's port {mapping(port).get('hostPort')}"


POLICIES = (
    ResourcePolicy(
        "probes",
        "Every container has a readiness probe and the main container a liveness probe.",
        check_probes,
    ),
    ResourcePolicy(
        "resource-requests",
        "Every container, init containers included, requests cpu and memory.",
        check_requests,
    ),
    ResourcePolicy(
        "pinned-images",
        "Every image names a pinned tag or a digest: no latest, no untagged image.",
        check_pinned_images,
    ),
    ResourcePolicy(
        "restricted-pod-security",
        "Pods meet the Pod Security Standards' restricted level: non-root, no privilege escalation, "
        "ALL capabilities dropped, a RuntimeDefault seccomp profile, nothing from the host.",
        check_restricted,
    ),
    ResourcePolicy(
        "memory-limits",
        "Every container sets a memory limit (advisory: some teams leave limits to the namespace).",
        check_memory_limits,
        Level.ADVISORY,
    ),
)
