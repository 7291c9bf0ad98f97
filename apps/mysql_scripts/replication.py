"""The sidecar's ``replication.sh``, the backup port's ``backup.sh`` and the server's ``probe.sh``."""

from __future__ import annotations

from apps.mysql_scripts.common import HEARTBEAT_S, RETRY_COUNT, SCRIPTS_DIR, MySQLFlavor, render
from apps.mysql_scripts.lib import STATUS_FIELDS

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
        "@IO_RUNNING@": STATUS_FIELDS[flavor]["@IO_RUNNING@"],
    }
    return render(text, flavor, values)


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
    return render(_PROBE, flavor, {"@SCRIPTS_DIR@": SCRIPTS_DIR})
