"""The whole program: the objects it registers, the provider, namespaces and the stack outputs."""

from __future__ import annotations

from apps.stack import NamespacePlan, namespace_plan
from conftest import Parse, Render
from policy.render import Rendering

SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"
APP_OUTPUT_KEYS = {
    "namespace",
    "statefulset",
    "headless_service",
    "services",
    "replicas",
    "ports",
    "pod_dns",
    "selector",
    "update_strategy",
}


def names(rendering: Rendering, kind: str) -> set[str]:
    return {resource.metadata["name"] for resource in rendering.of_kind(kind)}


def test_the_default_program_creates_the_tutorial_names(rendered: Render) -> None:
    rendering = rendered()
    assert names(rendering, "StatefulSet") == {"web-demo", "zk", "mysql"}
    assert names(rendering, "Service") == {"nginx-demo", "zk-hs", "zk-cs", "mysql", "mysql-read", "mysql-primary"}
    assert names(rendering, "PodDisruptionBudget") == {"web-demo-pdb", "zk-pdb", "mysql-pdb"}
    assert names(rendering, "Namespace") == {"demo", "zookeeper", "mysql"}


def test_every_statefulset_is_governed_by_its_headless_service(rendered: Render) -> None:
    rendering = rendered()
    governing = {"web-demo": "nginx-demo", "zk": "zk-hs", "mysql": "mysql"}
    for statefulset in rendering.of_kind("StatefulSet"):
        service_name = statefulset.spec["serviceName"]
        assert service_name == governing[statefulset.metadata["name"]]
        assert rendering.named("Service", service_name).spec["clusterIP"] == "None"


def test_client_services_are_cluster_ip_services(rendered: Render) -> None:
    rendering = rendered()
    for name in ("zk-cs", "mysql-read", "mysql-primary"):
        assert rendering.named("Service", name).spec["type"] == "ClusterIP"


def test_client_services_leave_the_readiness_wait_to_their_statefulset(rendered: Render) -> None:
    rendering = rendered()
    for name in ("zk-cs", "mysql-read", "mysql-primary"):
        assert rendering.named("Service", name).metadata["annotations"] == {"pulumi.com/skipAwait": "true"}
    assert "pulumi.com/skipAwait" not in (rendering.named("Service", "zk-hs").metadata.get("annotations") or {})


def test_every_app_output_has_the_shape_the_smoke_tests_read(rendered: Render) -> None:
    outputs = rendered().outputs
    assert set(outputs) == {"cluster_domain", "nginx", "zookeeper", "mysql"}
    for app in ("nginx", "zookeeper", "mysql"):
        assert set(outputs[app]) >= APP_OUTPUT_KEYS
    assert set(outputs["mysql"]) - APP_OUTPUT_KEYS == {"flavor", "primary_dns", "read_service", "secret", "app_user",
                                                       "net_write_timeout",
                                                       "app_database"}


def test_the_nginx_output_names_every_pod_by_its_stable_dns_name(rendered: Render) -> None:
    assert rendered().outputs["nginx"] == {
        "namespace": "demo",
        "statefulset": "web-demo",
        "headless_service": "nginx-demo",
        "services": {"nginx-demo": {"web": 80}},
        "replicas": 2,
        "ports": {"web": 80},
        "pod_dns": [
            "web-demo-0.nginx-demo.demo.svc.cluster.local",
            "web-demo-1.nginx-demo.demo.svc.cluster.local",
        ],
        "selector": {"app.kubernetes.io/name": "nginx", "app.kubernetes.io/instance": "web-demo"},
        "update_strategy": {"type": "RollingUpdate", "partition": 0},
    }


def test_the_update_strategy_output_has_no_partition_under_on_delete(custom: Rendering) -> None:
    assert custom.outputs["mysql"]["update_strategy"] == {"type": "OnDelete", "partition": None}


