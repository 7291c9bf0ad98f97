"""MySQL replication: one primary (the first ordinal) and read-only replicas, GTID-based.

``server-id`` = 100 + ordinal; a new replica clones an existing member before it replicates; root and
replication passwords come from secret config into a Secret. Services: the headless ``mysql`` (stable
pod DNS, the primary is ``mysql-0.mysql``), ``mysql-read`` over every ready member and, optionally,
``mysql-primary`` over the primary alone. The ``flavor`` decides binaries and SQL (see mysql_scripts).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from apps.common import (
    app_outputs,
    budget_or,
    check_namespace,
    container,
    empty_dir,
    secret_env,
)
from apps.config import FLATTEN
from apps.mysql_scripts import (
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
    script_files,
    server_binary,
)
from infra import specs
from infra.errors import InvalidFieldError
from infra.labels import labels
from infra.quantity import parse_quantity
from infra.statefulservice import (
    ClientService,
    ConfigFiles,
    SecretData,
    ServicePort,
    StatefulService,
    StatefulServiceArgs,
)
from infra.workload import (
    AntiAffinity,
    AntiAffinityType,
    DisruptionBudget,
    PodSecurity,
    Probes,
    ProbeTiming,
    Resources,
    Storage,
    WorkloadSpec,
)

core = k8s.core.v1
meta = k8s.meta.v1

APP = "mysql"
STATEFULSET = "mysql"
HEADLESS_SERVICE = "mysql"
READ_SERVICE = "mysql-read"
PRIMARY_SERVICE = "mysql-primary"
CONFIG_MAP = "mysql-config"
VOLUME_CLAIM = "data"
RECOVERY_CONFIG_MAP = "mysql-recovery"
RECOVERY_KEY = "recover-empty-primary"
SECRET = "mysql-credentials"
ROOT_PASSWORD_KEY = "root-password"
REPLICATION_PASSWORD_KEY = "replication-password"
APP_PASSWORD_KEY = "app-password"
#: Names the scripts put into SQL unquoted by anything but backticks and quotes: letters, digits, underscore.
_SQL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
APP_USER_MAX = 32  # MySQL's limit (MariaDB allows 80)
APP_DATABASE_MAX = 64
DEFAULT_IMAGE = "mysql:8.4.3"
SIDECAR_RESOURCES = Resources(requests={"cpu": "50m", "memory": "64Mi"}, limits={"memory": "256Mi"})
_BUFFER_POOL = re.compile(r"^[1-9][0-9]*[KMG]?$")
_BUFFER_POOL_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}
#: The share of the container memory the buffer pool may take. The server needs the rest: the pool's own
#: control structures (a few percent of it), per-connection sort, join and read buffers, the redo log buffer,
#: temporary tables and performance_schema. InnoDB also rounds the pool up to a multiple of chunk size x
#: instances (128M x 1 below 1G), which the margin must absorb.
BUFFER_POOL_SHARE_PERCENT = 75
#: Words an image's repository must carry for a flavor (the pods run the flavor's binaries from the image).
MYSQL_REPOSITORY_WORDS = ("mysql", "percona")

DEFAULT_WORKLOAD = WorkloadSpec(
    image=DEFAULT_IMAGE,
    replicas=3,
    storage=Storage(size="10Gi"),
    resources=Resources(requests={"cpu": "500m", "memory": "1Gi"}, limits={"memory": "2Gi"}),
    security_context=PodSecurity(run_as_user=999, run_as_group=999, fs_group=999),
    pod_anti_affinity=AntiAffinity(type=AntiAffinityType.PREFERRED),
    termination_grace_period_seconds=60,
    # Members find each other by the headless Service whether ready or not: a replica cut off from its
    # primary is not ready, yet its history must stop an empty primary and may seed a new member.
    publish_not_ready_addresses=True,
    probes=Probes(
        # A replica that stops replicating leaves mysql-read within two periods.
        readiness=ProbeTiming(period_seconds=3, timeout_seconds=3, failure_threshold=2),
        liveness=ProbeTiming(period_seconds=10, timeout_seconds=5),
        startup=ProbeTiming(period_seconds=5, timeout_seconds=5, failure_threshold=120),
    ),
)


@dataclass(frozen=True)
class MySQLCredentials:
    """Passwords read from secret config; they reach the cluster only inside the Secret."""

    root_password: pulumi.Output[str]
    replication_password: pulumi.Output[str]
    app_password: pulumi.Output[str]


@dataclass(frozen=True, kw_only=True)
class MySQLSettings:
    """``stateful:mysql``: flavor and server tuning plus every StatefulSet setting at the same level."""

    enabled: bool = True
    namespace: str = "mysql"
    create_namespace: bool = True
    flavor: MySQLFlavor = MySQLFlavor.MYSQL
    net_write_timeout: int = 10
    innodb_buffer_pool_size: str = "256M"
    binlog_expire_days: int = 7  # binary logs older than this are purged (replicas must not lag longer)
    # A replica further behind the primary than this is not ready (leaves mysql-read, holds a rollout).
    max_replica_lag_seconds: int = DEFAULT_MAX_REPLICA_LAG_S
    primary_service: bool = True
    # An empty primary refuses to start while a replica holds history; true makes it clone the most advanced one.
    recover_empty_primary: bool = False
    # The application's account (password: secret config mysqlAppPassword) and the database it owns.
    app_user: str = DEFAULT_APP_USER
    app_database: str = DEFAULT_APP_DATABASE
    workload: WorkloadSpec = field(default=DEFAULT_WORKLOAD, metadata={FLATTEN: True})

    def __post_init__(self) -> None:
        """Check the namespace, the image against the flavor, the timeout and the buffer pool size."""
        check_namespace(self.namespace)
        self._check_image()
        if not 1 <= self.net_write_timeout <= 3600:
            raise InvalidFieldError(
                "net_write_timeout", f"must be between 1 and 3600 seconds, got {self.net_write_timeout}"
            )
        self._check_buffer_pool()
        if not 1 <= self.binlog_expire_days <= 99:
            raise InvalidFieldError(
                "binlog_expire_days",
                f"must be between 1 and 99 days (binary logs must outlive a replica's longest absence), "
                f"got {self.binlog_expire_days}",
            )
        if not 1 <= self.max_replica_lag_seconds <= 86400:
            raise InvalidFieldError(
                "max_replica_lag_seconds",
                f"must be between 1 and 86400 seconds (a day), got {self.max_replica_lag_seconds}",
            )
        self._check_app_names()

    def _check_app_names(self) -> None:
        for name, value, most, reserved in (
            ("app_user", self.app_user, APP_USER_MAX, RESERVED_USERS),
            ("app_database", self.app_database, APP_DATABASE_MAX, RESERVED_DATABASES),
        ):
            if not _SQL_NAME.match(value) or len(value) > most:
                raise InvalidFieldError(
                    name, f"must be letters, digits and underscores, not starting with a digit, at most {most} "
                    f"characters, got {value!r}"
                )
            if value.lower() in {r.lower() for r in reserved}:
                raise InvalidFieldError(
                    name, f"must not be one the set or the server keeps for itself ({', '.join(sorted(reserved))}), "
                    f"got {value!r}"
                )

    def _check_image(self) -> None:
        """The image must carry the flavor's server: its repository name says which one it is.

        flavor mariadb: the repository name (the last path segment, ``mariadb`` in ``stateful.local/mariadb:10.11``)
        contains ``mariadb``. flavor mysql: the repository name does not contain ``mariadb``, and the repository
        path without the registry contains ``mysql`` or ``percona`` (``mysql:8.4.3``, ``percona/percona-server:8.4``,
        ``container-registry.oracle.com/mysql/community-server:8.4``); a mirror must keep such a name.
        """
        image = self.workload.image
        path, name = repository(image)
        if self.flavor is MySQLFlavor.MARIADB:
            if "mariadb" not in name:
                raise InvalidFieldError(
                    "image",
                    "must be a MariaDB image when flavor is mariadb (its repository name must contain 'mariadb', "
                    f"as in mariadb:10.11), got {image!r}",
                )
        elif "mariadb" in name:
            raise InvalidFieldError(
                "image",
                "must be a MySQL image when flavor is mysql (its repository name must not contain 'mariadb'; "
                f"for a MariaDB image set flavor to mariadb), got {image!r}",
            )
        elif not any(word in path for word in MYSQL_REPOSITORY_WORDS):
            raise InvalidFieldError(
                "image",
                "must be a MySQL image when flavor is mysql (its repository path must contain 'mysql' or "
                f"'percona', as in mysql:8.4.3), got {image!r}",
            )

    def _check_buffer_pool(self) -> None:
        size = self.innodb_buffer_pool_size
        if not _BUFFER_POOL.match(size):
            raise InvalidFieldError("innodb_buffer_pool_size", f"must be a size like 256M or 2G, got {size!r}")
        bound = self.workload.resources.memory_bound()
        if bound is None:
            return
        kind, memory = bound
        unit = size[-1] if size[-1] in _BUFFER_POOL_UNITS else ""
        size_bytes = int(size.rstrip("KMG")) * _BUFFER_POOL_UNITS[unit]
        most_mb = int(parse_quantity(memory) * BUFFER_POOL_SHARE_PERCENT / 100 / 2**20)
        if size_bytes > most_mb * 2**20:
            raise InvalidFieldError(
                "innodb_buffer_pool_size",
                f"must be <= {most_mb}M ({BUFFER_POOL_SHARE_PERCENT}% of the container memory {kind} {memory}: the "
                "server needs the rest for connection buffers, temporary tables and its own structures), "
                f"got {size!r}",
            )

    @property
    def primary_ordinal(self) -> int:
        """The primary is the first ordinal."""
        return self.workload.ordinals.start


def repository(image: str) -> tuple[str, str]:
    """The repository path of ``image`` without registry, tag or digest, and its last segment (the name).

    ``docker.io/library/mariadb:10.11`` -> (``library/mariadb``, ``mariadb``); a first segment is a registry
    when it has a dot or a port or is ``localhost`` (the rule Docker applies).
    """
    segments = image.split("@", 1)[0].lower().split("/")
    segments[-1] = segments[-1].split(":", 1)[0]
    first = segments[0]
    if len(segments) > 1 and ("." in first or ":" in first or first == "localhost"):
        segments = segments[1:]
    return "/".join(segments), segments[-1]


def service_args(
    settings: MySQLSettings,
    credentials: MySQLCredentials,
    namespace: pulumi.Input[str],
    namespace_name: str,
    cluster_domain: str,
    *,
    kube_context: str | None = None,
) -> StatefulServiceArgs:
    """The StatefulService arguments for the MySQL members."""
    workload = settings.workload
    flavor = settings.flavor
    probes = workload.probes
    peer_domain = f"{HEADLESS_SERVICE}.{namespace_name}.svc.{cluster_domain}"
    primary_host = f"{STATEFULSET}-{settings.primary_ordinal}.{peer_domain}"
    files = script_files(
        flavor,
        statefulset=STATEFULSET,
        peer_domain=peer_domain,
        primary_ordinal=settings.primary_ordinal,
        primary_host=primary_host,
        net_write_timeout=settings.net_write_timeout,
        innodb_buffer_pool_size=settings.innodb_buffer_pool_size,
        binlog_expire_days=settings.binlog_expire_days,
        max_replica_lag_seconds=settings.max_replica_lag_seconds,
        app_user=settings.app_user,
        app_database=settings.app_database,
    )
    app_password = secret_env("MYSQL_APP_PASSWORD", SECRET, APP_PASSWORD_KEY)
    root = secret_env("MYSQL_ROOT_PASSWORD", SECRET, ROOT_PASSWORD_KEY)
    replication = secret_env("MYSQL_REPLICATION_PASSWORD", SECRET, REPLICATION_PASSWORD_KEY)
    state = {"data": DATA_MOUNT, "conf": CONF_DIR, "run": RUN_DIR}
    scripts = {"scripts": SCRIPTS_DIR}
    probe = ["bash", f"{SCRIPTS_DIR}/probe.sh"]
    sidecar_ports = {"backup": BACKUP_PORT} if flavor is MySQLFlavor.MARIADB else None
    client_services = [ClientService(name=READ_SERVICE, ports=(ServicePort(name="mysql", port=MYSQL_PORT),))]
    if settings.primary_service:
        client_services.append(
            ClientService(
                name=PRIMARY_SERVICE,
                ports=(ServicePort(name="mysql", port=MYSQL_PORT),),
                pod_ordinal=settings.primary_ordinal,
            )
        )
    return StatefulServiceArgs(
        namespace=namespace,
        app=APP,
        statefulset_name=STATEFULSET,
        headless_service_name=HEADLESS_SERVICE,
        headless_ports=(ServicePort(name="mysql", port=MYSQL_PORT),),
        client_services=tuple(client_services),
        workload=workload,
        volume_claim_name=VOLUME_CLAIM,
        init_containers=(
            container(
                workload,
                name="init-config",
                command=["bash", f"{SCRIPTS_DIR}/init-config.sh"],
                mounts={"conf": CONF_DIR},
                read_only_mounts=scripts,
                env=[root, replication, app_password],
            ),
            container(
                workload,
                name="init-data",
                command=["bash", f"{SCRIPTS_DIR}/init-data.sh"],
                mounts=state,
                read_only_mounts=scripts,
                env=[root, replication, recovery_env()],
            ),
        ),
        containers=(
            container(
                workload,
                name="mysql",
                command=[server_binary(flavor), f"--defaults-file={CONF_DIR}/my.cnf", f"--init-file={INIT_FILE}"],
                mounts=state,
                read_only_mounts=scripts,
                ports={"mysql": MYSQL_PORT},
                readiness=specs.exec_probe([*probe, "ready"], probes.readiness),
                liveness=specs.exec_probe([*probe, "alive"], probes.liveness),
                startup=specs.exec_probe([*probe, "alive"], probes.startup),
            ),
            container(
                workload,
                name="replication",
                command=["bash", f"{SCRIPTS_DIR}/replication.sh"],
                mounts=state,
                read_only_mounts=scripts,
                env=[replication],
                ports=sidecar_ports,
                readiness=specs.exec_probe(["test", "-f", READY_FILE], probes.readiness),
                resources=SIDECAR_RESOURCES,
            ),
        ),
        volumes=(
            empty_dir("conf", in_memory=True),
            empty_dir("run"),
            empty_dir("tmp"),
        ),
        config_files=ConfigFiles(name=CONFIG_MAP, data=files, volume="scripts"),
        kube_context=kube_context,
        secret=SecretData(
            name=SECRET,
            data={
                ROOT_PASSWORD_KEY: credentials.root_password,
                REPLICATION_PASSWORD_KEY: credentials.replication_password,
                APP_PASSWORD_KEY: credentials.app_password,
            },
        ),
        disruption_budget=budget_or(workload, DisruptionBudget(max_unavailable=1)),
    )


def recovery_env() -> core.EnvVarArgs:
    """``RECOVER_EMPTY_PRIMARY`` from the live ConfigMap ``mysql-recovery``, read whenever init-data starts.

    Not in the pod template on purpose: a primary that refuses to start keeps the StatefulSet from
    rolling (OrderedReady waits for it), so the switch must reach the next restart of the refusing pod.
    """
    return core.EnvVarArgs(
        name="RECOVER_EMPTY_PRIMARY",
        value_from=core.EnvVarSourceArgs(
            config_map_key_ref=core.ConfigMapKeySelectorArgs(name=RECOVERY_CONFIG_MAP, key=RECOVERY_KEY, optional=True)
        ),
    )


def recovery_config_map(settings: MySQLSettings, namespace: pulumi.Input[str], opts: pulumi.ResourceOptions) -> None:
    """The switch ``recoverEmptyPrimary``, updated in place (the provider's ``enableConfigMapMutable``)."""
    core.ConfigMap(
        f"{APP}-recovery",
        metadata=meta.ObjectMetaArgs(
            name=RECOVERY_CONFIG_MAP, namespace=namespace, labels=labels(APP, STATEFULSET)
        ),
        data={RECOVERY_KEY: "true" if settings.recover_empty_primary else "false"},
        opts=opts,
    )


def deploy(
    settings: MySQLSettings,
    credentials: MySQLCredentials,
    namespace: pulumi.Input[str],
    cluster_domain: str,
    opts: pulumi.ResourceOptions,
    *,
    kube_context: str | None = None,
) -> dict[str, Any]:
    """Create the MySQL members and return their stack output."""
    args = service_args(
        settings, credentials, namespace, settings.namespace, cluster_domain, kube_context=kube_context
    )
    recovery_config_map(settings, namespace, opts)
    StatefulService(APP, args, opts)
    ports = {"mysql": MYSQL_PORT}
    if settings.flavor is MySQLFlavor.MARIADB:
        ports["backup"] = BACKUP_PORT
    outputs = app_outputs(args, settings.namespace, cluster_domain, ports)
    outputs.update(
        {
            "flavor": str(settings.flavor),
            "net_write_timeout": settings.net_write_timeout,
            "primary_dns": outputs["pod_dns"][0],
            "read_service": READ_SERVICE,
            "secret": {
                "name": SECRET,
                "root_password_key": ROOT_PASSWORD_KEY,
                "replication_password_key": REPLICATION_PASSWORD_KEY,
                "app_password_key": APP_PASSWORD_KEY,
            },
            "app_user": settings.app_user,
            "app_database": settings.app_database,
        }
    )
    return outputs
