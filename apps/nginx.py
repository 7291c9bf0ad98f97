"""The classic StatefulSet example: nginx pods that each serve a page naming their own hostname.

Namespace ``demo``, headless Service ``nginx-demo`` (port 80 ``web``), StatefulSet ``web-demo`` with two
replicas and the volumeClaimTemplate ``www``. An init container writes the pod's hostname into
``index.html`` on the volume once, so the page survives pod deletion like the tutorial's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi

from apps.common import app_outputs, budget_or, check_namespace, container, empty_dir
from apps.config import FLATTEN
from infra import specs
from infra.statefulservice import ConfigFiles, ServicePort, StatefulService, StatefulServiceArgs
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

APP = "nginx"
STATEFULSET = "web-demo"
HEADLESS_SERVICE = "nginx-demo"
CONFIG_MAP = "web-demo-config"
VOLUME = "www"
VOLUME_CLAIM = VOLUME
PORT_NAME = "web"
PORT = 80
DOCUMENT_ROOT = "/usr/share/nginx/html"
CONFIG_DIR = "/etc/nginx-stateful"
#: The tutorial's own pod label, so that its ``kubectl get pods -l app=nginx`` finds the pods (pods only:
#: the selectors keep the ``app.kubernetes.io`` labels, and a StatefulSet's selector is immutable).
LESSON_LABELS = {"app": "nginx"}
#: ``kubectl exec`` and ``kubectl logs`` pick the server, not the init container, without ``-c``.
DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"

DEFAULT_WORKLOAD = WorkloadSpec(
    image="nginx:1.27.3",
    replicas=2,
    storage=Storage(size="1Gi"),
    resources=Resources(requests={"cpu": "100m", "memory": "64Mi"}, limits={"memory": "128Mi"}),
    security_context=PodSecurity(run_as_user=101, run_as_group=101, fs_group=101),
    pod_anti_affinity=AntiAffinity(type=AntiAffinityType.PREFERRED),
    termination_grace_period_seconds=10,
    probes=Probes(
        readiness=ProbeTiming(period_seconds=5),
        liveness=ProbeTiming(period_seconds=10),
        startup=ProbeTiming(period_seconds=2, failure_threshold=30),
    ),
)


@dataclass(frozen=True, kw_only=True)
class NginxSettings:
    """``stateful:nginx``: the app's own keys plus every StatefulSet setting at the same level."""

    enabled: bool = True
    namespace: str = "demo"
    create_namespace: bool = True
    workload: WorkloadSpec = field(default=DEFAULT_WORKLOAD, metadata={FLATTEN: True})

    def __post_init__(self) -> None:
        """Check the namespace name."""
        check_namespace(self.namespace)


def nginx_conf() -> str:
    """An nginx.conf for a non-root server: pid and temp files in /tmp, logs to stdout/stderr."""
    return f"""\
worker_processes 1;
pid /tmp/nginx.pid;
error_log stderr notice;

events {{
    worker_connections 1024;
}}

http {{
    default_type application/octet-stream;
    types {{
        text/html html;
        text/plain txt;
    }}
    access_log /dev/stdout;
    server_tokens off;
    client_body_temp_path /tmp/client_body;
    proxy_temp_path /tmp/proxy;
    fastcgi_temp_path /tmp/fastcgi;
    uwsgi_temp_path /tmp/uwsgi;
    scgi_temp_path /tmp/scgi;

    server {{
        listen {PORT};
        server_name _;
        root {DOCUMENT_ROOT};
        location / {{
            index index.html;
        }}
    }}
}}
"""


def index_script() -> str:
    """Shell run by the init container: write the pod's hostname into index.html unless a page exists."""
    return f"[ -s {DOCUMENT_ROOT}/index.html ] || cat /proc/sys/kernel/hostname > {DOCUMENT_ROOT}/index.html"


def service_args(
    settings: NginxSettings, namespace: pulumi.Input[str], *, kube_context: str | None = None
) -> StatefulServiceArgs:
    """The StatefulService arguments for nginx."""
    workload = settings.workload
    probes = workload.probes
    return StatefulServiceArgs(
        namespace=namespace,
        app=APP,
        statefulset_name=STATEFULSET,
        headless_service_name=HEADLESS_SERVICE,
        headless_ports=(ServicePort(name=PORT_NAME, port=PORT),),
        workload=workload,
        volume_claim_name=VOLUME,
        init_containers=(
            container(workload, name="index", command=["sh", "-c", index_script()], mounts={VOLUME: DOCUMENT_ROOT}),
        ),
        containers=(
            container(
                workload,
                name="nginx",
                command=["nginx", "-c", f"{CONFIG_DIR}/nginx.conf", "-e", "stderr", "-g", "daemon off;"],
                mounts={VOLUME: DOCUMENT_ROOT},
                read_only_mounts={"config": CONFIG_DIR},
                ports={PORT_NAME: PORT},
                readiness=specs.http_probe("/", PORT_NAME, probes.readiness),
                liveness=specs.http_probe("/", PORT_NAME, probes.liveness),
                startup=specs.http_probe("/", PORT_NAME, probes.startup),
            ),
        ),
        volumes=(empty_dir("tmp"),),
        config_files=ConfigFiles(name=CONFIG_MAP, data={"nginx.conf": nginx_conf()}, volume="config"),
        kube_context=kube_context,
        sysctls={"net.ipv4.ip_unprivileged_port_start": "0"},  # bind port 80 without root or capabilities
        pod_labels=LESSON_LABELS,
        pod_annotations={DEFAULT_CONTAINER: "nginx"},
        disruption_budget=budget_or(workload, DisruptionBudget(max_unavailable=1)),
    )


def deploy(
    settings: NginxSettings,
    namespace: pulumi.Input[str],
    cluster_domain: str,
    opts: pulumi.ResourceOptions,
    *,
    kube_context: str | None = None,
) -> dict[str, Any]:
    """Create the nginx StatefulService and return its stack output."""
    args = service_args(settings, namespace, kube_context=kube_context)
    StatefulService(APP, args, opts)
    return app_outputs(args, settings.namespace, cluster_domain, {PORT_NAME: PORT})
