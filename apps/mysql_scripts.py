"""The MySQL pods' scripts and option files, rendered per flavor (MariaDB or MySQL 8.4).

Images provide binaries only; everything a pod runs is here, mounted from a ConfigMap:

* ``init-config.sh`` (init): the server's option file for this pod's role, server-id = 100 + ordinal,
  root's client option file and the server's init file (the accounts' current passwords, applied at
  every start) on a memory-backed volume;
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

import re
from enum import StrEnum


class MySQLFlavor(StrEnum):
    """Which server the image carries; it decides the binaries and the replication SQL."""

    MARIADB = "mariadb"
    MYSQL = "mysql"


MYSQL_PORT = 3306
BACKUP_PORT = 3307
SERVER_ID_OFFSET = 100
DATA_MOUNT = "/var/lib/mysql"
CONF_DIR = "/etc/mysql-stateful"
SCRIPTS_DIR = "/scripts"
RUN_DIR = "/run/mysqld"
READY_FILE = "/tmp/replication-ready"
#: The replication password that last connected a replica, kept on its volume (beside master.info, which
#: holds it too) so that a replica restarted with a rotated password can replicate until the primary has it.
LAST_PASSWORD_FILE = f"{DATA_MOUNT}/.replication-password"
#: Seconds without data or heartbeat after which a replica reconnects; also its connect timeout, so a
#: connect to a dead address gives up this fast. The primary's heartbeat comes every HEARTBEAT_S.
REPLICA_NET_TIMEOUT_S = 3
HEARTBEAT_S = 1
#: Connect attempts (one a second) before a replica gives up: the largest value every version takes,
#: 136 years (MariaDB's 0 is "forever" only in some versions, MDEV-36002).
RETRY_COUNT = 4294967295
DEFAULT_MAX_REPLICA_LAG_S = 30
INIT_FILE = f"{CONF_DIR}/init.sql"
_PLACEHOLDER = re.compile(r"@[A-Z_]+@")

_BINARIES = {
    MySQLFlavor.MARIADB: {"@SERVER@": "mariadbd", "@CLIENT@": "mariadb", "@ADMIN@": "mariadb-admin"},
    MySQLFlavor.MYSQL: {"@SERVER@": "mysqld", "@CLIENT@": "mysql", "@ADMIN@": "mysqladmin"},
}


def server_binary(flavor: MySQLFlavor) -> str:
    """The server executable of ``flavor``."""
    return _BINARIES[flavor]["@SERVER@"]


def _render(template: str, flavor: MySQLFlavor, values: dict[str, str] | None = None) -> str:
    text = template
    for token, value in {**_BINARIES[flavor], **(values or {})}.items():
        text = text.replace(token, value)
    leftover = _PLACEHOLDER.findall(text)
    if leftover:
        raise ValueError(f"unrendered placeholders: {leftover}")
    return text


# --- option files -------------------------------------------------------------------------------

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
    return _render(_SERVER_CNF_COMMON + _SERVER_CNF_FLAVOR[flavor], flavor, values)


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


# --- shared shell library -----------------------------------------------------------------------

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

_STATUS_FIELDS = {
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
) -> str:
    """Shell definitions every script sources."""
    values = {
        **_STATUS_FIELDS[flavor],
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
    return _render(_LIB, flavor, values)


# --- init-config.sh -----------------------------------------------------------------------------

_INIT_CONFIG = """\
#!/bin/bash
# Write this pod's option files: the server's (role from the ordinal, server-id = offset + ordinal)
# and root's client file (on a memory-backed volume, readable by this user only).
source @SCRIPTS_DIR@/lib.sh
role=replica
if is_primary; then role=primary; fi
server_id=$((SERVER_ID_OFFSET + ORDINAL))
{
  cat @SCRIPTS_DIR@/server.cnf "@SCRIPTS_DIR@/$role.cnf"
  echo "server-id = $server_id"
} > "$CONF/my.cnf"
umask 077
{
  for group in @CLIENT_GROUPS@; do
    echo "[$group]"
    echo "user = root"
    echo "password = $(option_value "$MYSQL_ROOT_PASSWORD")"
    echo "socket = $SOCKET"
  done
} > "$CONF/client.cnf"
printf '!include %s\\n!include %s\\n' "$CONF/my.cnf" "$CONF/client.cnf" > "$CONF/backup.cnf"
# The server runs this at every start (--init-file): the accounts take this pod's passwords, so a
# rotated Secret reaches the database when the pods roll. Not binary-logged: each member sets its own
# accounts (a replica's own GTID would diverge from the primary's history).
{
  echo "SET sql_log_bin = 0;"
@INIT_SQL_BEGIN@
  echo "ALTER USER IF EXISTS 'root'@'localhost' IDENTIFIED BY $(sql_string "$MYSQL_ROOT_PASSWORD");"
  echo "ALTER USER IF EXISTS 'root'@'%' IDENTIFIED BY $(sql_string "$MYSQL_ROOT_PASSWORD");"
  echo "ALTER USER IF EXISTS 'repl'@'%' IDENTIFIED BY $(sql_string "$MYSQL_REPLICATION_PASSWORD");"
@INIT_SQL_END@
  echo "SET sql_log_bin = 1;"
} > "$CONF/init.sql"
echo "$HOST is a $role with server-id $server_id"
"""

# MySQL's super_read_only binds the init file too: lift it for the account statements on a replica.
_INIT_SQL_FENCE = {
    MySQLFlavor.MARIADB: ("  : # read_only does not bind the server's own init file", "  :"),
    MySQLFlavor.MYSQL: (
        '  if [ "$role" = replica ]; then echo "SET GLOBAL super_read_only = OFF;"; fi',
        '  if [ "$role" = replica ]; then echo "SET GLOBAL super_read_only = ON;"; fi',
    ),
}

_CLIENT_GROUPS = {MySQLFlavor.MARIADB: "client mariabackup mariadb-backup", MySQLFlavor.MYSQL: "client"}


def init_config_sh(flavor: MySQLFlavor) -> str:
    """Init container 1: option files for this pod, and the server's init file that applies the passwords."""
    begin, end = _INIT_SQL_FENCE[flavor]
    values = {
        "@SCRIPTS_DIR@": SCRIPTS_DIR,
        "@CLIENT_GROUPS@": _CLIENT_GROUPS[flavor],
        "@INIT_SQL_BEGIN@": begin,
        "@INIT_SQL_END@": end,
    }
    return _render(_INIT_CONFIG, flavor, values)


