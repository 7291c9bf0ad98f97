"""Fixtures for the post-deploy smoke tests.

Which stack and cluster: ``$STACK`` (default ``local``) and ``$KUBECONFIG`` with the optional context
``$KUBE_CONTEXT``. Run through ``python -m localcluster.incluster -- pytest -m cluster tests/smoke`` so
that the cluster's DNS names resolve and pod IPs are reachable from the test process.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from harness.kube import Kube, connect, wait_rolled_out
from harness.mysqldb import DrillDatabase, Login, writes_database
from harness.stack import App, StackDriver, outputs_of, project_file, stack_config_file
from localcluster import env
from policy import install

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def stack_name() -> str:
    """The stack under test."""
    return os.environ.get("STACK", "local")


@pytest.fixture(scope="session")
def stack(stack_name: str) -> auto.Stack:
    """The deployed stack, selected with the project's Pulumi environment (and the policy pack's virtualenv)."""
    env.apply()
    install.ensure()
    try:
        return auto.select_stack(stack_name=stack_name, work_dir=str(REPO))
    except auto.errors.StackNotFoundError:
        pytest.fail(f"stack {stack_name!r} does not exist: deploy it first (make up, or STACK=<name>)")


@pytest.fixture(scope="session")
def outputs(stack: auto.Stack, stack_name: str) -> dict[str, Any]:
    """The stack outputs: the only place the tests learn names from."""
    outs = outputs_of(stack)
    if not outs:
        pytest.fail(f"stack {stack_name!r} has no outputs: has it been deployed (make up)?")
    return outs


@pytest.fixture(scope="session")
def driver(stack: auto.Stack, stack_name: str) -> Iterator[StackDriver]:
    """Changes the stack's config for a test and deploys it back; prints pulumi's output on failure."""
    drv = StackDriver(stack, stack_config_file(REPO, stack_name), str(project_file(REPO)["name"]))
    yield drv
    if drv.changed:  # a test's own restore failed: leave the stack as its config says
        drv.restore()


@pytest.fixture(scope="session")
def kube(stack: auto.Stack) -> Kube:
    """Kubernetes API clients for ``$KUBECONFIG`` / ``$KUBE_CONTEXT`` (after the project env is applied)."""
    return connect(os.environ.get("KUBE_CONTEXT") or None)


@pytest.fixture(scope="session")
def run_id() -> str:
    """A short id unique to this run, for the znodes, databases, users and files the tests create."""
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def nginx(outputs: dict[str, Any]) -> App:
    """The nginx web StatefulSet's stack output."""
    return App.from_outputs(outputs, "nginx")


@pytest.fixture(scope="session")
def zookeeper(outputs: dict[str, Any]) -> App:
    """The ZooKeeper ensemble's stack output."""
    return App.from_outputs(outputs, "zookeeper")


@pytest.fixture(scope="session")
def mysql(outputs: dict[str, Any]) -> App:
    """The MySQL/MariaDB primary-and-replicas stack output."""
    return App.from_outputs(outputs, "mysql")


@pytest.fixture(scope="module")
def writes_drill(request: pytest.FixtureRequest, kube: Kube, mysql: App, run_id: str) -> Iterator[DrillDatabase]:
    """A MySQL drill database ``<module's DRILL_PREFIX>_<run id>`` with the table ``writes`` and its owner.

    Made by root inside the primary's pod once the set has rolled out; dropped at the end of the module.
    """
    prefix = getattr(request.module, "DRILL_PREFIX", "drill")
    wait_rolled_out(kube, mysql.namespace, mysql.statefulset)
    with writes_database(kube, mysql, f"{prefix}_{run_id}") as found:
        yield found


@pytest.fixture(scope="module")
def drill_login(writes_drill: DrillDatabase) -> Login:
    """The account that owns the module's drill database (no global privilege)."""
    return writes_drill.login


@pytest.fixture(scope="module")
def drill_database(writes_drill: DrillDatabase) -> str:
    """The module's drill database."""
    return writes_drill.name
