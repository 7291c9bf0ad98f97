"""Changes to the live local stack: config follows each pod's revision, `pulumi up` waits, bad values are refused.

The refusals run the real ``pulumi preview`` (and once the real ``pulumi up``) with a changed copy of the
stack's config, and check that the message names the config key and that nothing changed.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from harness.kube import Kube, exec_in_pod, get_pod, restarts, statefulset, wait_ready, wait_rolled_out
from harness.stack import App, StackDriver
from harness.waits import wait_until

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]

LOGBACK = "/config/logback.xml"


def _level(kube: Kube, app: App, ordinal: int) -> str:
    text = exec_in_pod(kube, app.namespace, app.pod(ordinal), ["cat", LOGBACK], container="zookeeper")
    return text.split('<root level="', 1)[1].split('"', 1)[0]


def _status_now(kube: Kube, app: App) -> dict[str, Any]:
    """The StatefulSet's status, read once (no polling)."""
    sts = kube.apps.read_namespaced_stateful_set(app.statefulset, app.namespace)
    st = sts.status
    return {
        "observed": st.observed_generation == sts.metadata.generation,
        "ready": st.ready_replicas or 0,
        "updated": st.updated_replicas or 0,
        "same_revision": st.current_revision == st.update_revision,
    }


def _restart_container(kube: Kube, app: App, ordinal: int) -> None:
    """Stop the server process (PID 1) so that the kubelet restarts the container inside the same pod."""
    name = app.pod(ordinal)
    before = get_pod(kube, app.namespace, name)
    before_restarts = restarts(before)
    exec_in_pod(kube, app.namespace, name, ["bash", "-c", "kill -TERM 1"], container="zookeeper")

    def restarted() -> bool:
        pod = get_pod(kube, app.namespace, name)
        return bool(
            pod is not None
            and pod.metadata.uid == before.metadata.uid
            and restarts(pod) > before_restarts
        )

    wait_until(restarted, 120, f"{name}'s container to restart in the same pod")
    wait_ready(kube, app.namespace, [name])


def test_a_config_change_under_partition_reaches_only_the_updated_pods_and_up_waits_for_them(
    kube: Kube, zookeeper: App, driver: StackDriver
) -> None:
    key = driver.key(zookeeper)
    assert {_level(kube, zookeeper, i) for i in zookeeper.ordinals} == {"INFO"}
    try:
        driver.up_with({key: {"updateStrategy": {"partition": 1}, "logLevel": "WARN"}})
        status = _status_now(kube, zookeeper)
        # currentRevision is not compared here: under ZooKeeper's default OnDelete the controller never
        # advances it, so after earlier rollouts it may already name the new revision; the files per pod
        # below show what partition 1 kept back.
        status.pop("same_revision")
        wanted = {"observed": True, "ready": 3, "updated": zookeeper.replicas - 1}
        assert status == wanted, f"right after `pulumi up` returned: {status}, expected {wanted}"
        levels = {i: _level(kube, zookeeper, i) for i in zookeeper.ordinals}
        assert levels == {0: "INFO", 1: "WARN", 2: "WARN"}, f"files per pod under partition 1: {levels}"
        _restart_container(kube, zookeeper, 0)
        assert _level(kube, zookeeper, 0) == "INFO", "zk-0 (old revision) read the new file after a restart"
        driver.up_with({key: {"updateStrategy": {"partition": 0}, "logLevel": "WARN"}})
        status = _status_now(kube, zookeeper)
        wanted = {"observed": True, "ready": 3, "updated": 3, "same_revision": True}
        assert status == wanted, f"right after `pulumi up` returned: {status}, expected {wanted}"
        assert _level(kube, zookeeper, 0) == "WARN"
    finally:
        driver.restore()


# --- refused at preview -------------------------------------------------------------------------------

REFUSED: list[tuple[str, dict[str, Any], str]] = [
    ("zk-max-unavailable-percent", {"zookeeper": {"updateStrategy": {"maxUnavailable": "100%"}}},
     "stateful:zookeeper.updateStrategy.maxUnavailable"),
    ("zk-max-unavailable-above-quorum", {"zookeeper": {"updateStrategy": {"maxUnavailable": 2}}},
     "stateful:zookeeper.updateStrategy.maxUnavailable"),
    ("zk-ordered-ready", {"zookeeper": {"podManagementPolicy": "OrderedReady"}},
     "stateful:zookeeper.podManagementPolicy"),
    ("zk-unpublished-not-ready", {"zookeeper": {"publishNotReadyAddresses": False}},
     "stateful:zookeeper.publishNotReadyAddresses"),
    ("zk-heap-fills-the-limit", {"zookeeper": {"heapMb": 500}}, "stateful:zookeeper.heapMb"),
    ("zk-new-ensemble-size", {"zookeeper": {"replicas": 5}}, "stateful:zookeeper.replicas must stay 3"),
    ("mysql-buffer-pool-fills-the-limit", {"mysql": {"innodbBufferPoolSize": "500M"}},
     "stateful:mysql.innodbBufferPoolSize"),
    ("mysql-image-of-the-other-flavor", {"mysql": {"image": "mysql:8.4.2"}}, "stateful:mysql.image"),
    ("mysql-new-first-ordinal", {"mysql": {"ordinals": {"start": 1}}}, "stateful:mysql.ordinals.start must stay 0"),
    ("nginx-duplicate-spread-keys",
     {"nginx": {"topologySpreadConstraints": [{"topologyKey": "a"}, {"topologyKey": "a"}]}},
     "stateful:nginx.topologySpreadConstraints[1].topologyKey"),
    ("nginx-bad-node-label", {"nginx": {"nodeSelector": {"disktype": "not valid!"}}},
     "stateful:nginx.nodeSelector.disktype"),
    ("nginx-mixed-access-modes", {"nginx": {"storage": {"accessModes": ["ReadWriteOncePod", "ReadWriteOnce"]}}},
     "stateful:nginx.storage.accessModes"),
    ("nginx-smaller-volume", {"nginx": {"storage": {"size": "128Mi"}}},
     "stateful:nginx.storage.size must not be smaller than the live claims"),
    ("nginx-other-namespace", {"nginx": {"namespace": "web"}}, "stateful:nginx.namespace must stay 'demo'"),
    ("nginx-other-storage-class", {"nginx": {"storage": {"storageClassName": "fast"}}},
     "stateful:nginx.storage.storageClassName must stay 'standard'"),
]