# --- init-data.sh -------------------------------------------------------------------------------

_INIT_DATA = """\
#!/bin/bash
# Give this pod a data directory once: the primary initializes an empty one and creates the accounts
# (never while a peer holds history: see refuse_empty_primary); a replica clones the most advanced
# member that answers (the primary while it runs). A finished directory is marked and never touched
# again; an unfinished one is wiped and redone.
source @SCRIPTS_DIR@/lib.sh

if [ -e "$MARKER" ]; then
  echo "the data directory is already initialized"
  exit 0
fi
rm -rf "$DATADIR"
mkdir -p "$DATADIR"

# As root through the bootstrap socket: no password on a new data directory, BOOT_PASSWORD on a cloned one.
bootstrap_client() {
  @CLIENT@ --no-defaults --socket="$BOOT_SOCKET" --user=root ${BOOT_PASSWORD:+"--password=$BOOT_PASSWORD"} "$@"
}

# A temporary server on this pod's loopback interface only, for the one-time setup.
start_bootstrap_server() {
  @SERVER@ --defaults-file="$CONF/my.cnf" --bind-address=127.0.0.1 --socket="$BOOT_SOCKET" \\
    --pid-file=/tmp/bootstrap.pid @BOOTSTRAP_FLAGS@ &
  BOOT_PID=$!
  local deadline=$((SECONDS + 300))
  until bootstrap_client -e 'SELECT 1' > /dev/null 2>&1; do
    if ! kill -0 "$BOOT_PID" 2> /dev/null; then echo "the bootstrap server exited" >&2; return 1; fi
    if [ "$SECONDS" -ge "$deadline" ]; then echo "the bootstrap server did not start" >&2; return 1; fi
    sleep 1
  done
}

stop_bootstrap_server_after_failure() {
  kill "$BOOT_PID" 2> /dev/null || true
  wait "$BOOT_PID" || true
  return 1
}

# Keep root@localhost, drop every other account the installer made, create root@% and the
# replication account, then stop. Not binary-logged: replicas get the accounts with the cloned data.
create_accounts() {
  local accounts account
  accounts=$(bootstrap_client --batch --skip-column-names -e "SELECT CONCAT(QUOTE(User), '@', QUOTE(Host))
    FROM mysql.user WHERE NOT (User = 'root' AND Host = 'localhost')
    AND User NOT IN ('mariadb.sys', 'mysql.sys', 'mysql.session', 'mysql.infoschema')")
  {
    echo "SET sql_log_bin = 0;"
    for account in $accounts; do echo "DROP USER $account;"; done
    echo "ALTER USER 'root'@'localhost' IDENTIFIED BY $(sql_string "$MYSQL_ROOT_PASSWORD");"
    echo "CREATE USER 'root'@'%' IDENTIFIED BY $(sql_string "$MYSQL_ROOT_PASSWORD");"
    echo "GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;"
@REMOTE_ROOT_LIMITS@
    echo "CREATE USER 'repl'@'%' IDENTIFIED BY $(sql_string "$MYSQL_REPLICATION_PASSWORD");"
    echo "GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%';"
    echo "SHUTDOWN;"
  } | bootstrap_client || stop_bootstrap_server_after_failure
  wait "$BOOT_PID"
}

initialize_primary() {
  echo "initializing an empty data directory for the primary"
  @INITIALIZE@
  start_bootstrap_server
  create_accounts
}

@CLONE@

# How much GTID history a server has applied (the sum of its sequence numbers; 0 for none), or -1
# when it does not answer. Peers are every member with an address behind the headless Service (it
# publishes members that are not ready too: a replica cut off from its primary still counts), asked
# as the replication account (reading a variable needs no privilege).
peer_history() {
  local pos
  pos=$(@CLIENT@ --no-defaults --host="$1" --port="$MYSQL_PORT" --user=repl --password="$MYSQL_REPLICATION_PASSWORD" \
    --connect-timeout=3 --batch --skip-column-names -e "SELECT @GTID_POSITION@" 2> /dev/null) || { echo -1; return; }
  @GTID_COUNT@
}

# The peer with the most GTID history, and how much: "<address> <count>", or nothing when no peer has
# more than $1 transactions (default 0: a peer with history; -1: any peer that answers).
most_advanced_peer() {
  local address count best="" most=${1:-0}
  for address in $(getent ahostsv4 "$PEER_DOMAIN" | awk '{print $1}' | sort -u); do
    count=$(peer_history "$address")
    if [ "$count" -gt "$most" ]; then best=$address; most=$count; fi
  done
  if [ -n "$best" ]; then echo "$best $most"; fi
}

refuse_empty_primary() {
  cat >&2 <<MESSAGE
REFUSING TO START AN EMPTY PRIMARY: $HOST's data directory is empty (its claim is new or was wiped),
but the replica at $1 holds a GTID history of $2 transactions. Initializing a new, empty database
here would serve writes that diverge from every replica, and the replicas would stop replicating.
To recover, clone this primary from the most advanced replica: set
  stateful:mysql.recoverEmptyPrimary: true
in the stack's config, run 'pulumi up', then 'kubectl delete pod $HOST' to restart it now (it
otherwise retries on its own back-off). Set it back to false afterwards to get this refusal again.
To really start empty instead, delete the replicas' claims first.
MESSAGE
  exit 1
}

@RECOVER@

if is_primary; then
  read -r donor history <<< "$(most_advanced_peer)" || true
  if [ -z "${donor:-}" ]; then
    initialize_primary
  elif [ "${RECOVER_EMPTY_PRIMARY:-false}" = true ]; then
    recover_primary_from "$donor" "$history"
  else
    refuse_empty_primary "$donor" "$history"
  fi
else
  # The most advanced member that answers: the primary while it runs, otherwise the replica closest to it.
  read -r donor history <<< "$(most_advanced_peer -1)" || true
  if [ -z "${donor:-}" ]; then
    echo "no member answers to clone from (is the primary $PRIMARY_HOST up?); retrying" >&2
    exit 1
  fi
  echo "the most advanced member is $donor ($history transactions)"
  clone_from "$donor"
fi
touch "$MARKER"
echo "the data directory is ready"
"""