def test_the_update_strategy_output_carries_the_partition(custom: Rendering) -> None:
    assert custom.outputs["nginx"]["update_strategy"] == {"type": "RollingUpdate", "partition": 1}


def test_the_cluster_domain_is_exported_and_used_in_every_dns_name(custom: Rendering) -> None:
    assert custom.outputs["cluster_domain"] == "example.internal"
    assert custom.outputs["zookeeper"]["pod_dns"][0] == "zk-0.zk-hs.coordination.svc.example.internal"


def test_the_cluster_domain_defaults_to_cluster_local(rendered: Render) -> None:
    assert rendered().outputs["cluster_domain"] == "cluster.local"


def test_the_provider_uses_the_configured_kubeconfig_context(custom: Rendering) -> None:
    provider = custom.of_type("pulumi:providers:kubernetes")
    assert [resource.props.get("context") for resource in provider] == ["kind-local"]


def test_without_a_context_the_provider_uses_the_current_one(rendered: Render) -> None:
    provider = rendered().of_type("pulumi:providers:kubernetes")
    assert [resource.props.get("context") for resource in provider] == [None]


def test_every_object_has_an_explicit_name(rendered: Render) -> None:
    for resource in rendered().resources:
        if resource.type.startswith("kubernetes:"):
            assert resource.metadata.get("name"), resource.name


def test_namespaces_enforce_the_restricted_pod_security_standard(rendered: Render) -> None:
    for namespace in rendered().of_kind("Namespace"):
        assert namespace.metadata["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_a_namespace_is_kept_on_destroy_when_its_volumes_are_retained(parse: Parse) -> None:
    deleting = {"persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete"}}
    plan = namespace_plan(parse({"nginx": deleting, "zookeeper": deleting}))
    assert plan == {
        "demo": NamespacePlan(create=True, retain_on_delete=False),
        "zookeeper": NamespacePlan(create=True, retain_on_delete=False),
        "mysql": NamespacePlan(create=True, retain_on_delete=True),
    }


def test_the_mysql_passwords_reach_the_secret_as_secrets(rendered: Render) -> None:
    secret = rendered().named("Secret", "mysql-credentials")
    data = secret.props["stringData"]
    assert SECRET_SIGNATURE in data
    assert data["value"] == {"root-password": "root-pass", "replication-password": "repl-pass",
                             "app-password": "app-pass"}


def config_volume(rendering: Rendering, statefulset: str, volume: str) -> str:
    volumes = rendering.named("StatefulSet", statefulset).spec["template"]["spec"]["volumes"]
    return str(next(v["configMap"]["name"] for v in volumes if v["name"] == volume))


def test_a_config_change_gives_the_pods_a_config_map_of_its_own(rendered: Render, custom: Rendering) -> None:
    assert config_volume(rendered(), "zk", "config") != config_volume(custom, "zk", "config")


def test_the_pods_mount_the_config_map_named_after_its_content(rendered: Render) -> None:
    rendering = rendered()
    config_map = rendering.config_files("zk-config")
    assert config_volume(rendering, "zk", "config") == config_map.metadata["name"]
    assert config_map.props["immutable"] is True


def test_a_password_change_changes_the_pod_template_without_revealing_it(rendered: Render) -> None:
    def revision(rendering: Rendering) -> str:
        annotations = rendering.named("StatefulSet", "mysql").spec["template"]["metadata"]["annotations"]
        return str(annotations["stateful.pulumi.com/credentials-revision"])

    before = revision(rendered())
    after = revision(rendered({"mysqlRootPassword": "rotated-root-pass"}))
    assert before != after
    assert "root-pass" not in before
    assert len(before) == 16


def test_every_statefulset_keeps_its_pods_when_the_object_is_recreated(rendered: Render) -> None:
    for statefulset in rendered().of_kind("StatefulSet"):
        assert statefulset.metadata["annotations"]["pulumi.com/deletionPropagationPolicy"] == "orphan"
