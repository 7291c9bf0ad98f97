"""A ZooKeeper ensemble: odd size, every member listed by its stable DNS name, quorum-safe disruptions.

Members start in parallel and the headless Service publishes not-ready addresses, so peers resolve each
other during bootstrap (measured here: quorum in under 2 s, against 42 s one by one with stale DNS).
Each pod writes ``myid`` = ordinal + 1 and copies the shared ``zoo.cfg`` into a writable directory;
probes talk over bash's ``/dev/tcp`` (no ``nc`` needed). Liveness and startup ask ``ruok``, which does not
wait for quorum and so cannot deadlock bootstrap; readiness asks ``srvr`` and is ready only as leader,
follower or standalone, so a rolling update moves on only once the restarted member is back in the
quorum (with ``ruok`` the next member was restarted while the previous one was still rejoining, and a
writer saw gaps up to 10 s). Parallel start and published not-ready addresses keep bootstrap free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import pulumi

from apps.common import (
    app_outputs,
    budget_or,
    check_namespace,
    container,
    empty_dir,
    plain_env,
)
from apps.config import FLATTEN
from infra import specs
from infra.errors import InvalidFieldError
from infra.ordered_rollout import OrderedRollout
from infra.quantity import parse_quantity
from infra.statefulservice import ClientService, ConfigFiles, ServicePort, StatefulService, StatefulServiceArgs
from infra.workload import (
    AntiAffinity,
    AntiAffinityType,
    DisruptionBudget,
    PodManagementPolicy,
    PodSecurity,
    Probes,
    ProbeTiming,
    Resources,
    Storage,
    UpdateStrategy,
    UpdateStrategyType,
    WorkloadSpec,
)

APP = "zookeeper"
STATEFULSET = "zk"
HEADLESS_SERVICE = "zk-hs"
CLIENT_SERVICE = "zk-cs"
CONFIG_MAP = "zk-config"
VOLUME_CLAIM = "data"
CLIENT_PORT = 2181
SERVER_PORT = 2888
ELECTION_PORT = 3888
PORTS = {"client": CLIENT_PORT, "server": SERVER_PORT, "leader-election": ELECTION_PORT}
FOUR_LETTER_WORDS = ("srvr", "mntr", "ruok", "conf")
DATA_DIR = "/data"
#: The share of the container memory the heap may take (the usual ceiling for a JVM alone in its container).
#: The JVM needs the rest outside the heap: metaspace and code cache, a stack for each of its dozens of
#: threads (NIO workers, quorum senders and receivers per peer, commit processors), NIO direct buffers and
#: the garbage collector's own structures; past 75% a busy member risks the OOM killer. The stacks run
#: 192 MB in 512Mi, 512 MB in 1Gi and 3072 MB in 4Gi.
HEAP_SHARE_PERCENT = 75
CONFIG_TEMPLATE_DIR = "/config"
CONFIG_DIR = "/conf"

#: The JVM's own DNS cache (a security property: ``-Dnetworkaddress.cache.ttl`` would do nothing, so it is
#: set through an override file). By default the JDK keeps a successful lookup 30 s and a failed one 10 s;
#: a restarted member comes back at a new pod IP, and a peer that still holds the old one connects to a
#: dead address until its connect timeout. The cluster DNS caches for a few seconds already (CoreDNS's
#: record TTL), so the JVM adds no cache of its own.
JAVA_SECURITY = "networkaddress.cache.ttl=0\nnetworkaddress.cache.negative.ttl=0\n"
#: Server JVM flags that bound each step of the recovery after a member goes away (all exist in 3.8.0):
#: the leader gives up waiting for an epoch quorum once a voter it counted went back to looking
#: (``Leader.reportLookingSid``) instead of after initLimit x tickTime; election channels connect within
#: 2 s (default 5 s); a looking member re-sends its vote at least every 2 s (default back-off to 60 s);
#: the election port is re-bound forever rather than the server exiting after 3 failed binds. The
#: stack's ``jvmFlags`` come after these, so a ``-D`` there overrides one of them.
SERVER_JVM_FLAGS = (
    f"-Djava.security.properties={CONFIG_TEMPLATE_DIR}/java.security",
    "-Dzookeeper.leader.maxTimeToWaitForEpoch=1000",
    "-Dzookeeper.cnxTimeout=2000",
    "-Dzookeeper.fastleader.maxNotificationInterval=2000",
    "-Dzookeeper.electionPortBindRetry=0",
)

DEFAULT_WORKLOAD = WorkloadSpec(
    image="zookeeper:3.8.4",
    replicas=3,
    pod_management_policy=PodManagementPolicy.PARALLEL,
    publish_not_ready_addresses=True,
    # Restarted by the program's OrderedRollout, the leader last (one election per rollout).
    update_strategy=UpdateStrategy(type=UpdateStrategyType.ON_DELETE),
    storage=Storage(size="10Gi"),
    resources=Resources(requests={"cpu": "500m", "memory": "1Gi"}, limits={"memory": "1Gi"}),
    security_context=PodSecurity(run_as_user=1000, run_as_group=1000, fs_group=1000),
    pod_anti_affinity=AntiAffinity(type=AntiAffinityType.REQUIRED),
    termination_grace_period_seconds=30,
    probes=Probes(
        readiness=ProbeTiming(period_seconds=5, timeout_seconds=3),
        liveness=ProbeTiming(period_seconds=10, timeout_seconds=5),
        startup=ProbeTiming(period_seconds=2, timeout_seconds=3, failure_threshold=60),
    ),
)


class LogLevel(StrEnum):
    """ZooKeeper's console log level (probes log every ``ruok`` at INFO)."""

    ERROR = "ERROR"
    WARN = "WARN"
    INFO = "INFO"
    DEBUG = "DEBUG"