_INITIALIZE = {
    MySQLFlavor.MARIADB: 'mariadb-install-db --defaults-file="$CONF/my.cnf" --auth-root-authentication-method=normal '
    "--skip-test-db --skip-name-resolve",
    MySQLFlavor.MYSQL: 'mysqld --defaults-file="$CONF/my.cnf" --initialize-insecure '
    "--read-only=OFF --super-read-only=OFF",
}

_BOOTSTRAP_FLAGS = {
    MySQLFlavor.MARIADB: "--skip-slave-start",
    MySQLFlavor.MYSQL: "--skip-replica-start --read-only=OFF --super-read-only=OFF",
}

# MariaDB's read_only does not bind accounts holding READ_ONLY ADMIN (part of ALL): take it from the
# remote root so that replicas refuse its writes; root@localhost keeps it for the sidecar.
_REMOTE_ROOT_LIMITS = {
    MySQLFlavor.MARIADB: "    echo \"REVOKE READ_ONLY ADMIN ON *.* FROM 'root'@'%';\"",
    MySQLFlavor.MYSQL: "    : # super_read_only binds every account on MySQL",
}

_CLONE = {
    MySQLFlavor.MARIADB: """\
# Stream a hot backup from the donor's sidecar (after answering its challenge), unpack
# it and make it consistent. The backup's binlog-info file (GTID position) tells replication.sh where
# to start.
clone_from() {
  local donor=$1
  echo "cloning the data of $donor"
  local word="" nonce verdict="" from to
  coproc DONOR { socat "TCP:$donor:$BACKUP_PORT,connect-timeout=30" STDIO; }
  # Own copies of the pipes: bash drops DONOR's once socat exits, the stream may still be unread.
  exec {from}<&"${DONOR[0]}" {to}>&"${DONOR[1]}"
  if ! read -r -t 30 word nonce <&"$from" || [ "$word" != CHALLENGE ]; then
    echo "$donor sent no challenge on port $BACKUP_PORT" >&2; exit 1
  fi
  challenge_answer "$nonce" >&"$to"
  if ! read -r -t 30 verdict <&"$from" || [ "$verdict" != STREAM ]; then
    echo "$donor did not stream a backup: ${verdict:-no answer}" >&2; exit 1
  fi
  mbstream -x -C "$DATADIR" <&"$from"
  exec {from}<&- {to}>&-
  mariadb-backup --defaults-file="$CONF/my.cnf" --prepare --target-dir="$DATADIR"
}""",
    MySQLFlavor.MYSQL: """\
# Initialize, start a temporary server and let the clone plugin replace its data with the donor's
# (GTID state included). With no supervisor to restart it, the server stops after a successful clone
# and the statement reports error 3707; any other error fails this container, which then retries.
clone_from() {
  local donor=$1 output status=0
  echo "cloning the data of $donor"
  @INITIALIZE@
  start_bootstrap_server
  output=$({
    echo "SET GLOBAL clone_valid_donor_list = $(sql_string "$donor:$MYSQL_PORT");"
    echo "CLONE INSTANCE FROM 'root'@$(sql_string "$donor"):$MYSQL_PORT\\
 IDENTIFIED BY $(sql_string "$MYSQL_ROOT_PASSWORD");"
  } | bootstrap_client 2>&1) || status=$?
  if [ "$status" -ne 0 ] && [[ "$output" != *"ERROR 3707"* ]]; then
    echo "$output" >&2
    stop_bootstrap_server_after_failure
  fi
  wait "$BOOT_PID" || true
}""",
}


