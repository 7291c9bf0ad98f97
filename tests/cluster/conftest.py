"""Fixtures for the cluster-infrastructure tests: API clients and a throwaway namespace.

These tests need a running local cluster (``make cluster``) and nothing from Pulumi. The kubeconfig
comes from ``$KUBECONFIG`` (default: the local cluster's admin kubeconfig). Run them through
``python -m localcluster.incluster -- pytest -m cluster tests/cluster`` or as part of
``make cluster-test``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from harness.kube import Kube
from localcluster import paths

# The tutorial's namespace is `demo`, but the deployed stack owns `demo` (its nginx app), so these
# infrastructure tests use their own namespace unless told otherwise (CLUSTER_TEST_NAMESPACE=demo on a
# cluster without the stack reproduces the tutorial to the letter).
NAMESPACE = os.environ.get("CLUSTER_TEST_NAMESPACE", "classic-demo")


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker these tests carry (harmless if the project registers it too)."""
    config.addinivalue_line("markers", "cluster: needs a running cluster")


@dataclass(frozen=True)
class Api(Kube):
    """The smoke tests' API groups, and the version API (the client ships no useful types: Any)."""

    version: Any = None


@pytest.fixture(scope="session")
def api() -> Api:
    """Clients for ``$KUBECONFIG``, or the local cluster's admin kubeconfig."""
    load: Any = config.load_kube_config
    load(config_file=os.environ.get("KUBECONFIG") or str(paths.kubeconfig()))
    return Api(core=client.CoreV1Api(), apps=client.AppsV1Api(), version=client.VersionApi())


def _delete_namespace(api: Api, name: str, timeout: float = 180.0) -> None:
    try:
        api.core.delete_namespace(name)
    except ApiException as err:
        if err.status == 404:
            return
        raise
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            api.core.read_namespace(name)
        except ApiException as err:
            if err.status == 404:
                return
            raise
        time.sleep(0.5)
    raise AssertionError(f"namespace {name} still exists {timeout:.0f} s after deletion")


def _refuse_managed(api: Api, name: str) -> None:
    try:
        ns = api.core.read_namespace(name)
    except ApiException as err:
        if err.status == 404:
            return
        raise
    labels = ns.metadata.labels or {}
    if labels.get("app.kubernetes.io/managed-by") == "pulumi":
        pytest.fail(f"namespace {name} is managed by a Pulumi stack; set CLUSTER_TEST_NAMESPACE to another name")


@pytest.fixture(scope="module")
def namespace(api: Api) -> Iterator[str]:
    """A fresh namespace, deleted (with its claims and volumes) afterwards; never one Pulumi manages."""
    _refuse_managed(api, NAMESPACE)
    _delete_namespace(api, NAMESPACE)
    api.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
    yield NAMESPACE
    _delete_namespace(api, NAMESPACE)
