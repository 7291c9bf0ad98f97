#!/bin/bash
# zkServer.sh of this image: the part of upstream's script a container uses, with the same
# interface and environment:
#   zkServer.sh [--config <conf-dir>] {start-foreground|status|version|print-cmd}
#   SERVER_JVMFLAGS, JVMFLAGS: extra JVM flags (in that order); ZK_SERVER_HEAP: max heap in MB
#   (default 1000); ZOOCFGDIR or ZOO_CONF_DIR: config dir (default /conf); ZOOCFG: file name in
#   it (default zoo.cfg); ZOO_LOG_LEVEL: console log level (default info).
set -euo pipefail

usage() {
  echo "Usage: $0 [--config <conf-dir>] {start-foreground|status|version|print-cmd}" >&2
  exit 2
}

if [[ "${1:-}" == "--config" ]]; then
  [[ $# -ge 2 ]] || usage
  export ZOOCFGDIR="$2"
  shift 2
fi
[[ $# -eq 1 ]] || usage

# shellcheck source=zkEnv.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/zkEnv.sh"

server_cmd() {
  # Word splitting of the *JVMFLAGS variables is intended, as in upstream's script.
  # shellcheck disable=SC2206
  cmd=("$JAVA" "-Xmx${ZK_SERVER_HEAP:-1000}m" ${SERVER_JVMFLAGS:-} ${JVMFLAGS:-}
       "${ZOO_LOG_FLAGS[@]}" -XX:+ExitOnOutOfMemoryError -cp "$CLASSPATH"
       org.apache.zookeeper.server.quorum.QuorumPeerMain "$ZOOCFG")
}

cfg_value() {
  sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*//p" "$ZOOCFG" | tail -n 1 | tr -d '[:space:]'
}

status() {
  local port host reply
  port="$(cfg_value clientPort)"
  host="$(cfg_value clientPortAddress)"
  port="${port:-2181}"
  host="${host:-127.0.0.1}"
  [[ "$host" == "0.0.0.0" ]] && host=127.0.0.1
  echo "Using config: $ZOOCFG" >&2
  echo "Client port found: $port. Client address: $host." >&2
  if ! { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null; then
    echo "Error contacting service. It is probably not running." >&2
    exit 1
  fi
  printf 'srvr' >&3
  reply="$(timeout 5 cat <&3 || true)"
  exec 3<&-
  if [[ "$reply" != *"Mode: "* ]]; then
    echo "Error contacting service. It is probably not running (or srvr is not whitelisted)." >&2
    exit 1
  fi
  grep '^Mode: ' <<<"$reply"
}

case "$1" in
  start-foreground)
    echo "Using config: $ZOOCFG" >&2
    server_cmd
    exec "${cmd[@]}"
    ;;
  print-cmd)
    server_cmd
    printf '%q ' "${cmd[@]}"
    echo
    ;;
  status)
    status
    ;;
  version)
    exec "$JAVA" -cp "$CLASSPATH" org.apache.zookeeper.version.VersionInfoMain
    ;;
  *)
    usage
    ;;
esac
