"""The ZooKeeper ensemble: member list, myid, four-letter words, probes and a quorum-safe budget."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from apps import zookeeper
from apps.config import ConfigError
from conftest import Parse, Render
from policy.render import Rendering


def config_file(rendering: Rendering, name: str) -> str:
    return str(rendering.config_files("zk-config").props["data"][name])


def container(rendering: Rendering) -> Mapping[str, Any]:
    spec: Mapping[str, Any] = rendering.named("StatefulSet", "zk").spec["template"]["spec"]["containers"][0]
    return spec


def test_zoo_cfg_lists_every_member_by_its_stable_dns_name(rendered: Render) -> None:
    lines = config_file(rendered(), "zoo.cfg").splitlines()
    assert [line for line in lines if line.startswith("server.")] == [
        f"server.{i + 1}=zk-{i}.zk-hs.zookeeper.svc.cluster.local:2888:3888;2181" for i in range(3)
    ]


def test_server_ids_follow_the_ordinals_when_they_start_elsewhere(parse: Parse) -> None:
    settings = parse({"zookeeper": {"ordinals": {"start": 1}}}).zookeeper
    lines = zookeeper.zoo_cfg(settings, "zookeeper", "cluster.local").splitlines()
    assert "server.2=zk-1.zk-hs.zookeeper.svc.cluster.local:2888:3888;2181" in lines
    assert not any(line.startswith("server.1=") for line in lines)


def test_the_four_letter_words_the_probes_and_tests_use_are_allowed(rendered: Render) -> None:
    assert "4lw.commands.whitelist=srvr,mntr,ruok,conf" in config_file(rendered(), "zoo.cfg").splitlines()


@pytest.mark.parametrize(
    "line",
    [
        "tickTime=1500",
        "initLimit=20",
        "syncLimit=7",
        "maxClientCnxns=0",
        "minSessionTimeout=5000",
        "maxSessionTimeout=60000",
        "autopurge.snapRetainCount=5",
        "autopurge.purgeInterval=0",
    ],
)
def test_timing_and_housekeeping_settings_reach_zoo_cfg(custom: Rendering, line: str) -> None:
    """conftest.CUSTOM sets each of these keys."""
    assert line in config_file(custom, "zoo.cfg").splitlines()


def test_the_member_list_follows_the_namespace_and_cluster_domain(custom: Rendering) -> None:
    assert "server.1=zk-0.zk-hs.coordination.svc.example.internal:2888:3888;2181" in config_file(custom, "zoo.cfg")


def test_heap_and_jvm_flags_reach_the_environment(custom: Rendering) -> None:
    env = {item["name"]: item["value"] for item in container(custom)["env"]}
    assert env["ZK_SERVER_HEAP"] == "300"
    assert env["SERVER_JVMFLAGS"].split()[-1] == "-XX:+UseSerialGC"


def test_the_stack_jvm_flags_come_after_the_recovery_bounds_so_they_can_override_them(custom: Rendering) -> None:
    env = {item["name"]: item["value"] for item in container(custom)["env"]}
    assert env["SERVER_JVMFLAGS"].split() == [*zookeeper.SERVER_JVM_FLAGS, "-XX:+UseSerialGC"]


def test_the_jvm_reads_its_dns_cache_ttls_from_the_mounted_security_override(rendered: Render) -> None:
    rendering = rendered()
    env = {item["name"]: item["value"] for item in container(rendering)["env"]}
    assert "-Djava.security.properties=/config/java.security" in env["SERVER_JVMFLAGS"].split()
    assert config_file(rendering, "java.security").splitlines() == [
        "networkaddress.cache.ttl=0", "networkaddress.cache.negative.ttl=0"]


def test_no_dns_cache_ttl_is_passed_as_a_system_property_where_the_jdk_ignores_it(rendered: Render) -> None:
    env = {item["name"]: item["value"] for item in container(rendered())["env"]}
    assert "networkaddress.cache" not in env["SERVER_JVMFLAGS"].replace("java.security.properties", "")


def test_a_follower_connects_to_its_leader_within_one_tick_by_default(rendered: Render) -> None:
    assert "connectToLearnerMasterLimit=1" in config_file(rendered(), "zoo.cfg").splitlines()


def test_the_log_level_reaches_both_logging_configs(custom: Rendering) -> None:
    assert '<root level="WARN">' in config_file(custom, "logback.xml")
    assert config_file(custom, "log4j.properties").startswith("log4j.rootLogger=WARN, CONSOLE")


def test_members_start_in_parallel_and_resolve_before_they_are_ready(rendered: Render) -> None:
    rendering = rendered()
    assert rendering.named("StatefulSet", "zk").spec["podManagementPolicy"] == "Parallel"
    assert rendering.named("Service", "zk-hs").spec["publishNotReadyAddresses"] is True


def test_the_services_expose_the_tutorial_ports(rendered: Render) -> None:
    rendering = rendered()
    assert {port["name"]: port["port"] for port in rendering.named("Service", "zk-hs").spec["ports"]} == {
        "server": 2888,
        "leader-election": 3888,
    }
    assert rendering.named("Service", "zk-cs").spec["ports"] == [
        {"name": "client", "port": 2181, "targetPort": "client"}
    ]


def test_members_repel_each_other_per_node_by_default(rendered: Render) -> None:
    affinity = rendered().named("StatefulSet", "zk").spec["template"]["spec"]["affinity"]
    terms = affinity["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms[0]["topologyKey"] == "kubernetes.io/hostname"


def test_the_start_script_writes_myid_as_ordinal_plus_one(tmp_path: Path) -> None:
    script = (
        zookeeper.START_SCRIPT.replace("/proc/sys/kernel/hostname", str(tmp_path / "hostname"))
        .replace(zookeeper.DATA_DIR, str(tmp_path / "data"))
        .replace("exec zkServer.sh", "echo zkServer.sh")
        .replace(f"cp {zookeeper.CONFIG_TEMPLATE_DIR}", ": cp")
    )
    (tmp_path / "hostname").write_text("zk-2\n")
    result = subprocess.run(["bash", "-c", script], check=True, capture_output=True, text=True)
    assert (tmp_path / "data" / "myid").read_text() == "3\n"
    assert result.stdout.strip() == "zkServer.sh --config /conf start-foreground"


def test_liveness_and_startup_ask_ruok_over_bash_dev_tcp(rendered: Render) -> None:
    spec = container(rendered())
    for probe in ("livenessProbe", "startupProbe"):
        assert spec[probe]["exec"]["command"] == ["bash", "/config/ruok.sh"]
    assert "/dev/tcp/127.0.0.1/2181" in zookeeper.RUOK_SCRIPT
    assert '[ "$reply" = imok ]' in zookeeper.RUOK_SCRIPT


def test_readiness_requires_the_member_to_have_joined_the_quorum(rendered: Render) -> None:
    spec = container(rendered())
    assert spec["readinessProbe"]["exec"]["command"] == ["bash", "/config/ready.sh"]
    assert "printf 'srvr'" in zookeeper.READY_SCRIPT
    assert '"Mode: leader" | "Mode: follower" | "Mode: standalone") exit 0' in zookeeper.READY_SCRIPT


@pytest.mark.parametrize(("members", "quorum", "tolerated"), [(1, 1, 0), (3, 2, 1), (5, 3, 2), (7, 4, 3)])
def test_quorum_is_a_strict_majority(members: int, quorum: int, tolerated: int) -> None:
    assert zookeeper.quorum(members) == quorum
    assert zookeeper.tolerated_failures(members) == tolerated


@pytest.mark.parametrize(("members", "allowed"), [(1, 0), (3, 1), (5, 2)])
def test_the_default_budget_is_the_largest_that_keeps_quorum(parse: Parse, members: int, allowed: int) -> None:
    settings = parse({"zookeeper": {"replicas": members}}).zookeeper
    assert settings.disruption_budget.max_unavailable == allowed


def test_the_budget_is_named_like_the_tutorial(rendered: Render) -> None:
    assert rendered().named("PodDisruptionBudget", "zk-pdb").spec["maxUnavailable"] == 1


@pytest.mark.parametrize(
    ("budget", "message"),
    [
        ({"maxUnavailable": 2}, "stateful:zookeeper.podDisruptionBudget.maxUnavailable must be an integer <= 1"),
        ({"maxUnavailable": "50%"}, "stateful:zookeeper.podDisruptionBudget.maxUnavailable must be an integer <= 1"),
        ({"minAvailable": 1}, "stateful:zookeeper.podDisruptionBudget.minAvailable must be an integer >= 2"),
    ],
)
def test_a_budget_that_could_lose_quorum_is_rejected(parse: Parse, budget: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse({"zookeeper": {"podDisruptionBudget": budget}})


def test_the_heap_must_leave_a_quarter_of_the_container_memory_to_the_jvm(parse: Parse) -> None:
    with pytest.raises(ConfigError, match=r"stateful:zookeeper\.heapMb must be <= 768 MB \(75% of the container"):
        parse({"zookeeper": {"heapMb": 769}})


def test_a_heap_of_three_quarters_of_the_container_memory_is_accepted(parse: Parse) -> None:
    assert parse({"zookeeper": {"heapMb": 768}}).zookeeper.heap_mb == 768


@pytest.mark.parametrize(("members", "allowed"), [(1, 1), (3, 1), (5, 2), (7, 3)])
def test_a_rolling_update_may_take_down_as_many_members_as_quorum_spares(
    parse: Parse, members: int, allowed: int
) -> None:
    settings = parse({"zookeeper": {"replicas": members, "updateStrategy": {"maxUnavailable": allowed}}}).zookeeper
    assert settings.workload.update_strategy.max_unavailable == allowed


def test_a_rolling_update_one_member_beyond_quorum_is_rejected(parse: Parse) -> None:
    with pytest.raises(
        ConfigError, match=r"stateful:zookeeper\.updateStrategy\.maxUnavailable must be an integer <= 3 so that 4 of 7"
    ):
        parse({"zookeeper": {"replicas": 7, "updateStrategy": {"maxUnavailable": 4}}})


def test_a_one_member_ensemble_refuses_a_percentage_too(parse: Parse) -> None:
    with pytest.raises(ConfigError, match=r"maxUnavailable must be unset or 1 .*, got '100%'"):
        parse({"zookeeper": {"replicas": 1, "updateStrategy": {"maxUnavailable": "100%"}}})


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"tickTime": 0}, "stateful:zookeeper.tickTime must be >= 1"),
        ({"initLimit": 0}, "stateful:zookeeper.initLimit must be >= 1"),
        ({"syncLimit": 0}, "stateful:zookeeper.syncLimit must be >= 1"),
        ({"connectToLearnerMasterLimit": 0}, "stateful:zookeeper.connectToLearnerMasterLimit must be >= 1"),
        ({"initLimit": 3, "connectToLearnerMasterLimit": 4},
         r"stateful:zookeeper.connectToLearnerMasterLimit must be <= initLimit \(3\)"),
        ({"maxClientCnxns": -1}, "stateful:zookeeper.maxClientCnxns must be >= 0"),
        ({"minSessionTimeout": 1000}, "stateful:zookeeper.minSessionTimeout must be >= 2 x tickTime"),
        ({"maxSessionTimeout": 3000}, "stateful:zookeeper.maxSessionTimeout must be >= minSessionTimeout"),
        ({"snapRetainCount": 2}, "stateful:zookeeper.snapRetainCount must be >= 3"),
        ({"purgeInterval": -1}, "stateful:zookeeper.purgeInterval must be >= 0"),
        ({"jvmFlags": "-Xss1m\n-Xmx9g"}, "stateful:zookeeper.jvmFlags must be a single line"),
        ({"heapMb": 16}, "stateful:zookeeper.heapMb must be >= 32"),
        ({"logLevel": "TRACE"}, "stateful:zookeeper.logLevel must be one of ERROR, WARN, INFO, DEBUG"),
    ],
)
def test_out_of_range_tuning_is_rejected(parse: Parse, settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse({"zookeeper": settings})
