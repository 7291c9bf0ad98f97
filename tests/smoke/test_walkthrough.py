"""docs/statefulset-basics.md, run: every command of the page prints what the page shows, on the deployed stack.

The page is written for the local stack (namespace ``demo``, StatefulSet ``web-demo``, two replicas,
RollingUpdate); the test first checks that the stack outputs say so. It leaves the stack as it found it:
the page itself undoes what it changes, and if a step fails the StatefulSet's replicas, update strategy and
pod template are put back from a snapshot taken before the first step.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException
from pulumi import automation as auto

from harness.kube import Kube, claim_names, delete_pvcs, get_pod, pvc_names, statefulset, wait_rolled_out
from harness.stack import POLICY_PACKS, App, StackDriver
from harness.waits import wait_until
from harness.walkthrough import parse, run_step

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "statefulset-basics.md"
#: What the page is written for (its commands name them).
NAMESPACE, STATEFULSET, SERVICE, REPLICAS = "demo", "web-demo", "nginx-demo", 2
THROW_AWAY_POD = "dns-test"
#: The highest ordinal the page scales to.
PEAK = 5


@dataclass(frozen=True)
class Snapshot:
    """The StatefulSet fields the page changes with kubectl, as they were before the first step."""

    replicas: int
    update_strategy: dict[str, Any]
    template: dict[str, Any]
    claims: set[str]


def _snapshot(kube: Kube) -> Snapshot:
    sts = statefulset(kube, NAMESPACE, STATEFULSET)
    serialise = kube.apps.api_client.sanitize_for_serialization
    return Snapshot(replicas=int(sts.spec.replicas), update_strategy=serialise(sts.spec.update_strategy),
                    template=serialise(sts.spec.template), claims=pvc_names(kube, NAMESPACE))


def _put_back(kube: Kube, before: Snapshot) -> None:
    """Undo whatever a failed run left: the throw-away pod, the StatefulSet's fields, the extra claims."""
    try:
        kube.core.delete_namespaced_pod(THROW_AWAY_POD, NAMESPACE, grace_period_seconds=0)
    except ApiException as err:
        if err.status != 404:
            raise
    now = _snapshot(kube)
    patch = [
        {"op": "replace", "path": f"/spec/{field}", "value": getattr(before, key)}
        for field, key in (("replicas", "replicas"), ("updateStrategy", "update_strategy"), ("template", "template"))
        if getattr(now, key) != getattr(before, key)
    ]
    if patch:
        print(f"--- putting back {', '.join(op['path'] for op in patch)}", flush=True)
        kube.apps.patch_namespaced_stateful_set(STATEFULSET, NAMESPACE, patch)
    for pod in (f"{STATEFULSET}-{i}" for i in range(before.replicas)):  # OnDelete leaves old pods
        sts = statefulset(kube, NAMESPACE, STATEFULSET)
        found = get_pod(kube, NAMESPACE, pod)
        revision = (found.metadata.labels or {}).get("controller-revision-hash") if found else None
        if found is not None and revision != sts.status.update_revision:
            kube.core.delete_namespaced_pod(pod, NAMESPACE)
    wait_rolled_out(kube, NAMESPACE, STATEFULSET)
    extra = sorted(set(claim_names(kube, NAMESPACE, STATEFULSET, range(before.replicas, PEAK))) - before.claims)
    delete_pvcs(kube, NAMESPACE, extra)


@pytest.fixture
def page_stack(kube: Kube, nginx: App, driver: StackDriver) -> Iterator[Snapshot]:
    """The stack the page is written for, rolled out; put back as it was if a step fails half-way."""
    found = (nginx.namespace, nginx.statefulset, nginx.headless_service, nginx.replicas,
             nginx.update_strategy.get("type"), nginx.update_strategy.get("partition"))
    assert found == (NAMESPACE, STATEFULSET, SERVICE, REPLICAS, "RollingUpdate", 0), (
        f"{PAGE.name} is written for the local stack's nginx (namespace, StatefulSet, Service, replicas, "
        f"strategy, partition = {NAMESPACE}, {STATEFULSET}, {SERVICE}, {REPLICAS}, RollingUpdate, 0); "
        f"this stack has {found}")
    driver.restore(refresh=True)  # the page starts from the stack as its program says, kubectl changes taken back
    wait_rolled_out(kube, NAMESPACE, STATEFULSET)
    before = _snapshot(kube)
    try:
        yield before
    finally:
        _put_back(kube, before)


def test_every_command_of_the_walkthrough_prints_what_the_page_shows_and_leaves_the_stack_as_it_was(
    page_stack: Snapshot, kube: Kube, stack: auto.Stack, driver: StackDriver, tmp_path: Path
) -> None:
    steps = parse(PAGE.read_text(encoding="utf-8"))
    assert len(steps) > 30, f"{PAGE.name} has only {len(steps)} commands in console blocks"
    config_copy = tmp_path / driver.config_file.name  # `pulumi config set` changes this copy only
    shutil.copy(driver.config_file, config_copy)
    started = time.monotonic()
    for step in steps:
        begun = time.monotonic()
        run_step(step, os.environ, REPO, page=f"docs/{PAGE.name}", config_file=config_copy)
        print(f"{time.monotonic() - begun:6.1f} s  {step.where(PAGE.name)}  $ {step.command}", flush=True)
    print(f"{len(steps)} commands in {time.monotonic() - started:.0f} s", flush=True)

    after = _snapshot(kube)
    assert (after.replicas, after.update_strategy) == (page_stack.replicas, page_stack.update_strategy), (
        f"after the page {STATEFULSET} has {after.replicas} replicas and strategy {after.update_strategy}, "
        f"before it had {page_stack.replicas} and {page_stack.update_strategy}")
    assert after.template == page_stack.template, f"after the page {STATEFULSET}'s pod template differs"
    assert after.claims == page_stack.claims, (
        f"after the page the claims in {NAMESPACE} are {sorted(after.claims)}, before {sorted(page_stack.claims)}")
    wait_until(lambda: get_pod(kube, NAMESPACE, THROW_AWAY_POD), 60, f"pod {THROW_AWAY_POD} to be gone",
               until=lambda pod: pod is None)
    changes = stack.preview(color="never", policy_packs=POLICY_PACKS).change_summary
    assert set(changes) <= {"same"}, f"after the page `pulumi preview` of the stack shows changes: {changes}"
