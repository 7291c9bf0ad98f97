"""Bad config fails at program start, before any resource exists, with the key and what is allowed."""

from __future__ import annotations

import re
from typing import Any

import pytest

from apps.config import ConfigError, camel_path
from apps.stack import unpinned_images
from conftest import PASSWORDS, Parse, render_sections
from policy.render import RenderedResource


def error_of(parse: Parse, sections: dict[str, Any], **options: Any) -> str:
    with pytest.raises(ConfigError) as error:
        parse(sections, **options)
    return str(error.value)


def test_an_even_zookeeper_size_is_rejected(parse: Parse) -> None:
    assert error_of(parse, {"zookeeper": {"replicas": 4}}) == (
        "stateful:zookeeper.replicas must be an odd number >= 1, got 4"
    )


def test_a_zero_zookeeper_size_is_rejected(parse: Parse) -> None:
    assert (
        error_of(parse, {"zookeeper": {"replicas": 0}}) == "stateful:zookeeper.replicas must be an integer >= 1, got 0"
    )


def test_a_partition_above_replicas_is_rejected(parse: Parse) -> None:
    message = error_of(parse, {"nginx": {"replicas": 2, "updateStrategy": {"partition": 3}}})
    assert message == "stateful:nginx.updateStrategy.partition must be <= replicas (2), got 3"


def test_an_unknown_key_is_rejected_with_the_known_ones(parse: Parse) -> None:
    message = error_of(parse, {"nginx": {"replica": 2}})
    assert message.startswith("stateful:nginx.replica is not a known setting; known settings: ")
    assert "replicas" in message


def test_an_unknown_nested_key_is_rejected(parse: Parse) -> None:
    message = error_of(parse, {"mysql": {"storage": {"class": "fast"}}})
    assert message.startswith("stateful:mysql.storage.class is not a known setting")


def test_an_unknown_project_key_is_rejected(parse: Parse) -> None:
    assert error_of(parse, {"postgres": {}}).startswith("stateful:postgres is not a known setting")


def test_a_bad_quantity_is_rejected(parse: Parse) -> None:
    message = error_of(parse, {"zookeeper": {"storage": {"size": "10 Gb"}}})
    assert (
        message
        == "stateful:zookeeper.storage.size must be a Kubernetes quantity such as 1Gi, 500Mi or 250m, got '10 Gb'"
    )


def test_a_good_quantity_is_accepted(parse: Parse) -> None:
    assert parse({"zookeeper": {"storage": {"size": "10Gi"}}}).zookeeper.workload.storage.size == "10Gi"


def test_on_delete_with_a_partition_is_rejected(parse: Parse) -> None:
    message = error_of(parse, {"nginx": {"updateStrategy": {"type": "OnDelete", "partition": 1}}})
    assert message == (
        "stateful:nginx.updateStrategy.partition must be unset when type is OnDelete (OnDelete has no partition)"
    )


@pytest.mark.parametrize("key", sorted(PASSWORDS))
def test_a_missing_secret_is_rejected(parse: Parse, key: str) -> None:
    sections = {name: value for name, value in PASSWORDS.items() if name != key}
    message = error_of(parse, sections, passwords=False)
    assert (
        message
        == f"stateful:{key} must be set (MySQL is enabled): pulumi config set --secret stateful:{key} <password>"
    )


def test_a_password_in_plain_text_is_rejected(parse: Parse) -> None:
    message = error_of(parse, {}, secret=False)
    assert message.startswith("stateful:mysqlRootPassword must be stored as a secret, not in plain text")


def test_an_empty_password_is_rejected(parse: Parse) -> None:
    assert "must not be empty" in error_of(parse, {"mysqlRootPassword": ""})


def test_passwords_are_not_needed_when_mysql_is_disabled(parse: Parse) -> None:
    assert not parse({"mysql": {"enabled": False}}, passwords=False).mysql.enabled


def test_a_section_that_is_not_an_object_is_rejected(parse: Parse) -> None:
    assert error_of(parse, {"nginx": "two replicas"}) == (
        "stateful:nginx must be an object (a YAML mapping), got 'two replicas'"
    )


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"replicas": "2"}, "stateful:nginx.replicas must be an integer, got '2'"),
        ({"replicas": True}, "stateful:nginx.replicas must be an integer, got True"),
        ({"enabled": "yes"}, "stateful:nginx.enabled must be true or false, got 'yes'"),
        ({"image": 5}, "stateful:nginx.image must be a string, got 5"),
        ({"podManagementPolicy": "Serial"}, "stateful:nginx.podManagementPolicy must be one of OrderedReady, Parallel"),
        ({"storage": []}, "stateful:nginx.storage must be an object, got []"),
        ({"topologySpreadConstraints": {}}, "stateful:nginx.topologySpreadConstraints must be a list"),
        ({"nodeSelector": {"disk": ["ssd"]}}, "stateful:nginx.nodeSelector.disk must be a string"),
        (
            {"updateStrategy": {"maxUnavailable": 1.5}},
            "stateful:nginx.updateStrategy.maxUnavailable must be an integer or a string",
        ),
        ({"storage": {"storageClassName": 3}}, "stateful:nginx.storage.storageClassName must be a string, got 3"),
    ],
)
def test_a_value_of_the_wrong_type_is_rejected(parse: Parse, section: dict[str, Any], message: str) -> None:
    assert error_of(parse, {"nginx": section}).startswith(message)


