#!/bin/bash
# zkCli.sh of this image: ZooKeeper's command-line client, as upstream's script runs it.
#   zkCli.sh [-server host:port] [command args...]
# CLIENT_JVMFLAGS and JVMFLAGS add JVM flags; client log lines go to stderr at level warn
# (ZOO_CLI_LOG_LEVEL), so stdout carries only the command's output.
set -euo pipefail

# shellcheck source=zkEnv.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/zkEnv.sh"

# Word splitting of the *JVMFLAGS variables is intended, as in upstream's script.
# shellcheck disable=SC2086
exec "$JAVA" ${CLIENT_JVMFLAGS:-} ${JVMFLAGS:-} "${ZOO_LOG_FLAGS[@]}" \
  -Dorg.slf4j.simpleLogger.logFile=System.err \
  "-Dorg.slf4j.simpleLogger.defaultLogLevel=${ZOO_CLI_LOG_LEVEL:-warn}" \
  -cp "$CLASSPATH" org.apache.zookeeper.ZooKeeperMain "$@"
