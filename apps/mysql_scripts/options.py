"""The servers' option files: shared, per flavor, and per role (primary, replica)."""

from __future__ import annotations

from apps.mysql_scripts.common import (
    DATA_MOUNT,
    MYSQL_PORT,
    REPLICA_NET_TIMEOUT_S,
    RETRY_COUNT,
    RUN_DIR,
    MySQLFlavor,
    render,
)

_SERVER_CNF_COMMON = """\
# Server options shared by every member; init-config.sh appends the role's file and the server-id.
[mysqld]
datadir = @DATA_MOUNT@/data
socket = @RUN_DIR@/mysqld.sock
pid-file = @RUN_DIR@/mysqld.pid
tmpdir = /tmp
port = @MYSQL_PORT@
skip-name-resolve
character-set-server = utf8mb4
innodb-buffer-pool-size = @BUFFER_POOL@
# Durability: a commit is on disk (redo log and binary log) when the client hears of it.
innodb-flush-log-at-trx-commit = 1
sync-binlog = 1
binlog-expire-logs-seconds = @BINLOG_EXPIRY@
"""

_SERVER_CNF_FLAVOR = {
    MySQLFlavor.MARIADB: """\
bind-address = 0.0.0.0
log-bin = mysql-bin
relay-log = mysql-relay-bin
binlog-format = ROW
log-slave-updates = ON
gtid-strict-mode = ON
""",
    MySQLFlavor.MYSQL: """\
bind-address = *
mysqlx = OFF
secure-file-priv = NULL
log-bin = mysql-bin
relay-log = mysql-relay-bin
gtid-mode = ON
enforce-gtid-consistency = ON
plugin-load-add = mysql_clone.so
""",
}


def server_cnf(flavor: MySQLFlavor, innodb_buffer_pool_size: str, binlog_expire_days: int = 7) -> str:
    """Options every member shares: paths, networking, GTID binary logging, and for MySQL the clone plugin."""
    values = {
        "@DATA_MOUNT@": DATA_MOUNT,
        "@RUN_DIR@": RUN_DIR,
        "@MYSQL_PORT@": str(MYSQL_PORT),
        "@BUFFER_POOL@": innodb_buffer_pool_size,
        "@BINLOG_EXPIRY@": str(binlog_expire_days * 86400),
    }
    return render(_SERVER_CNF_COMMON + _SERVER_CNF_FLAVOR[flavor], flavor, values)


def primary_cnf(net_write_timeout: int) -> str:
    """Options of the primary."""
    return f"""\
# The primary. A replica killed without a goodbye leaves its binlog dump thread blocked in a write until
# net_write_timeout expires (60 s by default); keep it short so that the replacement can attach at once.
[mysqld]
net-write-timeout = {net_write_timeout}
"""


_REPLICA_NET = {
    MySQLFlavor.MARIADB: f"slave-net-timeout = {REPLICA_NET_TIMEOUT_S}\nmaster-retry-count = {RETRY_COUNT}\n",
    MySQLFlavor.MYSQL: f"replica-net-timeout = {REPLICA_NET_TIMEOUT_S}\n",  # retries: SOURCE_RETRY_COUNT
}


def replica_cnf(flavor: MySQLFlavor) -> str:
    """Options of a replica: read-only (MySQL also super_read_only, which binds root too), fast reconnects."""
    extra = "super-read-only = ON\n" if flavor is MySQLFlavor.MYSQL else ""
    header = (
        "# A replica: clients cannot write; only the replication threads change data. It notices a lost\n"
        f"# primary after {REPLICA_NET_TIMEOUT_S} s without data or heartbeat (a connect times out as fast)\n"
        "# and retries every second, practically forever.\n"
    )
    return f"{header}[mysqld]\nread-only = ON\n{extra}{_REPLICA_NET[flavor]}"
