"""The claim expansion step: which claims it grows and when Pulumi sees a change (no cluster)."""

from __future__ import annotations

from infra import specs
from infra.claims import ClaimExpansionProvider, claim_names

PROPS = {"namespace": "demo", "statefulset": "web-demo", "claim_template": "www", "ordinals": [0, 1],
         "size": "512Mi", "context": "", "timeout_seconds": 300}


def test_the_claims_are_named_as_the_statefulset_controller_names_them() -> None:
    assert claim_names("www", "web-demo", [0, 1]) == ["www-web-demo-0", "www-web-demo-1"]


def test_a_bigger_size_is_a_change_and_never_a_replacement() -> None:
    result = ClaimExpansionProvider().diff("id", PROPS, {**PROPS, "size": "1Gi"})
    assert result.changes is True
    assert result.replaces == []


def test_another_ordinal_is_a_change() -> None:
    assert ClaimExpansionProvider().diff("id", PROPS, {**PROPS, "ordinals": [0, 1, 2]}).changes is True


def test_a_longer_timeout_alone_is_no_change() -> None:
    assert ClaimExpansionProvider().diff("id", PROPS, {**PROPS, "timeout_seconds": 900}).changes is False


def test_a_config_map_name_follows_its_content() -> None:
    first = specs.config_map_name("zk-config", {"zoo.cfg": "tickTime=2000\n"})
    assert first == specs.config_map_name("zk-config", {"zoo.cfg": "tickTime=2000\n"})
    assert first != specs.config_map_name("zk-config", {"zoo.cfg": "tickTime=1000\n"})
    assert first.startswith("zk-config-")
    assert len(first) == len("zk-config-") + specs.CONFIG_DIGEST_LENGTH


def test_a_secret_digest_differs_per_value_and_per_secret_name() -> None:
    digest = specs.secret_digest("mysql-credentials", {"root-password": "a"})
    assert digest != specs.secret_digest("mysql-credentials", {"root-password": "b"})
    assert digest != specs.secret_digest("other", {"root-password": "a"})
