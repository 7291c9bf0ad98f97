"""Fixtures shared by the test suites: rendering the program under Pulumi mocks with a given config."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from apps.stack import StackSettings, parse_stack_settings
from policy.render import RenderedResource, Rendering, render

PROJECT = "stateful"
PASSWORDS = {"mysqlRootPassword": "root-pass", "mysqlReplicationPassword": "repl-pass", "mysqlAppPassword": "app-pass"}

Sections = Mapping[str, Any]
Render = Callable[..., Rendering]
Parse = Callable[..., StackSettings]


def raw_config(sections: Sections | None = None, *, passwords: bool = True) -> dict[str, str]:
    """Short key -> raw value, as the language host passes config: objects as JSON, scalars as text."""
    raw = dict(PASSWORDS) if passwords else {}
    for key, value in (sections or {}).items():
        raw[key] = value if isinstance(value, str) else json.dumps(value)
    return raw


# One rendering with a non-default value for (nearly) every setting, so that each setting's test reads
# its effect without a render of its own (rendering under mocks is the slow part of the suite).
CUSTOM: dict[str, Any] = {
    "clusterDomain": "example.internal",
    "kubeconfigContext": "kind-local",
    "nginx": {
        "namespace": "web",
        "createNamespace": False,
        "replicas": 4,
        "podManagementPolicy": "Parallel",
        "updateStrategy": {"partition": 1, "maxUnavailable": "50%"},
        "storage": {"size": "3Gi", "storageClassName": "standard", "accessModes": ["ReadWriteOncePod"]},
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Retain"},
        "minReadySeconds": 15,
        "ordinals": {"start": 1},
        "revisionHistoryLimit": 3,
        "terminationGracePeriodSeconds": 20,
        "resources": {"requests": {"cpu": 1, "memory": "2Gi"}, "limits": {"memory": "3Gi", "cpu": "2"}},
        "securityContext": {"runAsUser": 1001, "runAsGroup": 1002, "fsGroup": 1003},
        "podAntiAffinity": {"type": "preferred", "weight": 40, "topologyKey": "topology.kubernetes.io/zone"},
        "topologySpreadConstraints": [
            {"topologyKey": "topology.kubernetes.io/zone", "maxSkew": 2, "whenUnsatisfiable": "DoNotSchedule"}
        ],
        "podDisruptionBudget": {"minAvailable": 2},
        "nodeSelector": {"disktype": "ssd"},
        "probes": {
            "readiness": {"periodSeconds": 7, "successThreshold": 2},
            "liveness": {"failureThreshold": 9},
            "startup": {"initialDelaySeconds": 4, "timeoutSeconds": 6},
        },
        "rolloutTimeoutSeconds": 123,
        "publishNotReadyAddresses": True,
    },
    "zookeeper": {
        "namespace": "coordination",
        "image": "stateful.local/zookeeper:3.8",
        "imagePullPolicy": "Never",
        "podAntiAffinity": {"type": "required"},
        "tickTime": 1500,
        "initLimit": 20,
        "syncLimit": 7,
        "maxClientCnxns": 0,
        "minSessionTimeout": 5000,
        "maxSessionTimeout": 60000,
        "snapRetainCount": 5,
        "purgeInterval": 0,
        "heapMb": 300,
        "jvmFlags": "-XX:+UseSerialGC",
        "logLevel": "WARN",
        "probes": {"readiness": {"periodSeconds": 9}},
    },
    "mysql": {
        "namespace": "coordination",
        "updateStrategy": {"type": "OnDelete"},
        "podAntiAffinity": {"type": "none"},
        "ordinals": {"start": 1},
        "primaryService": False,
        "netWriteTimeout": 5,
        "innodbBufferPoolSize": "1G",
    },
}

_cache: dict[str, Rendering] = {}


def render_sections(
    sections: Sections | None = None,
    *,
    passwords: bool = True,
    secret_keys: tuple[str, ...] | None = None,
    registered: list[RenderedResource] | None = None,
) -> Rendering:
    """Render the program with ``sections`` (short keys) plus the passwords as secrets."""
    raw = raw_config(sections, passwords=passwords)
    secrets = tuple(PASSWORDS) if secret_keys is None else secret_keys
    full = {f"{PROJECT}:{key}": value for key, value in raw.items()}
    full_secrets = {f"{PROJECT}:{key}" for key in secrets if key in raw}
    if registered is not None:
        return render(full, full_secrets, registered=registered)
    cache_key = json.dumps([full, sorted(full_secrets)], sort_keys=True)
    if cache_key not in _cache:
        _cache[cache_key] = render(full, full_secrets)
    return _cache[cache_key]


@pytest.fixture
def rendered() -> Render:
    """Render the program for some config sections (cached: renderings are read-only)."""
    return render_sections


@pytest.fixture
def custom() -> Rendering:
    """The rendering of ``CUSTOM``."""
    return render_sections(CUSTOM)


@pytest.fixture
def parse() -> Parse:
    """Parse settings from config sections (short keys) with the passwords set as secrets."""

    def _parse(sections: Sections | None = None, *, passwords: bool = True, secret: bool = True) -> StackSettings:
        raw = raw_config(sections, passwords=passwords)
        return parse_stack_settings(raw, set(PASSWORDS) if secret else set())

    return _parse
