"""Secrets come only from secret config: the stack's configuration, as the engine hands it to the pack."""

from __future__ import annotations

import base64
import json

import pytest
from policy_support import messages

from policy.credentials import stack_config
from policy.model import Resource, Stack

ROOT = "stateful:mysqlRootPassword"


def secret(**string_data: str) -> Stack:
    props = {"metadata": {"name": "mysql-credentials", "namespace": "mysql"}, "stringData": string_data}
    return Stack((Resource("kubernetes:core/v1:Secret", props),))


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment the language host gives the pack for a stack: its config and its secret keys."""
    config = {ROOT: "s3cret", "stateful:db": json.dumps({"user": "app", "password": "nested"}), "stateful:x": "plain"}
    monkeypatch.setenv("PULUMI_STACK", "local")
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(config))
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", json.dumps([ROOT, "stateful:db"]))


@pytest.mark.usefixtures("configured")
def test_a_value_from_secret_config_passes() -> None:
    assert messages("secrets-from-secret-config", secret(**{"root-password": "s3cret"})) == []


@pytest.mark.usefixtures("configured")
def test_a_value_inside_a_structured_secret_passes() -> None:
    assert messages("secrets-from-secret-config", secret(password="nested")) == []


@pytest.mark.usefixtures("configured")
def test_a_value_from_plain_config_names_the_key_to_encrypt() -> None:
    assert messages("secrets-from-secret-config", secret(token="plain")) == [
        "Secret mysql/mysql-credentials: stringData.token is the plain config value of stateful:x; "
        "store it encrypted: pulumi config set --secret stateful:x <value>"
    ]


@pytest.mark.usefixtures("configured")
def test_a_value_written_into_the_program_is_reported() -> None:
    assert messages("secrets-from-secret-config", secret(token="hunter2")) == [
        "Secret mysql/mysql-credentials: stringData.token is not the value of any secret config key; "
        "take it from config set with `pulumi config set --secret`"
    ]


@pytest.mark.usefixtures("configured")
def test_base64_data_is_checked_like_string_data() -> None:
    props = {"metadata": {"name": "s", "namespace": "n"}, "data": {"a": base64.b64encode(b"plain").decode()}}
    (message,) = messages("secrets-from-secret-config", Stack((Resource("kubernetes:core/v1:Secret", props),)))
    assert message.startswith("Secret n/s: data.a is the plain config value of stateful:x")


def test_without_a_stack_the_policy_does_not_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PULUMI_STACK", raising=False)
    assert messages("secrets-from-secret-config", secret(token="hunter2")) == []


def test_the_configuration_is_read_as_the_language_host_passes_it() -> None:
    env = {"PULUMI_STACK": "dev", "PULUMI_CONFIG": '{"stateful:a": "1"}', "PULUMI_CONFIG_SECRET_KEYS": '["stateful:a"]'}
    config = stack_config(env)
    assert config is not None
    assert (dict(config.values), config.secret_keys) == ({"stateful:a": "1"}, frozenset({"stateful:a"}))