def test_a_required_list_item_field_is_named_when_missing(parse: Parse) -> None:
    message = error_of(parse, {"nginx": {"topologySpreadConstraints": [{"maxSkew": 1}]}})
    assert message == "stateful:nginx.topologySpreadConstraints[0].topologyKey must be set"


def test_a_list_item_error_names_its_index(parse: Parse) -> None:
    message = error_of(parse, {"nginx": {"topologySpreadConstraints": [{"topologyKey": "zone", "maxSkew": 0}]}})
    assert message == "stateful:nginx.topologySpreadConstraints[0].maxSkew must be an integer >= 1, got 0"


def test_a_bad_cluster_domain_is_rejected(parse: Parse) -> None:
    assert error_of(parse, {"clusterDomain": "Cluster Local"}).startswith("stateful:clusterDomain must be a DNS domain")


def test_an_empty_kubeconfig_context_is_rejected(parse: Parse) -> None:
    assert error_of(parse, {"kubeconfigContext": " "}).startswith("stateful:kubeconfigContext must name a kubeconfig")


def test_a_bad_namespace_is_rejected(parse: Parse) -> None:
    assert error_of(parse, {"zookeeper": {"namespace": "ZooKeeper"}}).startswith(
        "stateful:zookeeper.namespace must be a DNS-1123 label"
    )


def test_a_field_path_becomes_the_config_key() -> None:
    assert camel_path("update_strategy.partition") == "updateStrategy.partition"
    assert camel_path("topology_spread_constraints[0].max_skew") == "topologySpreadConstraints[0].maxSkew"
    assert camel_path("resources.requests.ephemeral-storage") == "resources.requests.ephemeral-storage"


@pytest.mark.parametrize(
    "sections",
    [
        {"zookeeper": {"replicas": 4}},
        {"nginx": {"updateStrategy": {"partition": 9}}},
        {"nginx": {"storage": {"size": "10 Gb"}}},
        {"nginx": {"updateStrategy": {"type": "OnDelete", "partition": 0}}},
        {"mysql": {"surprise": 1}},
    ],
)
def test_the_program_fails_before_registering_any_resource(sections: dict[str, Any]) -> None:
    registered: list[RenderedResource] = []
    with pytest.raises(ConfigError, match=re.escape("stateful:")):
        render_sections(sections, registered=registered)
    assert registered == []


def test_the_program_fails_on_a_missing_secret_before_registering_any_resource() -> None:
    registered: list[RenderedResource] = []
    with pytest.raises(ConfigError, match="stateful:mysqlRootPassword must be set"):
        render_sections({}, passwords=False, registered=registered)
    assert registered == []


# --- values the API or the schema accept but that break a live workload -------------------------------

ZK_HEAP_REASON = "the JVM needs the rest for metaspace, thread stacks, direct buffers and the garbage collector"
BUFFER_POOL_REASON = "the server needs the rest for connection buffers, temporary tables and its own structures"
LABEL_VALUE_HINT = (
    "empty, or at most 63 letters, digits, '-', '_' or '.' that begin and end with a letter or digit; "
    "the API refuses the pod template otherwise"
)
LABEL_KEY_HINT = (
    "an optional DNS prefix of at most 253 characters and '/', then a name of at most 63 letters, digits, "
    "'-', '_' or '.' that begins and ends with a letter or digit"
)


def test_a_zookeeper_rolling_update_that_could_lose_quorum_is_rejected(parse: Parse) -> None:
    assert error_of(parse, {"zookeeper": {"updateStrategy": {"maxUnavailable": 2}}}) == (
        "stateful:zookeeper.updateStrategy.maxUnavailable must be an integer <= 1 so that 2 of 3 members keep "
        "quorum, got 2"
    )


def test_a_zookeeper_rolling_update_by_percentage_is_rejected(parse: Parse) -> None:
    assert error_of(parse, {"zookeeper": {"replicas": 5, "updateStrategy": {"maxUnavailable": "40%"}}}) == (
        "stateful:zookeeper.updateStrategy.maxUnavailable must be an integer <= 2 so that 3 of 5 members keep "
        "quorum, got '40%'"
    )


