# shellcheck shell=bash
# shellcheck disable=SC2034  # the variables are used by the scripts that source this file
# Sourced by zkServer.sh and zkCli.sh: the config dir, the java command and ZooKeeper's classpath.
#
# ZooKeeper comes from Debian's libzookeeper-java. zookeeper.jar's manifest Class-Path names the jars
# it links against (jute, netty, jackson, jetty, metrics, commons-cli/io, snappy, slf4j-api), so only
# these are added: servlet-api (the AdminServer's Jetty needs it), netty-codec and netty-resolver
# (netty-handler needs them with the Netty connection factory or TLS) and slf4j-simple, the console
# log binding: without a binding ZooKeeper logs nothing at all. The config dir comes first, so a
# simplelogger.properties there overrides the log settings below.

ZOOCFGDIR="${ZOOCFGDIR:-${ZOO_CONF_DIR:-/conf}}"
ZOOCFG="${ZOOCFGDIR}/${ZOOCFG:-zoo.cfg}"
JAVA="${JAVA_HOME:+${JAVA_HOME}/bin/}java"

zoo_jars=/usr/share/java
CLASSPATH="${ZOOCFGDIR}:${zoo_jars}/zookeeper.jar:${zoo_jars}/netty-codec.jar:${zoo_jars}/netty-resolver.jar"
CLASSPATH="${CLASSPATH}:${zoo_jars}/netty-transport-native-unix-common.jar:${zoo_jars}/servlet-api.jar"
CLASSPATH="${CLASSPATH}:${zoo_jars}/slf4j-simple.jar"
unset zoo_jars

# Console logging like the official image's logback CONSOLE appender: timestamped lines on stdout.
ZOO_LOG_FLAGS=(
  "-Dorg.slf4j.simpleLogger.logFile=System.out"
  "-Dorg.slf4j.simpleLogger.showDateTime=true"
  "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd HH:mm:ss,SSS"
  "-Dorg.slf4j.simpleLogger.defaultLogLevel=${ZOO_LOG_LEVEL:-info}"
)
