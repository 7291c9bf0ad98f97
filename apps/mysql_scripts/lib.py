"""``lib.sh``: the shell definitions every script sources (roles, clients, replication health)."""

from __future__ import annotations

from apps.mysql_scripts.common import (
    BACKUP_PORT,
    CONF_DIR,
    DATA_MOUNT,
    DEFAULT_APP_DATABASE,
    DEFAULT_APP_USER,
    DEFAULT_MAX_REPLICA_LAG_S,
    LAST_PASSWORD_FILE,
    MYSQL_PORT,
    READY_FILE,
    RUN_DIR,
    SERVER_ID_OFFSET,
    MySQLFlavor,
    render,
)

_LIB = """\
# Shared by the scripts of the MySQL pods: who this pod is, where its peers are, and client helpers.
set -euo pipefail

DATADIR=@DATA_MOUNT@/data
MARKER=@DATA_MOUNT@/.stateful-initialized
CONF=@CONF_DIR@
SOCKET=@RUN_DIR@/mysqld.sock
BOOT_SOCKET=/tmp/bootstrap.sock
STATEFULSET=@STATEFULSET@
PEER_DOMAIN=@PEER_DOMAIN@
PRIMARY_ORDINAL=@PRIMARY_ORDINAL@
PRIMARY_HOST=@PRIMARY_HOST@
SERVER_ID_OFFSET=@SERVER_ID_OFFSET@
MYSQL_PORT=@MYSQL_PORT@
BACKUP_PORT=@BACKUP_PORT@
READY_FILE=@READY_FILE@
LAST_PASSWORD_FILE=@LAST_PASSWORD_FILE@
MAX_REPLICA_LAG=@MAX_REPLICA_LAG@
APP_USER=@APP_USER@
APP_DATABASE=@APP_DATABASE@

read -r HOST < /proc/sys/kernel/hostname
ORDINAL="${HOST##*-}"
case "$ORDINAL" in
  ''|*[!0-9]*) echo "cannot read an ordinal from the hostname $HOST" >&2; exit 1 ;;
esac

is_primary() { [ "$ORDINAL" -eq "$PRIMARY_ORDINAL" ]; }
peer_host() { echo "$STATEFULSET-$1.$PEER_DOMAIN"; }

# Quote $1 as an SQL string literal.
sql_string() {
  local value=$1 quote="'" backslash='\\'
  value=${value//"$backslash"/"$backslash$backslash"}
  value=${value//"$quote"/"$quote$quote"}
  printf "'%s'" "$value"
}

# Quote $1 as an option-file value.
option_value() {
  local value=$1 dquote='"' backslash='\\'
  value=${value//"$backslash"/"$backslash$backslash"}
  value=${value//"$dquote"/"$backslash$dquote"}
  printf '"%s"' "$value"
}

# Connect to the running server as root through its socket.
client() { @CLIENT@ --defaults-extra-file="$CONF/client.cnf" "$@"; }
admin() { @ADMIN@ --defaults-extra-file="$CONF/client.cnf" "$@"; }

# This replica's status as NAME=value lines (nothing when it is not a replica).
replica_status() {
  client --connect-timeout=2 --batch -e '@SHOW_STATUS@\\G' | sed -n 's/^ *\\([A-Za-z_]*\\): \\(.*\\)$/\\1=\\2/p'
}
# The answer to a backup port's challenge: only holders of the set's Secret (the replication password) know it.
challenge_answer() { printf '%s\\n%s' "$1" "$MYSQL_REPLICATION_PASSWORD" | sha256sum | cut -d ' ' -f 1; }

status_field() { awk -v key="$1=" 'index($0, key) == 1 { print substr($0, length(key) + 1); exit }' <<< "$STATUS"; }

# Whether this replica may serve reads: both threads running, at most MAX_REPLICA_LAG seconds behind.
# Sets HEALTH to the reason either way ("ready: ..." or "not ready: ...") and STATUS to the status.
replica_health() {
  local io sql lag
  if ! STATUS=$(replica_status 2>&1); then HEALTH="not ready: the server does not answer: $STATUS"; return 1; fi
  if [ -z "$STATUS" ]; then HEALTH="not ready: not configured as a replica yet"; return 1; fi
  io=$(status_field @IO_RUNNING@)
  sql=$(status_field @SQL_RUNNING@)
  lag=$(status_field @BEHIND@)
  if [ "$io" != Yes ] || [ "$sql" != Yes ]; then
    HEALTH="not ready: replication from $PRIMARY_HOST is not running: IO thread $io, SQL thread $sql,\
 last IO error: '$(status_field Last_IO_Error)', last SQL error: '$(status_field Last_SQL_Error)'"
    return 1
  fi
  case "$lag" in
    ''|*[!0-9]*) HEALTH="not ready: lag unknown ($lag)"; return 1 ;;
  esac
  if [ "$lag" -gt "$MAX_REPLICA_LAG" ]; then
    HEALTH="not ready: $lag s behind the primary (at most $MAX_REPLICA_LAG s: maxReplicaLagSeconds)"
    return 1
  fi
  HEALTH="ready: replicating from $PRIMARY_HOST, $lag s behind"
}
"""

STATUS_FIELDS = {
    MySQLFlavor.MARIADB: {
        "@SHOW_STATUS@": "SHOW SLAVE STATUS",
        "@IO_RUNNING@": "Slave_IO_Running",
        "@SQL_RUNNING@": "Slave_SQL_Running",
        "@BEHIND@": "Seconds_Behind_Master",
    },
    MySQLFlavor.MYSQL: {
        "@SHOW_STATUS@": "SHOW REPLICA STATUS",
        "@IO_RUNNING@": "Replica_IO_Running",
        "@SQL_RUNNING@": "Replica_SQL_Running",
        "@BEHIND@": "Seconds_Behind_Source",
    },
}


def lib_sh(
    flavor: MySQLFlavor,
    *,
    statefulset: str,
    peer_domain: str,
    primary_ordinal: int,
    primary_host: str,
    max_replica_lag_seconds: int = DEFAULT_MAX_REPLICA_LAG_S,
    app_user: str = DEFAULT_APP_USER,
    app_database: str = DEFAULT_APP_DATABASE,
) -> str:
    """Shell definitions every script sources."""
    values = {
        "@APP_USER@": app_user,
        "@APP_DATABASE@": app_database,
        **STATUS_FIELDS[flavor],
        "@LAST_PASSWORD_FILE@": LAST_PASSWORD_FILE,
        "@MAX_REPLICA_LAG@": str(max_replica_lag_seconds),
        "@DATA_MOUNT@": DATA_MOUNT,
        "@CONF_DIR@": CONF_DIR,
        "@RUN_DIR@": RUN_DIR,
        "@STATEFULSET@": statefulset,
        "@PEER_DOMAIN@": peer_domain,
        "@PRIMARY_ORDINAL@": str(primary_ordinal),
        "@PRIMARY_HOST@": primary_host,
        "@SERVER_ID_OFFSET@": str(SERVER_ID_OFFSET),
        "@MYSQL_PORT@": str(MYSQL_PORT),
        "@BACKUP_PORT@": str(BACKUP_PORT),
        "@READY_FILE@": READY_FILE,
    }
    return render(_LIB, flavor, values)