def test_a_one_member_ensemble_rolls_at_most_its_one_member(parse: Parse) -> None:
    assert error_of(parse, {"zookeeper": {"replicas": 1, "updateStrategy": {"maxUnavailable": 2}}}) == (
        "stateful:zookeeper.updateStrategy.maxUnavailable must be unset or 1 (a 1-member ensemble tolerates no "
        "failure: every update of it is an outage, and 1 is the least the API accepts), got 2"
    )


def test_an_ordered_ready_ensemble_is_rejected(parse: Parse) -> None:
    assert error_of(parse, {"zookeeper": {"podManagementPolicy": "OrderedReady"}}) == (
        "stateful:zookeeper.podManagementPolicy must be Parallel (readiness waits for a quorum, so under "
        "OrderedReady the first member never becomes ready and the others are never created), got 'OrderedReady'"
    )


def test_an_ensemble_that_hides_not_ready_members_is_rejected(parse: Parse) -> None:
    assert error_of(parse, {"zookeeper": {"publishNotReadyAddresses": False}}) == (
        "stateful:zookeeper.publishNotReadyAddresses must be true (members find their peers by DNS before any of "
        "them is ready, and readiness waits for a quorum: without not-ready addresses no member can reach "
        "another), got false"
    )


def test_a_zookeeper_heap_above_three_quarters_of_the_memory_limit_is_rejected(parse: Parse) -> None:
    assert error_of(parse, {"zookeeper": {"heapMb": 1023}}) == (
        f"stateful:zookeeper.heapMb must be <= 768 MB (75% of the container memory limit 1Gi: {ZK_HEAP_REASON}), "
        "got 1023"
    )


def test_without_a_memory_limit_the_zookeeper_heap_is_held_to_the_request(parse: Parse) -> None:
    resources = {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {}}
    assert error_of(parse, {"zookeeper": {"heapMb": 400, "resources": resources}}) == (
        f"stateful:zookeeper.heapMb must be <= 384 MB (75% of the container memory request 512Mi: {ZK_HEAP_REASON}), "
        "got 400"
    )


def test_a_buffer_pool_above_three_quarters_of_the_memory_limit_is_rejected(parse: Parse) -> None:
    assert error_of(parse, {"mysql": {"innodbBufferPoolSize": "2047M"}}) == (
        "stateful:mysql.innodbBufferPoolSize must be <= 1536M (75% of the container memory limit 2Gi: "
        f"{BUFFER_POOL_REASON}), got '2047M'"
    )


def test_flavor_mariadb_with_a_mysql_image_is_rejected(parse: Parse) -> None:
    assert error_of(parse, {"mysql": {"flavor": "mariadb", "image": "mysql:8.4.2"}}) == (
        "stateful:mysql.image must be a MariaDB image when flavor is mariadb (its repository name must contain "
        "'mariadb', as in mariadb:10.11), got 'mysql:8.4.2'"
    )


def test_flavor_mysql_with_a_mariadb_image_is_rejected(parse: Parse) -> None:
    assert error_of(parse, {"mysql": {"image": "docker.io/library/mariadb:10.11"}}) == (
        "stateful:mysql.image must be a MySQL image when flavor is mysql (its repository name must not contain "
        "'mariadb'; for a MariaDB image set flavor to mariadb), got 'docker.io/library/mariadb:10.11'"
    )


def test_flavor_mysql_with_an_image_that_names_neither_mysql_nor_percona_is_rejected(parse: Parse) -> None:
    assert error_of(parse, {"mysql": {"image": "mysql.example.com/postgres:16.4"}}) == (
        "stateful:mysql.image must be a MySQL image when flavor is mysql (its repository path must contain "
        "'mysql' or 'percona', as in mysql:8.4.3), got 'mysql.example.com/postgres:16.4'"
    )


def test_a_repeated_topology_spread_key_is_rejected(parse: Parse) -> None:
    spread = [
        {"topologyKey": "topology.kubernetes.io/zone"},
        {"topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule"},
    ]
    assert error_of(parse, {"nginx": {"topologySpreadConstraints": spread}}) == (
        "stateful:nginx.topologySpreadConstraints[1].topologyKey must not repeat "
        "topologySpreadConstraints[0].topologyKey (one constraint per topology key: the API refuses a repeated "
        "key with the same whenUnsatisfiable, and two skews over the same domains conflict), "
        "got 'topology.kubernetes.io/zone'"
    )


def test_a_node_selector_value_that_is_not_a_label_value_is_rejected(parse: Parse) -> None:
    assert error_of(parse, {"nginx": {"nodeSelector": {"disktype": "fast ssd"}}}) == (
        f"stateful:nginx.nodeSelector.disktype must be a label value ({LABEL_VALUE_HINT}), got 'fast ssd'"
    )