_GTID_POSITION = {MySQLFlavor.MARIADB: "@@gtid_current_pos", MySQLFlavor.MYSQL: "@@gtid_executed"}

# Count transactions in a GTID position held in $pos.
_GTID_COUNT = {
    # MariaDB: domain-server-seq[,domain-server-seq...]; the sequence numbers count per domain.
    MySQLFlavor.MARIADB: """local total=0 gtid
  for gtid in ${pos//,/ }; do total=$((total + ${gtid##*-})); done
  echo "$total"
  """,
    # MySQL: uuid:1-42[:50-60][,uuid:...]; count every interval's members.
    MySQLFlavor.MYSQL: """local total=0 interval low high
  for interval in $(echo "$pos" | tr ',' '\\n' | sed 's/^[^:]*://' | tr ':' ' '); do
    low=${interval%-*}; high=${interval#*-}; total=$((total + high - low + 1))
  done
  echo "$total"
  """,
}

_RECOVER = {
    MySQLFlavor.MARIADB: """\
# Clone the most advanced replica, then make its history the binary log state of this primary, so
# that the replicas continue from their positions (mariadb-backup copies no binary logs).
recover_primary_from() {
  local donor=$1 info gtid=""
  echo "recovering the empty primary from $donor ($2 transactions)"
  clone_from "$donor"
  for info in "$DATADIR/mariadb_backup_binlog_info" "$DATADIR/xtrabackup_binlog_info"; do
    if [ -f "$info" ]; then read -r _ _ gtid _ < "$info" || true; mv "$info" "$info.applied"; break; fi
  done
  BOOT_PASSWORD=$MYSQL_ROOT_PASSWORD start_bootstrap_server
  {
    echo "RESET MASTER;"
    if [ -n "$gtid" ]; then
      echo "SET GLOBAL gtid_binlog_state = $(sql_string "$gtid");"
      echo "SET GLOBAL gtid_slave_pos = $(sql_string "$gtid");"  # the donor's, consistent with the binlog
    fi
    echo "RESET SLAVE ALL;"
    echo "SHUTDOWN;"
  } | BOOT_PASSWORD=$MYSQL_ROOT_PASSWORD bootstrap_client || stop_bootstrap_server_after_failure
  wait "$BOOT_PID" || true
  echo "recovered: the binary log continues at ${gtid:-nothing}"
}""",
    MySQLFlavor.MYSQL: """\
# The clone plugin carries the donor's GTID state, so a clone of the most advanced replica is ready to
# serve as the primary.
recover_primary_from() {
  echo "recovering the empty primary from $1 ($2 transactions)"
  clone_from "$1"
}""",
}


