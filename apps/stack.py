"""The whole stack's settings (parsed once from config) and the deployment of every enabled app."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from apps import mysql, nginx, zookeeper
from apps.config import ConfigError, build
from apps.mysql import MySQLCredentials, MySQLSettings
from apps.nginx import NginxSettings
from apps.zookeeper import ZooKeeperSettings
from infra.imageref import pin_problem
from infra.podsecurity import PodSecurityLevels, namespace_labels
from infra.workload import DNS_SUBDOMAIN, RetentionAction

PROJECT = "stateful"
SECRET_KEYS = ("mysqlRootPassword", "mysqlReplicationPassword", "mysqlAppPassword")
_SECTIONS: dict[str, type[Any]] = {"nginx": NginxSettings, "zookeeper": ZooKeeperSettings, "mysql": MySQLSettings}
_SCALARS = ("clusterDomain", "kubeconfigContext")
POD_SECURITY = "podSecurity"
KNOWN_KEYS = (*_SCALARS, POD_SECURITY, *_SECTIONS, *SECRET_KEYS)


@dataclass(frozen=True, kw_only=True)
class StackSettings:
    """Every setting of one stack."""

    cluster_domain: str = "cluster.local"
    kubeconfig_context: str | None = None
    #: The Pod Security levels of every namespace the stack creates (``stateful:podSecurity``).
    pod_security: PodSecurityLevels = field(default_factory=PodSecurityLevels)
    nginx: NginxSettings = field(default_factory=NginxSettings)
    zookeeper: ZooKeeperSettings = field(default_factory=ZooKeeperSettings)
    mysql: MySQLSettings = field(default_factory=MySQLSettings)


def _key(name: str) -> str:
    return f"{PROJECT}:{name}"


def _decode_section(name: str, raw: str) -> object:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        raise ConfigError(f"{_key(name)} must be an object (a YAML mapping), got {raw!r}") from None


def parse_stack_settings(raw: Mapping[str, str], secret_keys: Collection[str]) -> StackSettings:
    """Parse the project's config (short key -> raw value, objects as JSON) into settings, or raise ConfigError.

    ``secret_keys`` lists the short keys stored as secrets; the passwords must be among them.
    """
    unknown = sorted(set(raw) - set(KNOWN_KEYS))
    if unknown:
        raise ConfigError(f"{_key(unknown[0])} is not a known setting; known settings: {', '.join(KNOWN_KEYS)}")
    sections: dict[str, Any] = {
        name: build(cls, _decode_section(name, raw[name]), _key(name), cls()) if name in raw else cls()
        for name, cls in _SECTIONS.items()
    }
    cluster_domain = raw.get("clusterDomain", "cluster.local")
    if not DNS_SUBDOMAIN.match(cluster_domain):
        raise ConfigError(f"{_key('clusterDomain')} must be a DNS domain such as cluster.local, got {cluster_domain!r}")
    context = raw.get("kubeconfigContext")
    if context is not None and not context.strip():
        raise ConfigError(f"{_key('kubeconfigContext')} must name a kubeconfig context, got an empty string")
    pod_security = PodSecurityLevels()
    if POD_SECURITY in raw:
        pod_security = build(
            PodSecurityLevels, _decode_section(POD_SECURITY, raw[POD_SECURITY]), _key(POD_SECURITY), pod_security
        )
    settings = StackSettings(
        cluster_domain=cluster_domain, kubeconfig_context=context, pod_security=pod_security, **sections
    )
    if settings.mysql.enabled:
        _check_secrets(raw, secret_keys)
    return settings


def unpinned_images(settings: StackSettings) -> list[str]:
    """Warnings naming each enabled app's config key whose image is not pinned (the policy pack refuses them)."""
    warnings = []
    for name in _SECTIONS:
        section = getattr(settings, name)
        if not section.enabled:
            continue
        problem = pin_problem(section.workload.image)
        if problem is not None:
            warnings.append(f"{_key(name)}.image {problem}; the policy pack's mandatory pinned-images refuses it")
    return warnings


def _check_secrets(raw: Mapping[str, str], secret_keys: Collection[str]) -> None:
    for name in SECRET_KEYS:
        command = f"pulumi config set --secret {_key(name)} <password>"
        if name not in raw:
            raise ConfigError(f"{_key(name)} must be set (MySQL is enabled): {command}")
        if name not in secret_keys:
            raise ConfigError(f"{_key(name)} must be stored as a secret, not in plain text: {command}")
        if not raw[name]:
            raise ConfigError(f"{_key(name)} must not be empty: {command}")


@dataclass(frozen=True)
class NamespacePlan:
    """Whether the stack creates a namespace, and whether `pulumi destroy` leaves it (and its volumes) alone."""

    create: bool
    retain_on_delete: bool


def namespace_plan(settings: StackSettings) -> dict[str, NamespacePlan]:
    """One entry per namespace of an enabled app; a namespace is kept on destroy when a workload retains volumes."""
    members: dict[str, list[Any]] = {}
    for app in (settings.nginx, settings.zookeeper, settings.mysql):
        if app.enabled:
            members.setdefault(app.namespace, []).append(app)
    return {
        namespace: NamespacePlan(
            create=any(app.create_namespace for app in apps),
            retain_on_delete=any(
                app.workload.persistent_volume_claim_retention_policy.when_deleted is RetentionAction.RETAIN
                for app in apps
            ),
        )
        for namespace, apps in members.items()
    }


def _namespaces(settings: StackSettings, provider: k8s.Provider) -> dict[str, pulumi.Output[str]]:
    """Create each planned namespace once (with the stack's Pod Security levels); return every name as an Output."""
    names: dict[str, pulumi.Output[str]] = {}
    for namespace, plan in namespace_plan(settings).items():
        if not plan.create:
            names[namespace] = pulumi.Output.from_input(namespace)
            continue
        created = k8s.core.v1.Namespace(
            f"namespace-{namespace}",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=namespace,
                labels={
                    "app.kubernetes.io/managed-by": "pulumi",
                    "app.kubernetes.io/part-of": PROJECT,
                    **namespace_labels(settings.pod_security),
                },
            ),
            opts=pulumi.ResourceOptions(provider=provider, retain_on_delete=plan.retain_on_delete),
        )
        names[namespace] = created.metadata.name
    return names


def deploy(settings: StackSettings, provider: k8s.Provider, credentials: MySQLCredentials | None) -> dict[str, Any]:
    """Create every enabled app; return the stack outputs (one per app, plus ``cluster_domain``)."""
    namespaces = _namespaces(settings, provider)
    opts = pulumi.ResourceOptions(provider=provider)
    domain = settings.cluster_domain
    outputs: dict[str, Any] = {"cluster_domain": domain}
    context = settings.kubeconfig_context
    if settings.nginx.enabled:
        outputs["nginx"] = nginx.deploy(
            settings.nginx, namespaces[settings.nginx.namespace], domain, opts, kube_context=context
        )
    if settings.zookeeper.enabled:
        outputs["zookeeper"] = zookeeper.deploy(
            settings.zookeeper, namespaces[settings.zookeeper.namespace], domain, opts, kube_context=context
        )
    if settings.mysql.enabled:
        if credentials is None:
            raise ConfigError("MySQL is enabled but no credentials were read")
        outputs["mysql"] = mysql.deploy(
            settings.mysql, credentials, namespaces[settings.mysql.namespace], domain, opts, kube_context=context
        )
    return outputs