def test_a_node_selector_value_longer_than_63_characters_is_rejected(parse: Parse) -> None:
    value = "a" * 64
    assert error_of(parse, {"nginx": {"nodeSelector": {"disktype": value}}}) == (
        f"stateful:nginx.nodeSelector.disktype must be a label value ({LABEL_VALUE_HINT}), got {value!r}"
    )


def test_a_node_selector_key_name_longer_than_63_characters_is_rejected(parse: Parse) -> None:
    key = "example.com/" + "a" * 64
    assert error_of(parse, {"nginx": {"nodeSelector": {key: "ssd"}}}) == (
        f"stateful:nginx.nodeSelector.{key} is not a valid label key ({LABEL_KEY_HINT})"
    )


def test_a_node_selector_key_prefix_longer_than_253_characters_is_rejected(parse: Parse) -> None:
    key = "a" * 254 + "/disktype"
    assert error_of(parse, {"nginx": {"nodeSelector": {key: "ssd"}}}) == (
        f"stateful:nginx.nodeSelector.{key} is not a valid label key ({LABEL_KEY_HINT})"
    )


def test_an_empty_node_selector_value_is_accepted(parse: Parse) -> None:
    assert parse({"nginx": {"nodeSelector": {"example.com/gpu": ""}}}).nginx.workload.node_selector == {
        "example.com/gpu": ""
    }


def test_read_write_once_pod_combined_with_another_access_mode_is_rejected(parse: Parse) -> None:
    storage = {"accessModes": ["ReadWriteOnce", "ReadWriteOncePod"]}
    assert error_of(parse, {"nginx": {"storage": storage}}) == (
        "stateful:nginx.storage.accessModes must list ReadWriteOncePod alone (the API refuses it combined with "
        "any other mode), got ['ReadWriteOnce', 'ReadWriteOncePod']"
    )


@pytest.mark.parametrize(
    ("sections", "key"),
    [
        pytest.param(
            {"zookeeper": {"updateStrategy": {"maxUnavailable": 2}}},
            "zookeeper.updateStrategy.maxUnavailable",
            id="zookeeper-max-unavailable",
        ),
        pytest.param(
            {"zookeeper": {"podManagementPolicy": "OrderedReady"}},
            "zookeeper.podManagementPolicy",
            id="zookeeper-ordered-ready",
        ),
        pytest.param(
            {"zookeeper": {"publishNotReadyAddresses": False}},
            "zookeeper.publishNotReadyAddresses",
            id="zookeeper-unpublished-not-ready",
        ),
        pytest.param({"zookeeper": {"heapMb": 1023}}, "zookeeper.heapMb", id="zookeeper-heap"),
        pytest.param(
            {"mysql": {"innodbBufferPoolSize": "2047M"}}, "mysql.innodbBufferPoolSize", id="mysql-buffer-pool"
        ),
        pytest.param({"mysql": {"flavor": "mariadb", "image": "mysql:8.4.2"}}, "mysql.image", id="mysql-flavor-image"),
        pytest.param(
            {"nginx": {"topologySpreadConstraints": [{"topologyKey": "zone"}, {"topologyKey": "zone"}]}},
            "nginx.topologySpreadConstraints[1].topologyKey",
            id="repeated-spread-key",
        ),
        pytest.param(
            {"nginx": {"nodeSelector": {"disktype": "fast ssd"}}},
            "nginx.nodeSelector.disktype",
            id="node-selector-value",
        ),
        pytest.param(
            {"nginx": {"storage": {"accessModes": ["ReadWriteOncePod", "ReadWriteMany"]}}},
            "nginx.storage.accessModes",
            id="access-modes",
        ),
    ],
)
def test_a_value_that_would_break_a_live_workload_fails_before_registering_any_resource(
    sections: dict[str, Any], key: str
) -> None:
    registered: list[RenderedResource] = []
    with pytest.raises(ConfigError, match=re.escape(f"stateful:{key} ")):
        render_sections(sections, registered=registered)
    assert registered == []


def test_a_malformed_image_reference_is_rejected_naming_its_key(parse: Parse) -> None:
    message = error_of(parse, {"nginx": {"image": "Nginx:1"}})
    assert message == "stateful:nginx.image must be an image reference such as nginx:1.27.3, got 'Nginx:1'"


def test_a_latest_image_is_left_to_the_policy_pack_with_a_warning_naming_its_key(parse: Parse) -> None:
    settings = parse({"nginx": {"image": "stateful.local/nginx:latest"}})
    assert unpinned_images(settings) == [
        "stateful:nginx.image must name a pinned tag or digest, not latest, got 'stateful.local/nginx:latest'; "
        "the policy pack's mandatory pinned-images refuses it"
    ]
