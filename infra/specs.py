"""Pure spec builders: settings in, Kubernetes argument objects out; no resources are created here."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from infra.workload import (
    AntiAffinity,
    AntiAffinityType,
    PodSecurity,
    ProbeTiming,
    Resources,
    RetentionPolicy,
    Storage,
    TopologySpread,
    UpdateStrategy,
    UpdateStrategyType,
)

core = k8s.core.v1
meta = k8s.meta.v1
apps = k8s.apps.v1


def pod_dns_names(
    statefulset: str, headless_service: str, namespace: str, cluster_domain: str, ordinals: range
) -> list[str]:
    """The stable DNS name of every pod: ``<sts>-<i>.<headless>.<ns>.svc.<domain>``."""
    return [f"{statefulset}-{i}.{headless_service}.{namespace}.svc.{cluster_domain}" for i in ordinals]


def _probe(
    timing: ProbeTiming,
    *,
    exec_: core.ExecActionArgs | None = None,
    http_get: core.HTTPGetActionArgs | None = None,
) -> core.ProbeArgs:
    return core.ProbeArgs(
        exec_=exec_,
        http_get=http_get,
        initial_delay_seconds=timing.initial_delay_seconds,
        period_seconds=timing.period_seconds,
        timeout_seconds=timing.timeout_seconds,
        failure_threshold=timing.failure_threshold,
        success_threshold=timing.success_threshold,
    )


def exec_probe(command: Sequence[str], timing: ProbeTiming) -> core.ProbeArgs:
    """A probe that runs ``command`` in the container; exit status 0 means healthy."""
    return _probe(timing, exec_=core.ExecActionArgs(command=list(command)))


def http_probe(path: str, port: str, timing: ProbeTiming) -> core.ProbeArgs:
    """A probe that GETs ``path`` on the named container port."""
    return _probe(timing, http_get=core.HTTPGetActionArgs(path=path, port=port))


def resource_requirements(resources: Resources) -> core.ResourceRequirementsArgs:
    """Container requests and limits."""
    return core.ResourceRequirementsArgs(
        requests=dict(resources.requests),
        limits=dict(resources.limits) or None,
    )


def container_security_context() -> core.SecurityContextArgs:
    """Least privilege for every container: no escalation, no capabilities, read-only root filesystem."""
    return core.SecurityContextArgs(
        allow_privilege_escalation=False,
        capabilities=core.CapabilitiesArgs(drop=["ALL"]),
        read_only_root_filesystem=True,
        run_as_non_root=True,
    )


def pod_security_context(security: PodSecurity, sysctls: Mapping[str, str]) -> core.PodSecurityContextArgs:
    """Non-root pod identity, volume group ownership, the runtime's seccomp profile and safe sysctls."""
    return core.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=security.run_as_user,
        run_as_group=security.run_as_group,
        fs_group=security.fs_group,
        fs_group_change_policy="OnRootMismatch",
        seccomp_profile=core.SeccompProfileArgs(type="RuntimeDefault"),
        sysctls=[core.SysctlArgs(name=name, value=value) for name, value in sysctls.items()] or None,
    )


def volume_claim_template(name: str, storage: Storage, labels: Mapping[str, str]) -> core.PersistentVolumeClaimArgs:
    """A volumeClaimTemplate: PVCs named ``<name>-<sts>-<ordinal>``."""
    return core.PersistentVolumeClaimArgs(
        metadata=meta.ObjectMetaArgs(name=name, labels=dict(labels)),
        spec=core.PersistentVolumeClaimSpecArgs(
            access_modes=[str(mode) for mode in storage.access_modes],
            storage_class_name=storage.storage_class_name,
            resources=core.VolumeResourceRequirementsArgs(requests={"storage": storage.size}),
        ),
    )


def pod_anti_affinity(rule: AntiAffinity, selector: Mapping[str, str]) -> core.AffinityArgs | None:
    """Keep pods selected by ``selector`` apart per ``rule.topology_key``; ``None`` when the rule is ``none``."""
    term = core.PodAffinityTermArgs(
        label_selector=meta.LabelSelectorArgs(match_labels=dict(selector)),
        topology_key=rule.topology_key,
    )
    if rule.type is AntiAffinityType.REQUIRED:
        anti = core.PodAntiAffinityArgs(required_during_scheduling_ignored_during_execution=[term])
    elif rule.type is AntiAffinityType.PREFERRED:
        anti = core.PodAntiAffinityArgs(
            preferred_during_scheduling_ignored_during_execution=[
                core.WeightedPodAffinityTermArgs(weight=rule.weight, pod_affinity_term=term)
            ]
        )
    else:
        return None
    return core.AffinityArgs(pod_anti_affinity=anti)


def topology_spread(
    constraints: Sequence[TopologySpread], selector: Mapping[str, str]
) -> list[core.TopologySpreadConstraintArgs] | None:
    """Topology spread constraints over the pods selected by ``selector``."""
    return [
        core.TopologySpreadConstraintArgs(
            max_skew=constraint.max_skew,
            topology_key=constraint.topology_key,
            when_unsatisfiable=str(constraint.when_unsatisfiable),
            label_selector=meta.LabelSelectorArgs(match_labels=dict(selector)),
        )
        for constraint in constraints
    ] or None


def update_strategy(strategy: UpdateStrategy) -> apps.StatefulSetUpdateStrategyArgs:
    """``spec.updateStrategy``; OnDelete carries no rollingUpdate block."""
    if strategy.type is UpdateStrategyType.ON_DELETE:
        return apps.StatefulSetUpdateStrategyArgs(type="OnDelete")
    return apps.StatefulSetUpdateStrategyArgs(
        type="RollingUpdate",
        rolling_update=apps.RollingUpdateStatefulSetStrategyArgs(
            partition=strategy.effective_partition,
            max_unavailable=strategy.max_unavailable,
        ),
    )


def retention_policy(policy: RetentionPolicy) -> apps.StatefulSetPersistentVolumeClaimRetentionPolicyArgs:
    """``spec.persistentVolumeClaimRetentionPolicy``."""
    return apps.StatefulSetPersistentVolumeClaimRetentionPolicyArgs(
        when_deleted=str(policy.when_deleted),
        when_scaled=str(policy.when_scaled),
    )


def config_checksum(data: Mapping[str, str]) -> str:
    """A digest of configuration files."""
    return hashlib.sha256(json.dumps(dict(data), sort_keys=True).encode()).hexdigest()


CONFIG_DIGEST_LENGTH = 10


def config_map_name(base: str, data: Mapping[str, str]) -> str:
    """The name of the immutable ConfigMap holding ``data``: ``<base>-<digest>``, so new files get a new name."""
    return f"{base}-{config_checksum(data)[:CONFIG_DIGEST_LENGTH]}"


def secret_digest(name: str, values: Mapping[str, str]) -> str:
    """A slow, salted digest of secret values: it tells revisions apart without helping to guess the values."""
    payload = json.dumps(dict(values), sort_keys=True).encode()
    return hashlib.pbkdf2_hmac("sha256", payload, f"stateful.pulumi.com/{name}".encode(), 200_000).hex()[:16]


def credentials_revision(name: str, data: Mapping[str, pulumi.Input[str]]) -> pulumi.Output[str]:
    """The pod-template annotation value that changes when any secret value changes (not itself secret)."""
    keys = sorted(data)
    values = pulumi.Output.all(*(data[key] for key in keys))
    return pulumi.Output.unsecret(values.apply(lambda vs: secret_digest(name, dict(zip(keys, vs, strict=True)))))
