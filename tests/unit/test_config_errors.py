"""Bad config fails at program start, before any resource exists, with the key and what is allowed."""

from __future__ import annotations

import re
from typing import Any

import pytest

from apps.config import ConfigError, camel_path
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