@pytest.fixture(scope="module")
def refusals(driver: StackDriver) -> dict[str, str]:
    """Every refused change previewed with the real CLI, four at a time: name -> what the preview said."""

    def preview(changes: dict[str, Any]) -> str:
        full = {f"{driver.project}:{app}": section for app, section in changes.items()}
        try:
            driver.preview_with(full)
        except auto.errors.CommandError as error:
            return str(error)
        return "the preview succeeded"

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(zip([name for name, _, _ in REFUSED], pool.map(preview, [c for _, c, _ in REFUSED]),
                           strict=True))
    return results


@pytest.mark.parametrize(("name", "expected"), [(name, expected) for name, _, expected in REFUSED],
                         ids=[name for name, _, _ in REFUSED])
def test_a_value_that_would_break_the_live_stack_is_refused_by_preview_naming_its_key(
    refusals: dict[str, str], name: str, expected: str
) -> None:
    assert expected in refusals[name], refusals[name][-2000:]


def _versions(kube: Kube, apps: list[App]) -> dict[str, str]:
    """What a change by `pulumi up` would move, per object of the apps' namespaces.

    The resourceVersion, except: StatefulSets and budgets give their spec's generation and pods their UID
    (their status churns on its own: probes, revisions).
    """
    found: dict[str, str] = {}
    listings: list[tuple[str, Callable[..., Any], Callable[[Any], str]]] = [
        ("StatefulSet", kube.apps.list_namespaced_stateful_set, lambda o: f"generation {o.metadata.generation}"),
        ("Pod", kube.core.list_namespaced_pod, lambda o: f"uid {o.metadata.uid}"),
        ("Service", kube.core.list_namespaced_service, lambda o: str(o.metadata.resource_version)),
        ("ConfigMap", kube.core.list_namespaced_config_map, lambda o: str(o.metadata.resource_version)),
        ("Secret", kube.core.list_namespaced_secret, lambda o: str(o.metadata.resource_version)),
        ("PersistentVolumeClaim", kube.core.list_namespaced_persistent_volume_claim,
         lambda o: str(o.metadata.resource_version)),
        ("PodDisruptionBudget", kube.policy.list_namespaced_pod_disruption_budget,
         lambda o: f"generation {o.metadata.generation}"),
    ]
    for app in apps:
        for kind, list_fn, version in listings:
            for item in list_fn(app.namespace).items:
                found[f"{kind} {app.namespace}/{item.metadata.name}"] = version(item)
    return found


def test_a_refused_up_changes_no_object(
    kube: Kube, driver: StackDriver, nginx: App, zookeeper: App, mysql: App
) -> None:
    apps = [nginx, zookeeper, mysql]
    for app in apps:  # an earlier test's rollout may still be settling
        wait_rolled_out(kube, app.namespace, app.statefulset)
    before = _versions(kube, apps)
    change = {driver.key(zookeeper): {"replicas": 5}, driver.key(nginx): {"replicas": 3}}
    with pytest.raises(auto.errors.CommandError) as refused:
        driver.up_with(change)
    assert "stateful:zookeeper.replicas must stay 3" in str(refused.value)
    after = _versions(kube, apps)
    changed = sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))
    assert not changed, f"objects changed by a refused up: {changed}"
    driver.changed = False  # nothing was deployed: no restore needed


# --- a change made with kubectl, taken back by `make up` --------------------------------------------------


def test_make_up_takes_back_a_partition_and_a_template_change_made_with_kubectl(
    kube: Kube, nginx: App, driver: StackDriver, stack_name: str
) -> None:
    """What an interrupted walkthrough left once (CI then found "no changes" and every later wait timed out)."""
    ns, name = nginx.namespace, nginx.statefulset
    serialise = kube.apps.api_client.sanitize_for_serialization
    before = wait_rolled_out(kube, ns, name)
    grace = int(before.spec.template.spec.termination_grace_period_seconds)
    kube.apps.patch_namespaced_stateful_set(name, ns, {"spec": {
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": nginx.replicas - 1}},
        "template": {"spec": {"terminationGracePeriodSeconds": grace + 7}},
    }})
    try:
        wait_until(lambda: statefulset(kube, ns, name).status, 120, f"{name}'s canary to run the kubectl template",
                   until=lambda st: (st.updated_replicas or 0) == 1 and (st.ready_replicas or 0) == nginx.replicas)
        deploy = subprocess.run([sys.executable, "-m", "localcluster.deploy", "up", "--stack", stack_name],
                                cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
        assert deploy.returncode == 0, f"make up failed: {deploy.stdout[-3000:]}{deploy.stderr[-2000:]}"
        after = wait_rolled_out(kube, ns, name, timeout=120)
        assert serialise(after.spec.update_strategy) == serialise(before.spec.update_strategy), (
            f"after make up the strategy is {serialise(after.spec.update_strategy)}")
        assert after.spec.template.spec.termination_grace_period_seconds == grace, "make up left kubectl's template"
        assert after.status.update_revision == before.status.update_revision, "the pods run another revision"
    finally:
        driver.restore(refresh=True)
