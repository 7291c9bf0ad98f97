"""Every StatefulSet setting in stack config reaches the rendered objects.

Most tests read the ``custom`` rendering (conftest.CUSTOM sets a non-default value for every setting).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from conftest import Render
from infra.rollout import TIMEOUT_SECONDS, WAIT_FOR
from policy.render import RenderedResource, Rendering

STATEFULSETS = {"nginx": "web-demo", "zookeeper": "zk", "mysql": "mysql"}


def statefulset(rendering: Rendering, app: str) -> RenderedResource:
    return rendering.named("StatefulSet", STATEFULSETS[app])


def pod_spec(rendering: Rendering, app: str) -> Mapping[str, Any]:
    spec: Mapping[str, Any] = statefulset(rendering, app).spec["template"]["spec"]
    return spec


def main_container(rendering: Rendering, app: str) -> Mapping[str, Any]:
    container: Mapping[str, Any] = pod_spec(rendering, app)["containers"][0]
    return container


def wait_for(rendering: Rendering, app: str) -> list[str]:
    conditions: list[str] = json.loads(statefulset(rendering, app).metadata["annotations"][WAIT_FOR])
    return conditions


def test_image_and_pull_policy_reach_every_container(custom: Rendering) -> None:
    spec = pod_spec(custom, "zookeeper")
    for container in [*spec["containers"], *spec.get("initContainers", [])]:
        assert container["image"] == "stateful.local/zookeeper:3.8"
        assert container["imagePullPolicy"] == "Never"


def test_the_pull_policy_defaults_to_if_not_present(rendered: Render) -> None:
    assert main_container(rendered(), "nginx")["imagePullPolicy"] == "IfNotPresent"


def test_replicas_set_the_statefulset_size(custom: Rendering) -> None:
    assert statefulset(custom, "nginx").spec["replicas"] == 4


def test_pod_management_policy_is_configurable(custom: Rendering) -> None:
    assert statefulset(custom, "nginx").spec["podManagementPolicy"] == "Parallel"


def test_a_rolling_update_carries_its_partition_and_max_unavailable(custom: Rendering) -> None:
    assert statefulset(custom, "nginx").spec["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"partition": 1, "maxUnavailable": "50%"},
    }


def test_on_delete_renders_no_rolling_update_block(custom: Rendering) -> None:
    assert statefulset(custom, "mysql").spec["updateStrategy"] == {"type": "OnDelete"}


def test_the_rollout_wait_follows_the_partition(custom: Rendering) -> None:
    assert any("@.updatedReplicas>2]" in condition for condition in wait_for(custom, "nginx"))


def test_on_delete_waits_only_for_ready_pods(custom: Rendering) -> None:
    conditions = wait_for(custom, "mysql")
    assert not any("updatedReplicas" in condition for condition in conditions)
    assert any("readyReplicas}=3" in condition for condition in conditions)


def test_the_rollout_timeout_becomes_the_timeout_annotation(custom: Rendering) -> None:
    assert statefulset(custom, "nginx").metadata["annotations"][TIMEOUT_SECONDS] == "123"


def test_the_rollout_timeout_defaults_to_ten_minutes(rendered: Render) -> None:
    assert statefulset(rendered(), "zookeeper").metadata["annotations"][TIMEOUT_SECONDS] == "600"


def test_storage_sets_size_class_and_access_modes_of_the_claim_template(custom: Rendering) -> None:
    template = statefulset(custom, "nginx").spec["volumeClaimTemplates"][0]
    assert template["metadata"]["name"] == "www"
    assert template["spec"] == {
        "accessModes": ["ReadWriteOncePod"],
        "storageClassName": "standard",
        "resources": {"requests": {"storage": "3Gi"}},
    }


def test_without_a_storage_class_the_cluster_default_is_used(rendered: Render) -> None:
    template = statefulset(rendered(), "mysql").spec["volumeClaimTemplates"][0]
    assert "storageClassName" not in template["spec"]


def test_the_pvc_retention_policy_is_configurable(custom: Rendering) -> None:
    policy = statefulset(custom, "nginx").spec["persistentVolumeClaimRetentionPolicy"]
    assert policy == {"whenDeleted": "Delete", "whenScaled": "Retain"}


def test_volumes_are_retained_by_default(rendered: Render) -> None:
    policy = statefulset(rendered(), "mysql").spec["persistentVolumeClaimRetentionPolicy"]
    assert policy == {"whenDeleted": "Retain", "whenScaled": "Retain"}


def test_min_ready_seconds_is_set_and_awaited(custom: Rendering) -> None:
    assert statefulset(custom, "nginx").spec["minReadySeconds"] == 15
    assert any("availableReplicas}=4" in condition for condition in wait_for(custom, "nginx"))


def test_ordinals_start_moves_the_ordinals_and_the_pod_names(custom: Rendering) -> None:
    assert statefulset(custom, "nginx").spec["ordinals"] == {"start": 1}
    assert custom.outputs["nginx"]["pod_dns"] == [
        f"web-demo-{ordinal}.nginx-demo.web.svc.example.internal" for ordinal in (1, 2, 3, 4)
    ]


def test_revision_history_limit_is_configurable(custom: Rendering) -> None:
    assert statefulset(custom, "nginx").spec["revisionHistoryLimit"] == 3


def test_termination_grace_period_is_configurable(custom: Rendering) -> None:
    assert pod_spec(custom, "nginx")["terminationGracePeriodSeconds"] == 20


def test_resources_reach_the_main_container(custom: Rendering) -> None:
    assert main_container(custom, "nginx")["resources"] == {
        "requests": {"cpu": "1", "memory": "2Gi"},
        "limits": {"memory": "3Gi", "cpu": "2"},
    }


def test_the_security_context_sets_the_pod_identity(custom: Rendering) -> None:
    context = pod_spec(custom, "nginx")["securityContext"]
    assert (context["runAsUser"], context["runAsGroup"], context["fsGroup"]) == (1001, 1002, 1003)
    assert context["runAsNonRoot"] is True


def test_every_container_drops_privileges(rendered: Render) -> None:
    for app in STATEFULSETS:
        spec = pod_spec(rendered(), app)
        for container in [*spec["containers"], *spec.get("initContainers", [])]:
            assert container["securityContext"] == {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
                "readOnlyRootFilesystem": True,
                "runAsNonRoot": True,
            }


def test_required_anti_affinity_keeps_pods_on_distinct_nodes(custom: Rendering) -> None:
    anti = pod_spec(custom, "zookeeper")["affinity"]["podAntiAffinity"]
    assert anti["requiredDuringSchedulingIgnoredDuringExecution"] == [
        {
            "labelSelector": {
                "matchLabels": {"app.kubernetes.io/name": "zookeeper", "app.kubernetes.io/instance": "zk"}
            },
            "topologyKey": "kubernetes.io/hostname",
        }
    ]


def test_preferred_anti_affinity_carries_its_weight_and_topology(custom: Rendering) -> None:
    anti = pod_spec(custom, "nginx")["affinity"]["podAntiAffinity"]
    term = anti["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["weight"] == 40
    assert term["podAffinityTerm"]["topologyKey"] == "topology.kubernetes.io/zone"


def test_no_anti_affinity_renders_no_affinity(custom: Rendering) -> None:
    assert "affinity" not in pod_spec(custom, "mysql")


def test_topology_spread_constraints_select_the_pods(custom: Rendering) -> None:
    assert pod_spec(custom, "nginx")["topologySpreadConstraints"] == [
        {
            "topologyKey": "topology.kubernetes.io/zone",
            "maxSkew": 2,
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {
                "matchLabels": {"app.kubernetes.io/name": "nginx", "app.kubernetes.io/instance": "web-demo"}
            },
        }
    ]


def test_a_configured_disruption_budget_replaces_the_default(custom: Rendering) -> None:
    budget = custom.named("PodDisruptionBudget", "web-demo-pdb")
    assert budget.spec["minAvailable"] == 2
    assert "maxUnavailable" not in budget.spec


def test_the_default_disruption_budget_allows_one_pod_down(rendered: Render) -> None:
    assert rendered().named("PodDisruptionBudget", "mysql-pdb").spec["maxUnavailable"] == 1


def test_a_node_selector_reaches_the_pods(custom: Rendering) -> None:
    assert pod_spec(custom, "nginx")["nodeSelector"] == {"disktype": "ssd"}


def test_probe_timings_reach_the_probes(custom: Rendering) -> None:
    container = main_container(custom, "nginx")
    assert container["readinessProbe"]["periodSeconds"] == 7
    assert container["readinessProbe"]["successThreshold"] == 2
    assert container["livenessProbe"]["failureThreshold"] == 9
    assert (container["startupProbe"]["initialDelaySeconds"], container["startupProbe"]["timeoutSeconds"]) == (4, 6)


def test_a_probe_timing_keeps_the_app_defaults_it_does_not_override(custom: Rendering) -> None:
    probe = main_container(custom, "zookeeper")["readinessProbe"]
    assert (probe["periodSeconds"], probe["timeoutSeconds"]) == (9, 3)


def test_publish_not_ready_addresses_is_configurable(custom: Rendering) -> None:
    assert custom.named("Service", "nginx-demo").spec["publishNotReadyAddresses"] is True


def test_a_namespace_moves_every_object_of_the_app(custom: Rendering) -> None:
    for resource in custom.resources:
        name = str(resource.metadata.get("name", ""))
        if name in {"zk", "zk-hs", "zk-cs", "zk-pdb"} or name.startswith("zk-config-"):
            assert resource.metadata["namespace"] == "coordination"


def test_apps_in_one_namespace_share_one_namespace_object(custom: Rendering) -> None:
    assert [ns.metadata["name"] for ns in custom.of_kind("Namespace")] == ["coordination"]


def test_create_namespace_false_uses_an_existing_namespace(custom: Rendering) -> None:
    assert "web" not in {ns.metadata["name"] for ns in custom.of_kind("Namespace")}
    assert statefulset(custom, "nginx").metadata["namespace"] == "web"


def test_disabled_apps_render_nothing_and_export_nothing(rendered: Render) -> None:
    rendering = rendered({"nginx": {"enabled": False}, "zookeeper": {"enabled": False}})
    assert {resource.metadata["name"] for resource in rendering.of_kind("StatefulSet")} == {"mysql"}
    assert set(rendering.outputs) == {"cluster_domain", "mysql"}


def test_a_disabled_mysql_needs_no_passwords_and_exports_nothing(rendered: Render) -> None:
    rendering = rendered({"mysql": {"enabled": False}}, passwords=False)
    assert "mysql" not in {resource.metadata["name"] for resource in rendering.of_kind("StatefulSet")}
    assert set(rendering.outputs) == {"cluster_domain", "nginx", "zookeeper"}
