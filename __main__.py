"""Stateful clusters as code: read this stack's config once, then deploy nginx, ZooKeeper and MySQL."""

import pulumi

from apps.mysql import MySQLCredentials
from apps.stack import PROJECT, deploy, parse_stack_settings
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

credentials = None
if settings.mysql.enabled:
    credentials = MySQLCredentials(
        root_password=config.require_secret("mysqlRootPassword"),
        replication_password=config.require_secret("mysqlReplicationPassword"),
    )

provider = kubernetes_provider("kubernetes", settings.kubeconfig_context)
for name, value in deploy(settings, provider, credentials).items():
    pulumi.export(name, value)
