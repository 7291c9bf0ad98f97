"""Stateful clusters as code: read this stack's config once, check it against what runs, then deploy."""

import os

import pulumi

from apps.changes import check_live_changes, targets
from apps.config import ConfigError
from apps.mysql import MySQLCredentials
from apps.stack import PROJECT, deploy, parse_stack_settings, unpinned_images
from infra.live import LiveReadError, read_live
from infra.provider import kubernetes_provider

config = pulumi.Config(PROJECT)
prefix = f"{PROJECT}:"
raw = {
    key.removeprefix(prefix): str(value)
    for key, value in pulumi.runtime.get_config_env().items()
    if key.startswith(prefix)
}
secret_keys = {
    key.removeprefix(prefix) for key in pulumi.runtime.get_config_secret_keys_env() if key.startswith(prefix)
}
settings = parse_stack_settings(raw, secret_keys)  # fails `pulumi preview` before any resource exists
for warning in unpinned_images(settings):  # refused by the policy pack, which names the resource
    pulumi.log.warn(warning)

# Against the live cluster: a change that would lose data is refused here, before anything changes.
# Offline renderings (policy, unit tests) have no cluster to compare with and set STATEFUL_LIVE_CHECKS=off.
if os.environ.get("STATEFUL_LIVE_CHECKS", "on") != "off":
    try:
        live = read_live(settings.kubeconfig_context, targets(settings), pulumi.get_stack())
        check_live_changes(settings, live)
    except LiveReadError as error:
        if not pulumi.runtime.is_dry_run():
            raise ConfigError(f"cannot read the live StatefulSets to check this change against: {error}") from None
        pulumi.log.warn(f"live checks skipped: cannot read the cluster ({error})")

credentials = None
if settings.mysql.enabled:
    credentials = MySQLCredentials(
        root_password=config.require_secret("mysqlRootPassword"),
        replication_password=config.require_secret("mysqlReplicationPassword"),
        app_password=config.require_secret("mysqlAppPassword"),
    )

provider = kubernetes_provider("kubernetes", settings.kubeconfig_context)
for name, value in deploy(settings, provider, credentials).items():
    pulumi.export(name, value)