def init_data_sh(flavor: MySQLFlavor) -> str:
    """Init container 2: initialize (primary) or clone (replica) the data directory, once.

    An empty primary whose peers hold GTID history refuses to initialize (it would diverge from every
    replica) unless ``RECOVER_EMPTY_PRIMARY`` is true: then it clones the most advanced peer.
    """
    clone = _CLONE[flavor].replace("@INITIALIZE@", _INITIALIZE[flavor])
    text = (
        _INIT_DATA.replace("@CLONE@", clone)
        .replace("@RECOVER@", _RECOVER[flavor])
        .replace("@GTID_COUNT@", _GTID_COUNT[flavor])
        .replace("@GTID_POSITION@", _GTID_POSITION[flavor])
    )
    return _render(
        text,
        flavor,
        {
            "@SCRIPTS_DIR@": SCRIPTS_DIR,
            "@INITIALIZE@": _INITIALIZE[flavor],
            "@BOOTSTRAP_FLAGS@": _BOOTSTRAP_FLAGS[flavor],
            "@REMOTE_ROOT_LIMITS@": _REMOTE_ROOT_LIMITS[flavor],
        },
    )


# --- replication.sh (sidecar) -------------------------------------------------------------------


_CHANGE_SOURCE = {
    MySQLFlavor.MARIADB: """\
    echo "STOP SLAVE;"
    echo "RESET SLAVE ALL;"
    if [ -n "$gtid" ]; then echo "SET GLOBAL gtid_slave_pos = $(sql_string "$gtid");"; fi
    echo "CHANGE MASTER TO MASTER_HOST = $(sql_string "$PRIMARY_HOST"), MASTER_PORT = $MYSQL_PORT,\\
 MASTER_USER = 'repl', MASTER_PASSWORD = $(sql_string "$MYSQL_REPLICATION_PASSWORD"),\\
 MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1, MASTER_HEARTBEAT_PERIOD = @HEARTBEAT@;"
    echo "START SLAVE;\"""",
    MySQLFlavor.MYSQL: """\
    echo "STOP REPLICA;"
    echo "RESET REPLICA ALL;"
    echo "CHANGE REPLICATION SOURCE TO SOURCE_HOST = $(sql_string "$PRIMARY_HOST"), SOURCE_PORT = $MYSQL_PORT,\\
 SOURCE_USER = 'repl', SOURCE_PASSWORD = $(sql_string "$MYSQL_REPLICATION_PASSWORD"),\\
 SOURCE_AUTO_POSITION = 1, SOURCE_CONNECT_RETRY = 1, SOURCE_RETRY_COUNT = @RETRY_COUNT@,\\
 SOURCE_HEARTBEAT_PERIOD = @HEARTBEAT@, GET_SOURCE_PUBLIC_KEY = 1;"
    echo "START REPLICA;\"""",
}


