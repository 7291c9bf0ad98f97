"""Pieces every app uses: namespace checks, pod plumbing and the stack-output shape the smoke tests read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi_kubernetes as k8s

from infra import specs
from infra.errors import InvalidFieldError
from infra.statefulservice import StatefulServiceArgs
from infra.workload import DNS_LABEL, DisruptionBudget, Resources, UpdateStrategyType, WorkloadSpec

core = k8s.core.v1

TMP_VOLUME = "tmp"


def check_namespace(namespace: str) -> None:
    """Raise unless ``namespace`` is a valid Namespace name."""
    if not DNS_LABEL.match(namespace) or len(namespace) > 63:
        raise InvalidFieldError("namespace", f"must be a DNS-1123 label (lower case, digits, '-'), got {namespace!r}")


def budget_or(workload: WorkloadSpec, default: DisruptionBudget) -> DisruptionBudget:
    """The configured PodDisruptionBudget, or the app's default when none is configured."""
    return workload.pod_disruption_budget or default


def container(
    workload: WorkloadSpec,
    *,
    name: str,
    command: list[str],
    mounts: Mapping[str, str],
    read_only_mounts: Mapping[str, str] | None = None,
    env: list[core.EnvVarArgs] | None = None,
    ports: Mapping[str, int] | None = None,
    readiness: core.ProbeArgs | None = None,
    liveness: core.ProbeArgs | None = None,
    startup: core.ProbeArgs | None = None,
    resources: Resources | None = None,
) -> core.ContainerArgs:
    """A container of the workload's image with least privilege, the workload's resources and ``/tmp``."""
    volume_mounts = [core.VolumeMountArgs(name=volume, mount_path=path) for volume, path in mounts.items()]
    volume_mounts += [
        core.VolumeMountArgs(name=volume, mount_path=path, read_only=True)
        for volume, path in (read_only_mounts or {}).items()
    ]
    volume_mounts.append(core.VolumeMountArgs(name=TMP_VOLUME, mount_path="/tmp"))
    return core.ContainerArgs(
        name=name,
        image=workload.image,
        image_pull_policy=str(workload.image_pull_policy),
        command=command,
        env=env,
        ports=[core.ContainerPortArgs(name=port_name, container_port=port) for port_name, port in (ports or {}).items()]
        or None,
        volume_mounts=volume_mounts,
        readiness_probe=readiness,
        liveness_probe=liveness,
        startup_probe=startup,
        resources=specs.resource_requirements(resources or workload.resources),
        security_context=specs.container_security_context(),
    )


def empty_dir(name: str, in_memory: bool = False) -> core.VolumeArgs:
    """A pod-local scratch volume (``in_memory`` keeps it off the node's disk, for secrets)."""
    return core.VolumeArgs(name=name, empty_dir=core.EmptyDirVolumeSourceArgs(medium="Memory" if in_memory else None))


def plain_env(variable: str, value: str) -> core.EnvVarArgs:
    """An environment variable with a literal value."""
    return core.EnvVarArgs(name=variable, value=value)


def secret_env(variable: str, secret: str, key: str) -> core.EnvVarArgs:
    """An environment variable read from a Secret key."""
    return core.EnvVarArgs(
        name=variable,
        value_from=core.EnvVarSourceArgs(secret_key_ref=core.SecretKeySelectorArgs(name=secret, key=key)),
    )


def app_outputs(
    args: StatefulServiceArgs, namespace: str, cluster_domain: str, ports: Mapping[str, int]
) -> dict[str, Any]:
    """The stack output of one app: every name and address a smoke test needs."""
    workload = args.workload
    strategy = workload.update_strategy
    services = {args.headless_service_name: {port.name: port.port for port in args.headless_ports}}
    services.update(
        {service.name: {port.name: port.port for port in service.ports} for service in args.client_services}
    )
    return {
        "namespace": namespace,
        "statefulset": args.statefulset_name,
        "headless_service": args.headless_service_name,
        "services": services,
        "replicas": workload.replicas,
        "ports": dict(ports),
        "pod_dns": specs.pod_dns_names(
            args.statefulset_name, args.headless_service_name, namespace, cluster_domain, workload.ordinal_range
        ),
        "selector": args.selector,
        "update_strategy": {
            "type": str(strategy.type),
            "partition": strategy.effective_partition if strategy.type is UpdateStrategyType.ROLLING_UPDATE else None,
        },
    }