def quorum(members: int) -> int:
    """The number of members that must be up for the ensemble to serve: a strict majority."""
    return members // 2 + 1


def tolerated_failures(members: int) -> int:
    """How many members can be down while a quorum remains."""
    return members - quorum(members)


@dataclass(frozen=True, kw_only=True)
class ZooKeeperSettings:
    """``stateful:zookeeper``: ensemble tuning plus every StatefulSet setting at the same level."""

    enabled: bool = True
    namespace: str = "zookeeper"
    create_namespace: bool = True
    heap_mb: int = 512
    jvm_flags: str = ""
    tick_time: int = 2000
    init_limit: int = 10
    sync_limit: int = 5
    connect_to_learner_master_limit: int = 1
    max_client_cnxns: int = 60
    min_session_timeout: int = 4000
    max_session_timeout: int = 40000
    snap_retain_count: int = 3
    purge_interval: int = 12
    log_level: LogLevel = LogLevel.INFO
    workload: WorkloadSpec = field(default=DEFAULT_WORKLOAD, metadata={FLATTEN: True})

    def __post_init__(self) -> None:
        """Check the ensemble size, budget and rolling update against quorum, bootstrap, heap and timings."""
        check_namespace(self.namespace)
        workload = self.workload
        members = workload.replicas
        if members < 1 or members % 2 == 0:
            raise InvalidFieldError("replicas", f"must be an odd number >= 1, got {members}")
        self._check_budget(members)
        self._check_rolling_update(members)
        self._check_bootstrap()
        for name in ("tick_time", "init_limit", "sync_limit", "connect_to_learner_master_limit"):
            if getattr(self, name) < 1:
                raise InvalidFieldError(name, f"must be >= 1, got {getattr(self, name)}")
        if self.connect_to_learner_master_limit > self.init_limit:
            raise InvalidFieldError(
                "connect_to_learner_master_limit",
                f"must be <= initLimit ({self.init_limit}): it only shortens a follower's connect timeout, "
                f"got {self.connect_to_learner_master_limit}",
            )
        if self.max_client_cnxns < 0:
            raise InvalidFieldError("max_client_cnxns", f"must be >= 0 (0 means no limit), got {self.max_client_cnxns}")
        if self.min_session_timeout < 2 * self.tick_time:
            raise InvalidFieldError(
                "min_session_timeout",
                f"must be >= 2 x tickTime ({2 * self.tick_time}), got {self.min_session_timeout}",
            )
        if self.max_session_timeout < self.min_session_timeout:
            raise InvalidFieldError(
                "max_session_timeout",
                f"must be >= minSessionTimeout ({self.min_session_timeout}), got {self.max_session_timeout}",
            )
        if self.snap_retain_count < 3:
            raise InvalidFieldError(
                "snap_retain_count", f"must be >= 3 (ZooKeeper's minimum), got {self.snap_retain_count}"
            )
        if self.purge_interval < 0:
            raise InvalidFieldError(
                "purge_interval", f"must be >= 0 hours (0 disables purging), got {self.purge_interval}"
            )
        if "\n" in self.jvm_flags:
            raise InvalidFieldError("jvm_flags", "must be a single line")
        self._check_heap()

    def _check_budget(self, members: int) -> None:
        budget = self.workload.pod_disruption_budget
        if budget is None:
            return
        allowed = tolerated_failures(members)
        most = budget.max_unavailable
        if most is not None and (not isinstance(most, int) or most > allowed):
            raise InvalidFieldError(
                "pod_disruption_budget.max_unavailable",
                f"must be an integer <= {allowed} so that {quorum(members)} of {members} members keep quorum, "
                f"got {most!r}",
            )
        least = budget.min_available
        if least is not None and (not isinstance(least, int) or least < quorum(members)):
            raise InvalidFieldError(
                "pod_disruption_budget.min_available",
                f"must be an integer >= {quorum(members)} (a quorum of {members}), got {least!r}",
            )

    def _check_rolling_update(self, members: int) -> None:
        most = self.workload.update_strategy.max_unavailable
        if most is None:
            return
        if members == 1:
            if most != 1:
                raise InvalidFieldError(
                    "update_strategy.max_unavailable",
                    "must be unset or 1 (a 1-member ensemble tolerates no failure: every update of it is an outage, "
                    f"and 1 is the least the API accepts), got {most!r}",
                )
            return
        allowed = tolerated_failures(members)
        if not isinstance(most, int) or most > allowed:
            raise InvalidFieldError(
                "update_strategy.max_unavailable",
                f"must be an integer <= {allowed} so that {quorum(members)} of {members} members keep quorum, "
                f"got {most!r}",
            )

    def _check_bootstrap(self) -> None:
        workload = self.workload
        if workload.pod_management_policy is not PodManagementPolicy.PARALLEL:
            raise InvalidFieldError(
                "pod_management_policy",
                "must be Parallel (readiness waits for a quorum, so under OrderedReady the first member never "
                f"becomes ready and the others are never created), got {str(workload.pod_management_policy)!r}",
            )
        if not workload.publish_not_ready_addresses:
            raise InvalidFieldError(
                "publish_not_ready_addresses",
                "must be true (members find their peers by DNS before any of them is ready, and readiness waits "
                "for a quorum: without not-ready addresses no member can reach another), got false",
            )

    def _check_heap(self) -> None:
        if self.heap_mb < 32:
            raise InvalidFieldError("heap_mb", f"must be >= 32, got {self.heap_mb}")
        bound = self.workload.resources.memory_bound()
        if bound is None:
            return
        kind, memory = bound
        most = int(parse_quantity(memory) * HEAP_SHARE_PERCENT / 100 / 2**20)
        if self.heap_mb > most:
            raise InvalidFieldError(
                "heap_mb",
                f"must be <= {most} MB ({HEAP_SHARE_PERCENT}% of the container memory {kind} {memory}: the JVM "
                "needs the rest for metaspace, thread stacks, direct buffers and the garbage collector), "
                f"got {self.heap_mb}",
            )

    @property
    def disruption_budget(self) -> DisruptionBudget:
        """The configured budget, or the largest one that keeps quorum."""
        members = self.workload.replicas
        return budget_or(self.workload, DisruptionBudget(max_unavailable=tolerated_failures(members)))