def change_source_sql(flavor: MySQLFlavor) -> str:
    """Shell lines that print the SQL pointing a replica at the primary, GTID-positioned."""
    return _CHANGE_SOURCE[flavor]


_BACKUP_POSITION = {
    MySQLFlavor.MARIADB: """\
  # A freshly cloned replica starts where its backup was taken (the GTID in the backup's binlog info).
  local info gtid="" consumed=""
  for info in "$DATADIR/mariadb_backup_binlog_info" "$DATADIR/xtrabackup_binlog_info"; do
    if [ -f "$info" ]; then
      read -r _ _ gtid _ < "$info" || true
      consumed=$info
      break
    fi
  done""",
    MySQLFlavor.MYSQL: """\
  # The clone carried the donor's GTID state; auto-positioning takes it from there.
  local consumed=\"\"""",
}

_SERVE = {
    MySQLFlavor.MARIADB: (
        "serve backups to members that answer the challenge on port $BACKUP_PORT",
        # nofork: the script runs on the connection itself, so nothing it wrote is lost when it exits.
        'socat TCP-LISTEN:"$BACKUP_PORT",reuseaddr,fork EXEC:"bash @SCRIPTS_DIR@/backup.sh",nofork &',
    ),
    MySQLFlavor.MYSQL: ("idle (the clone plugin serves new replicas through the server itself)", "sleep infinity &"),
}

_REPLICATION = """\
#!/bin/bash
# Sidecar: once the server answers, point a replica at the primary (idempotent: GTID positions make
# it safe on every start), mark this container ready, then @SERVE_WHAT@.
source @SCRIPTS_DIR@/lib.sh
rm -f "$READY_FILE"

deadline=$((SECONDS + 600))
until admin ping > /dev/null 2>&1; do
  if [ "$SECONDS" -ge "$deadline" ]; then echo "the server did not answer" >&2; exit 1; fi
  sleep 1
done

configure_replica() {
@BACKUP_POSITION@
  {
@CHANGE_SOURCE@
  } | client
  if [ -n "$consumed" ]; then mv "$consumed" "$consumed.applied"; fi
  echo "replicating from $PRIMARY_HOST"
}

save_password() {
  (umask 077 && printf '%s' "$1" > "$LAST_PASSWORD_FILE.new" && mv "$LAST_PASSWORD_FILE.new" "$LAST_PASSWORD_FILE")
}

use_password() {
  {
@USE_PASSWORD@
  } | client
}

# Log each change of this replica's health (the readiness probe's reason) and keep the password that
# connects. A rotation rolls the replicas before the primary, which refuses the new replication
# password (error 1045) until it restarts: then switch to the last password that worked, and back to
# the Secret's once the primary refuses that one.
watch_replica() {
  local shown="" io errno current=$MYSQL_REPLICATION_PASSWORD last="" next what
  if [ -f "$LAST_PASSWORD_FILE" ]; then last=$(< "$LAST_PASSWORD_FILE"); fi
  while true; do
    replica_health || true
    if [ "${HEALTH%%:*}" != "${shown%%:*}" ]; then echo "$(date -u +%FT%TZ) $HEALTH"; shown=$HEALTH; fi
    io=$(status_field @IO_RUNNING@)
    errno=$(status_field Last_IO_Errno)
    if [ "$io" = Yes ] && [ "$current" != "$last" ]; then
      save_password "$current"
      last=$current
    elif [ "$io" = Connecting ] && [ "$errno" = 1045 ] && [ -n "$last" ] \\
        && [ "$last" != "$MYSQL_REPLICATION_PASSWORD" ]; then
      if [ "$current" = "$MYSQL_REPLICATION_PASSWORD" ]; then
        next=$last what="the last password that worked (a rotation reaches the primary last)"
      else
        next=$MYSQL_REPLICATION_PASSWORD what="the Secret's password (the primary has rolled)"
      fi
      echo "$(date -u +%FT%TZ) the primary refuses the replication password: switching to $what"
      use_password "$next"
      current=$next
    fi
    sleep 2 &
    wait $! || true
  done
}

if ! is_primary; then configure_replica; fi
touch "$READY_FILE"

@SERVE@
child=$!
trap 'kill -TERM "$child" 2> /dev/null; wait "$child"; exit 0' TERM INT
if is_primary; then wait "$child"; else watch_replica; fi
"""

