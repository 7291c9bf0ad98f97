"""The init containers' scripts: ``init-config.sh`` (option and init files), ``init-data.sh`` (initialize or clone)."""

from __future__ import annotations

from apps.mysql_scripts.common import SCRIPTS_DIR, MySQLFlavor, render

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
  # Root logs in only through this pod's socket: a remote root (made by earlier versions) goes.
  echo "DROP USER IF EXISTS 'root'@'%';"
  echo "ALTER USER IF EXISTS 'repl'@'%' IDENTIFIED BY $(sql_string "$MYSQL_REPLICATION_PASSWORD");"
@CLONE_ACCOUNT@
  # The application's database and account (stack config), on every member: replicas serve its reads.
  echo "CREATE DATABASE IF NOT EXISTS \\`$APP_DATABASE\\`;"
  echo "CREATE USER IF NOT EXISTS $(sql_string "$APP_USER")@'%' IDENTIFIED BY $(sql_string "$MYSQL_APP_PASSWORD");"
  echo "ALTER USER $(sql_string "$APP_USER")@'%' IDENTIFIED BY $(sql_string "$MYSQL_APP_PASSWORD");"
  # In a GRANT "_" matches any character: escaped, the account gets exactly its database.
  echo "GRANT ALL PRIVILEGES ON \\`${APP_DATABASE//_/\\\\_}\\`.* TO $(sql_string "$APP_USER")@'%';"
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

# MySQL's clone plugin copies a donor over the network: an account that can only take a backup
# (BACKUP_ADMIN), with the replication password. MariaDB's donors stream through the sidecar instead.
_CLONE_ACCOUNT = {
    MySQLFlavor.MARIADB: "  : # MariaDB clones through the sidecar's challenge port",
    MySQLFlavor.MYSQL: """\
  echo "CREATE USER IF NOT EXISTS 'clone'@'%' IDENTIFIED BY $(sql_string "$MYSQL_REPLICATION_PASSWORD");"
  echo "ALTER USER 'clone'@'%' IDENTIFIED BY $(sql_string "$MYSQL_REPLICATION_PASSWORD");"
  echo "GRANT BACKUP_ADMIN ON *.* TO 'clone'@'%';\""""
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
        "@CLONE_ACCOUNT@": _CLONE_ACCOUNT[flavor],
    }
    return render(_INIT_CONFIG, flavor, values)




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

# Keep root@localhost, drop every other account the installer made, create the replication account,
# then stop (the server's init file adds the others at every start). Not binary-logged: replicas get
# the accounts with the cloned data.
create_accounts() {
  local accounts account
  accounts=$(bootstrap_client --batch --skip-column-names -e "SELECT CONCAT(QUOTE(User), '@', QUOTE(Host))
    FROM mysql.user WHERE NOT (User = 'root' AND Host = 'localhost')
    AND User NOT IN ('mariadb.sys', 'mysql.sys', 'mysql.session', 'mysql.infoschema')")
  {
    echo "SET sql_log_bin = 0;"
    for account in $accounts; do echo "DROP USER $account;"; done
    echo "ALTER USER 'root'@'localhost' IDENTIFIED BY $(sql_string "$MYSQL_ROOT_PASSWORD");"
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
    echo "CLONE INSTANCE FROM 'clone'@$(sql_string "$donor"):$MYSQL_PORT\\
 IDENTIFIED BY $(sql_string "$MYSQL_REPLICATION_PASSWORD");"
  } | bootstrap_client 2>&1) || status=$?
  if [ "$status" -ne 0 ] && [[ "$output" == *"ERROR 1045"* ]]; then
    # A donor not yet restarted by this version has no clone account, but still the remote root that
    # earlier versions made (dropped at its next start): use it once, during such a rollout only.
    echo "$donor refused the clone account; trying the remote root of an earlier version"
    status=0
    output=$(echo "CLONE INSTANCE FROM 'root'@$(sql_string "$donor"):$MYSQL_PORT\\
 IDENTIFIED BY $(sql_string "$MYSQL_ROOT_PASSWORD");" | bootstrap_client 2>&1) || status=$?
  fi
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
    return render(
        text,
        flavor,
        {
            "@SCRIPTS_DIR@": SCRIPTS_DIR,
            "@INITIALIZE@": _INITIALIZE[flavor],
            "@BOOTSTRAP_FLAGS@": _BOOTSTRAP_FLAGS[flavor],
        },
    )