def zoo_cfg(settings: ZooKeeperSettings, namespace: str, cluster_domain: str) -> str:
    """zoo.cfg shared by every member: the full member list by stable DNS name, server id = ordinal + 1."""
    workload = settings.workload
    names = specs.pod_dns_names(STATEFULSET, HEADLESS_SERVICE, namespace, cluster_domain, workload.ordinal_range)
    servers = [
        f"server.{ordinal + 1}={name}:{SERVER_PORT}:{ELECTION_PORT};{CLIENT_PORT}"
        for ordinal, name in zip(workload.ordinal_range, names, strict=True)
    ]
    lines = [
        f"tickTime={settings.tick_time}",
        f"initLimit={settings.init_limit}",
        f"syncLimit={settings.sync_limit}",
        f"connectToLearnerMasterLimit={settings.connect_to_learner_master_limit}",
        f"dataDir={DATA_DIR}",
        f"dataLogDir={DATA_DIR}/log",
        f"clientPort={CLIENT_PORT}",
        f"maxClientCnxns={settings.max_client_cnxns}",
        f"minSessionTimeout={settings.min_session_timeout}",
        f"maxSessionTimeout={settings.max_session_timeout}",
        f"autopurge.snapRetainCount={settings.snap_retain_count}",
        f"autopurge.purgeInterval={settings.purge_interval}",
        f"4lw.commands.whitelist={','.join(FOUR_LETTER_WORDS)}",
        "admin.enableServer=false",
        "quorumListenOnAllIPs=true",
        "standaloneEnabled=false",
        "reconfigEnabled=false",
        *servers,
    ]
    return "\n".join(lines) + "\n"