_USE_PASSWORD = {
    MySQLFlavor.MARIADB: """\
    echo "STOP SLAVE;"
    echo "CHANGE MASTER TO MASTER_PASSWORD = $(sql_string "$1");"
    echo "START SLAVE;\"""",
    MySQLFlavor.MYSQL: """\
    echo "STOP REPLICA;"
    echo "CHANGE REPLICATION SOURCE TO SOURCE_PASSWORD = $(sql_string "$1");"
    echo "START REPLICA;\"""",
}


def replication_sh(flavor: MySQLFlavor) -> str:
    """The sidecar's script."""
    what, serve = _SERVE[flavor]
    text = (
        _REPLICATION.replace("@BACKUP_POSITION@", _BACKUP_POSITION[flavor])
        .replace("@CHANGE_SOURCE@", change_source_sql(flavor))
        .replace("@SERVE_WHAT@", what)
        .replace("@SERVE@", serve)
        .replace("@USE_PASSWORD@", _USE_PASSWORD[flavor])
    )
    values = {
        "@SCRIPTS_DIR@": SCRIPTS_DIR,
        "@HEARTBEAT@": str(HEARTBEAT_S),
        "@RETRY_COUNT@": str(RETRY_COUNT),
        "@IO_RUNNING@": _STATUS_FIELDS[flavor]["@IO_RUNNING@"],
    }
    return _render(text, flavor, values)


BACKUP_SH = f"""\
#!/bin/bash
# Behind socat on the backup port, talking to whoever connected: send a random challenge and stream a
# consistent hot backup only to a peer that answers it with the set's Secret (a member cloning itself),
# one backup at a time. Anyone else gets the challenge and REFUSED, never data.
source {SCRIPTS_DIR}/lib.sh
peer=${{SOCAT_PEERADDR:-unknown}}
nonce=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \\n')
echo "CHALLENGE $nonce"
answer=""
read -r -t 10 answer || true
if [ "$answer" != "$(challenge_answer "$nonce")" ]; then
  echo "refused a backup to $peer: no answer with the set's secret" >&2
  echo REFUSED
  exit 1
fi
exec 9> /tmp/backup.lock
if ! flock -n 9; then
  echo "refused a backup to $peer: another backup is streaming" >&2
  echo BUSY
  exit 1
fi
echo "streaming a backup to $peer" >&2
echo STREAM
rm -rf /tmp/backup-stream
mkdir -p /tmp/backup-stream
exec mariadb-backup --defaults-file="$CONF/backup.cnf" --backup --stream=xbstream --target-dir=/tmp/backup-stream
"""

_PROBE = """\
#!/bin/bash
# Probes of the server container. "ready": the primary answers a query; a replica replicates (both
# threads running, lag at most maxReplicaLagSeconds); the reason is printed, so a failure shows in the
# pod's events. "alive" only asks whether the server answers.
source @SCRIPTS_DIR@/lib.sh
case "${1:-}" in
  ready)
    if is_primary; then client --batch -e 'SELECT 1' > /dev/null; exit 0; fi
    replica_health && status=0 || status=$?
    echo "$HEALTH"
    exit "$status" ;;
  alive) admin ping > /dev/null ;;
  *) echo "usage: probe.sh ready|alive" >&2; exit 2 ;;
esac
"""


def probe_sh(flavor: MySQLFlavor) -> str:
    """The server container's probe script."""
    return _render(_PROBE, flavor, {"@SCRIPTS_DIR@": SCRIPTS_DIR})


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
