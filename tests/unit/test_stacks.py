"""The stack files: only config differs, and each environment says what it promises."""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.mysql_scripts import MySQLFlavor
from apps.stack import StackSettings, parse_stack_settings
from infra.workload import AntiAffinityType, PullPolicy, RetentionAction
from policy.render import stack_config

STACKS = Path(__file__).resolve().parents[2] / "stacks"
PASSWORD_KEYS = {"mysqlRootPassword", "mysqlReplicationPassword", "mysqlAppPassword"}


def settings_of(stack: str) -> StackSettings:
    config, secrets = stack_config(STACKS / f"Pulumi.{stack}.yaml")
    raw = {key.removeprefix("stateful:"): value for key, value in config.items()}
    raw.update(dict.fromkeys(PASSWORD_KEYS - set(raw), "set-by-the-cli"))
    return parse_stack_settings(raw, {key.removeprefix("stateful:") for key in secrets} | PASSWORD_KEYS)


def test_the_project_file_uses_the_virtualenv_and_the_stacks_directory() -> None:
    text = (STACKS.parent / "Pulumi.yaml").read_text()
    for line in ("name: stateful", "virtualenv: .venv", "toolchain: pip", "stackConfigDir: stacks", "name: python"):
        assert line in text


def test_the_local_stack_uses_the_local_images_without_pulling() -> None:
    settings = settings_of("local")
    images = {app.workload.image for app in (settings.nginx, settings.zookeeper, settings.mysql)}
    assert images == {"stateful.local/nginx:1.22", "stateful.local/zookeeper:3.8", "stateful.local/mariadb:10.11"}
    for app in (settings.nginx, settings.zookeeper, settings.mysql):
        assert app.workload.image_pull_policy is PullPolicy.NEVER
        assert app.workload.storage.storage_class_name == "standard"
    assert settings.mysql.flavor is MySQLFlavor.MARIADB


def test_the_local_ensemble_requires_one_member_per_node() -> None:
    settings = settings_of("local")
    assert settings.zookeeper.workload.pod_anti_affinity.type is AntiAffinityType.REQUIRED
    assert settings.zookeeper.workload.replicas == 3


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_real_environments_use_pinned_official_images(stack: str) -> None:
    settings = settings_of(stack)
    assert settings.nginx.workload.image == "nginx:1.27.3"
    assert settings.zookeeper.workload.image == "zookeeper:3.8.4"
    assert settings.mysql.workload.image == "mysql:8.4.3"
    assert settings.mysql.flavor is MySQLFlavor.MYSQL


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_real_environments_require_anti_affinity(stack: str) -> None:
    settings = settings_of(stack)
    for app in (settings.nginx, settings.zookeeper, settings.mysql):
        assert app.workload.pod_anti_affinity.type is AntiAffinityType.REQUIRED


def test_production_retains_every_volume() -> None:
    settings = settings_of("prod")
    for app in (settings.nginx, settings.zookeeper, settings.mysql):
        policy = app.workload.persistent_volume_claim_retention_policy
        assert (policy.when_deleted, policy.when_scaled) == (RetentionAction.RETAIN, RetentionAction.RETAIN)


def test_no_stack_file_holds_a_password_in_plain_text() -> None:
    for path in STACKS.glob("Pulumi.*.yaml"):
        config, secrets = stack_config(path)
        for key in PASSWORD_KEYS:
            assert f"stateful:{key}" not in config or f"stateful:{key}" in secrets, path.name