def server_jvm_flags(settings: ZooKeeperSettings) -> str:
    """``SERVER_JVMFLAGS``: the recovery bounds, then the stack's own ``jvmFlags`` (the last ``-D`` wins)."""
    return " ".join(flag for flag in (*SERVER_JVM_FLAGS, settings.jvm_flags) if flag)


def logback_xml(level: LogLevel) -> str:
    """Console logging for ZooKeeper 3.8 (logback)."""
    return f"""\
<configuration>
  <appender name="CONSOLE" class="ch.qos.logback.core.ConsoleAppender">
    <encoder>
      <pattern>%d{{ISO8601}} [myid:%X{{myid}}] - %-5p [%t:%C{{1}}@%L] - %m%n</pattern>
    </encoder>
  </appender>
  <root level="{level}">
    <appender-ref ref="CONSOLE"/>
  </root>
</configuration>
"""


def log4j_properties(level: LogLevel) -> str:
    """Console logging for ZooKeeper builds that still use log4j."""
    return (
        f"log4j.rootLogger={level}, CONSOLE\n"
        "log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender\n"
        "log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout\n"
        "log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} [myid:%X{myid}] - %-5p [%t:%C{1}@%L] - %m%n\n"
    )


START_SCRIPT = f"""\
#!/bin/bash
# Start one ensemble member: myid = ordinal + 1 (from the pod's hostname), then ZooKeeper in the foreground.
set -euo pipefail
read -r host < /proc/sys/kernel/hostname
ordinal="${{host##*-}}"
case "$ordinal" in
  ''|*[!0-9]*) echo "cannot read an ordinal from the hostname $host" >&2; exit 1 ;;
esac
mkdir -p {DATA_DIR}/log
echo "$((ordinal + 1))" > {DATA_DIR}/myid
cp {CONFIG_TEMPLATE_DIR}/zoo.cfg {CONFIG_TEMPLATE_DIR}/logback.xml {CONFIG_TEMPLATE_DIR}/log4j.properties {CONFIG_DIR}/
exec zkServer.sh --config {CONFIG_DIR} start-foreground
"""

RUOK_SCRIPT = f"""\
#!/bin/bash
# Healthy when the server answers "ruok" with "imok" (it is serving; quorum is not required).
exec 3<>/dev/tcp/127.0.0.1/{CLIENT_PORT} || exit 1
printf 'ruok' >&3
IFS= read -r -t 3 -n 4 reply <&3 || true
[ "$reply" = imok ]
"""

READY_SCRIPT = f"""\
#!/bin/bash
# Ready when the server has joined the ensemble: "srvr" reports Mode leader, follower or standalone.
exec 3<>/dev/tcp/127.0.0.1/{CLIENT_PORT} || exit 1
printf 'srvr' >&3
while IFS= read -r -t 3 line <&3; do
  case "$line" in
    "Mode: leader" | "Mode: follower" | "Mode: standalone") exit 0 ;;
  esac
done
exit 1
"""

