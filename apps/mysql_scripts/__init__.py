"""The MySQL pods' scripts and option files, rendered per flavor (MariaDB or MySQL 8.4).

Images provide binaries only; everything a pod runs is here, mounted from a ConfigMap:

* ``init-config.sh`` (init): the server's option file for this pod's role, server-id = 100 + ordinal,
  root's client option file and the server's init file (applied at every start: the accounts' current
  passwords, the application's database and account from stack config, no root but through the
  socket) on a memory-backed volume;
* ``init-data.sh`` (init, once per volume): the primary initializes an empty data directory and
  creates the accounts; a replica clones the most advanced member that answers (MariaDB:
  ``mariadb-backup`` streamed from the donor's sidecar port after a challenge only holders of the
  set's Secret answer; MySQL: the clone plugin's ``CLONE INSTANCE FROM``);
* ``replication.sh`` (sidecar): points a replica at the primary by GTID (idempotent, so it runs on
  every start), serves backups to new replicas (MariaDB), and watches replication: it logs each change
  of health and, when the primary refuses the replication password (a rotation reaches replicas
  first), falls back to the last password that worked until the primary takes the new one;
* ``probe.sh``: readiness of the primary runs a query; a replica is ready only while both replication
  threads run and it is at most ``maxReplicaLagSeconds`` behind (the reason is the probe's output,
  shown in the pod's events); liveness only asks whether the server answers.
"""


from __future__ import annotations

from apps.mysql_scripts.common import (
    BACKUP_PORT,
    CONF_DIR,
    DATA_MOUNT,
    DEFAULT_APP_DATABASE,
    DEFAULT_APP_USER,
    DEFAULT_MAX_REPLICA_LAG_S,
    INIT_FILE,
    MYSQL_PORT,
    READY_FILE,
    RESERVED_DATABASES,
    RESERVED_USERS,
    RUN_DIR,
    SCRIPTS_DIR,
    MySQLFlavor,
    server_binary,
)
from apps.mysql_scripts.init import init_config_sh, init_data_sh
from apps.mysql_scripts.lib import lib_sh
from apps.mysql_scripts.options import primary_cnf, replica_cnf, server_cnf
from apps.mysql_scripts.replication import BACKUP_SH, change_source_sql, probe_sh, replication_sh


def script_files(
    flavor: MySQLFlavor,
    *,
    statefulset: str,
    peer_domain: str,
    primary_ordinal: int,
    primary_host: str,
    net_write_timeout: int,
    innodb_buffer_pool_size: str,
    binlog_expire_days: int = 7,
    max_replica_lag_seconds: int = DEFAULT_MAX_REPLICA_LAG_S,
    app_user: str = DEFAULT_APP_USER,
    app_database: str = DEFAULT_APP_DATABASE,
) -> dict[str, str]:
    """Every file of the MySQL ConfigMap."""
    files = {
        "lib.sh": lib_sh(
            flavor,
            statefulset=statefulset,
            peer_domain=peer_domain,
            primary_ordinal=primary_ordinal,
            primary_host=primary_host,
            max_replica_lag_seconds=max_replica_lag_seconds,
            app_user=app_user,
            app_database=app_database,
        ),
        "init-config.sh": init_config_sh(flavor),
        "init-data.sh": init_data_sh(flavor),
        "replication.sh": replication_sh(flavor),
        "probe.sh": probe_sh(flavor),
        "server.cnf": server_cnf(flavor, innodb_buffer_pool_size, binlog_expire_days),
        "primary.cnf": primary_cnf(net_write_timeout),
        "replica.cnf": replica_cnf(flavor),
    }
    if flavor is MySQLFlavor.MARIADB:
        files["backup.sh"] = BACKUP_SH
    return files


__all__ = [
    "BACKUP_PORT",
    "BACKUP_SH",
    "CONF_DIR",
    "DATA_MOUNT",
    "DEFAULT_APP_DATABASE",
    "DEFAULT_APP_USER",
    "DEFAULT_MAX_REPLICA_LAG_S",
    "INIT_FILE",
    "MYSQL_PORT",
    "READY_FILE",
    "RESERVED_DATABASES",
    "RESERVED_USERS",
    "RUN_DIR",
    "SCRIPTS_DIR",
    "MySQLFlavor",
    "change_source_sql",
    "init_config_sh",
    "init_data_sh",
    "lib_sh",
    "primary_cnf",
    "probe_sh",
    "replica_cnf",
    "replication_sh",
    "script_files",
    "server_binary",
    "server_cnf",
]