LEADER_SCRIPT = f"""\
#!/bin/bash
# Exit 0 when this member leads ("srvr" reports Mode leader): the rollout restarts it last.
exec 3<>/dev/tcp/127.0.0.1/{CLIENT_PORT} || exit 1
printf 'srvr' >&3
while IFS= read -r -t 3 line <&3; do
  [ "$line" = "Mode: leader" ] && exit 0
done
exit 1
"""


def service_args(
    settings: ZooKeeperSettings,
    namespace: pulumi.Input[str],
    namespace_name: str,
    cluster_domain: str,
    *,
    kube_context: str | None = None,
) -> StatefulServiceArgs:
    """The StatefulService arguments for the ensemble."""
    workload = settings.workload
    probes = workload.probes
    ruok = ["bash", f"{CONFIG_TEMPLATE_DIR}/ruok.sh"]
    in_quorum = ["bash", f"{CONFIG_TEMPLATE_DIR}/ready.sh"]
    files = {
        "zoo.cfg": zoo_cfg(settings, namespace_name, cluster_domain),
        "logback.xml": logback_xml(settings.log_level),
        "log4j.properties": log4j_properties(settings.log_level),
        "java.security": JAVA_SECURITY,
        "start.sh": START_SCRIPT,
        "ruok.sh": RUOK_SCRIPT,
        "ready.sh": READY_SCRIPT,
        "leader.sh": LEADER_SCRIPT,
    }
    env = [
        plain_env("ZK_SERVER_HEAP", str(settings.heap_mb)),
        plain_env("SERVER_JVMFLAGS", server_jvm_flags(settings)),
        plain_env("ZOO_LOG_DIR", "/tmp/logs"),
    ]
    return StatefulServiceArgs(
        namespace=namespace,
        app=APP,
        statefulset_name=STATEFULSET,
        headless_service_name=HEADLESS_SERVICE,
        headless_ports=(
            ServicePort(name="server", port=SERVER_PORT),
            ServicePort(name="leader-election", port=ELECTION_PORT),
        ),
        client_services=(ClientService(name=CLIENT_SERVICE, ports=(ServicePort(name="client", port=CLIENT_PORT),)),),
        workload=workload,
        volume_claim_name=VOLUME_CLAIM,
        containers=(
            container(
                workload,
                name="zookeeper",
                command=["bash", f"{CONFIG_TEMPLATE_DIR}/start.sh"],
                mounts={"data": DATA_DIR, "conf": CONFIG_DIR},
                read_only_mounts={"config": CONFIG_TEMPLATE_DIR},
                env=env,
                ports=PORTS,
                readiness=specs.exec_probe(in_quorum, probes.readiness),
                liveness=specs.exec_probe(ruok, probes.liveness),
                startup=specs.exec_probe(ruok, probes.startup),
            ),
        ),
        volumes=(empty_dir("conf"), empty_dir("tmp")),
        config_files=ConfigFiles(name=CONFIG_MAP, data=files, volume="config"),
        kube_context=kube_context,
        disruption_budget=settings.disruption_budget,
    )


def deploy(
    settings: ZooKeeperSettings,
    namespace: pulumi.Input[str],
    cluster_domain: str,
    opts: pulumi.ResourceOptions,
    *,
    kube_context: str | None = None,
) -> dict[str, Any]:
    """Create the ensemble and return its stack output."""
    args = service_args(settings, namespace, settings.namespace, cluster_domain, kube_context=kube_context)
    service = StatefulService(APP, args, opts)
    workload = settings.workload
    if workload.update_strategy.type is UpdateStrategyType.ON_DELETE:
        # Followers first, each back in the quorum (Ready) before the next, the leader last.
        OrderedRollout(
            f"{APP}-rollout",
            namespace=namespace,
            statefulset=STATEFULSET,
            generation=service.statefulset.metadata.apply(lambda m: m.generation or 0),
            last=["bash", f"{CONFIG_TEMPLATE_DIR}/leader.sh"],
            container="zookeeper",
            context=kube_context,
            timeout_seconds=workload.rollout_timeout_seconds,
            opts=pulumi.ResourceOptions(parent=service, depends_on=[service.statefulset]),
        )
    return app_outputs(args, settings.namespace, cluster_domain, PORTS)
