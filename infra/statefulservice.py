"""The StatefulService component: headless Service, client Services, StatefulSet and PodDisruptionBudget.

Everything gets an explicit ``metadata.name`` (stable DNS depends on it). The StatefulSet takes the
headless Service's name as an Output, so it waits for that Service only; it never depends on a
ClusterIP Service, which Pulumi would await until it has ready endpoints.

Day 2, by design:

* The StatefulSet carries ``pulumi.com/deletionPropagationPolicy: orphan``. When the provider must
  re-create it (a force-new field: the claim template, ``podManagementPolicy``, ``revisionHistoryLimit``)
  it deletes the old object first (its name is fixed); orphan propagation keeps the pods, their claims
  and the controller revisions, and the new object adopts them, so no pod restarts for it. ``pulumi
  destroy`` orphans too: the stack's namespace, when it owns one, takes the pods with it.
* Config files are an immutable ConfigMap named after its content and kept after a change
  (``retainOnDelete``): a pod keeps the files of its own revision (under ``partition``, ``OnDelete`` or
  after a container restart) and a new config rolls out like an image change.
* The Secret is updated in place (the provider's ``enableSecretMutable``) and a digest of it is on the
  pod template, so a new password rolls the pods, which apply it when they start.
* ``ClaimExpansion`` grows existing claims after the StatefulSet when ``storage.size`` grows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from infra import labels as labelling
from infra import specs
from infra.claims import ClaimExpansion
from infra.errors import InvalidFieldError
from infra.rollout import rollout_annotations
from infra.workload import DNS_LABEL, DNS_SUBDOMAIN, DisruptionBudget, WorkloadSpec

core = k8s.core.v1
meta = k8s.meta.v1

CREDENTIALS_REVISION = "stateful.pulumi.com/credentials-revision"
DELETION_PROPAGATION = "pulumi.com/deletionPropagationPolicy"
#: The stack's config wins a server-side-apply conflict: after ``kubectl scale`` (or ``patch``, ``set env``)
#: the next ``pulumi up --refresh`` takes the fields back instead of failing with a field-manager conflict.
PATCH_FORCE = "pulumi.com/patchForce"
#: On the ClusterIP Services: the provider does not poll for endpoints (the StatefulSet await covers them).
SKIP_AWAIT = "pulumi.com/skipAwait"
MAX_STATEFULSET_NAME = 52  # pod names add "-<ordinal>" and a 10-character revision hash label must still fit 63


def _check_name(value: str, field_name: str, pattern: str = "label") -> None:
    regex = DNS_LABEL if pattern == "label" else DNS_SUBDOMAIN
    if not regex.match(value) or len(value) > (63 if pattern == "label" else 253):
        raise InvalidFieldError(field_name, f"must be a DNS-1123 {pattern} (lower case, digits, '-'), got {value!r}")


@dataclass(frozen=True, kw_only=True)
class ServicePort:
    """A Service port; it targets the container port of the same name."""

    name: str
    port: int

    def __post_init__(self) -> None:
        """Require an IANA-style port name (at most 15 characters) and a TCP port number."""
        if not DNS_LABEL.match(self.name) or len(self.name) > 15:
            raise InvalidFieldError("name", f"must be a port name of at most 15 characters, got {self.name!r}")
        if not 1 <= self.port <= 65535:
            raise InvalidFieldError("port", f"must be between 1 and 65535, got {self.port}")


@dataclass(frozen=True, kw_only=True)
class ClientService:
    """A ClusterIP Service over the ready pods, or over one pod when ``pod_ordinal`` is set."""

    name: str
    ports: tuple[ServicePort, ...]
    pod_ordinal: int | None = None

    def __post_init__(self) -> None:
        """Require a valid name and at least one port."""
        _check_name(self.name, "name")
        if not self.ports:
            raise InvalidFieldError("ports", "must list at least one port")


@dataclass(frozen=True, kw_only=True)
class ConfigFiles:
    """Files that the pods mount from the volume ``volume``: an immutable ConfigMap named ``<name>-<digest>``."""

    name: str
    data: Mapping[str, str]
    volume: str = "config"

    def __post_init__(self) -> None:
        """Require a valid name."""
        _check_name(self.name, "name", "subdomain")


@dataclass(frozen=True, kw_only=True)
class SecretData:
    """A Secret whose values come from secret config (Outputs), never from plain values."""

    name: str
    data: Mapping[str, pulumi.Input[str]]

    def __post_init__(self) -> None:
        """Require a valid name."""
        _check_name(self.name, "name", "subdomain")


@dataclass(frozen=True, kw_only=True)
class StatefulServiceArgs:
    """Arguments of a StatefulService; the app supplies the containers, the workload spec the rest."""

    namespace: pulumi.Input[str]
    app: str
    statefulset_name: str
    headless_service_name: str
    headless_ports: tuple[ServicePort, ...]
    workload: WorkloadSpec
    containers: tuple[core.ContainerArgs, ...]
    init_containers: tuple[core.ContainerArgs, ...] = ()
    volumes: tuple[core.VolumeArgs, ...] = ()
    volume_claim_name: str = "data"
    client_services: tuple[ClientService, ...] = ()
    config_files: ConfigFiles | None = None
    secret: SecretData | None = None
    sysctls: Mapping[str, str] = field(default_factory=dict)
    #: More labels on the pods only (never in a selector), e.g. the tutorial's ``app: nginx``.
    pod_labels: Mapping[str, str] = field(default_factory=dict)
    #: More annotations on the pod template, e.g. ``kubectl.kubernetes.io/default-container``.
    pod_annotations: Mapping[str, str] = field(default_factory=dict)
    kube_context: str | None = None  # the provider's kubeconfig context, for the steps that talk to the cluster
    # The effective budget: the app resolves the workload's optional one against its own default.
    disruption_budget: DisruptionBudget = field(default_factory=lambda: DisruptionBudget(max_unavailable=1))

    def __post_init__(self) -> None:
        """Check names, ports and that every Service name is distinct and every pinned ordinal exists."""
        _check_name(self.app, "app")
        _check_name(self.statefulset_name, "statefulset_name")
        if len(self.statefulset_name) > MAX_STATEFULSET_NAME:
            raise InvalidFieldError(
                "statefulset_name", f"must be at most {MAX_STATEFULSET_NAME} characters, got {self.statefulset_name!r}"
            )
        _check_name(self.headless_service_name, "headless_service_name")
        _check_name(self.volume_claim_name, "volume_claim_name")
        labelling.pod_labels(self.app, self.statefulset_name, self.pod_labels)  # refuses a clash
        if not self.headless_ports:
            raise InvalidFieldError("headless_ports", "must list at least one port")
        if not self.containers:
            raise InvalidFieldError("containers", "must list at least one container")
        names = [self.headless_service_name, *(service.name for service in self.client_services)]
        if len(set(names)) != len(names):
            raise InvalidFieldError("client_services", f"must not repeat a Service name, got {names}")
        for index, service in enumerate(self.client_services):
            if service.pod_ordinal is not None and service.pod_ordinal not in self.workload.ordinal_range:
                raise InvalidFieldError(
                    f"client_services[{index}].pod_ordinal",
                    f"must be one of the ordinals {list(self.workload.ordinal_range)}, got {service.pod_ordinal}",
                )

    @property
    def selector(self) -> dict[str, str]:
        """The labels that select this StatefulSet's pods (the one selector used everywhere)."""
        return labelling.selector_labels(self.app, self.statefulset_name)

    @property
    def labels(self) -> dict[str, str]:
        """The labels put on every object (and pod) of this StatefulSet."""
        return labelling.labels(self.app, self.statefulset_name)

    @property
    def template_labels(self) -> dict[str, str]:
        """The labels of the pod template: every object's labels plus ``pod_labels``."""
        return labelling.pod_labels(self.app, self.statefulset_name, self.pod_labels)

    def pod_name(self, ordinal: int) -> str:
        """The name of the pod with ``ordinal``."""
        return f"{self.statefulset_name}-{ordinal}"


def _service_ports(ports: tuple[ServicePort, ...]) -> list[core.ServicePortArgs]:
    return [core.ServicePortArgs(name=port.name, port=port.port, target_port=port.name) for port in ports]


class StatefulService(pulumi.ComponentResource):
    """A StatefulSet with its governing headless Service, client Services and PodDisruptionBudget."""

    statefulset: k8s.apps.v1.StatefulSet
    headless_service: core.Service
    client_services: dict[str, core.Service]
    disruption_budget: k8s.policy.v1.PodDisruptionBudget
    config_map: core.ConfigMap | None
    secret: core.Secret | None
    claim_expansion: ClaimExpansion

    def __init__(self, name: str, args: StatefulServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        """Create the children; ``name`` prefixes every child's Pulumi name (Kubernetes names come from ``args``)."""
        super().__init__("stateful:infra:StatefulService", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        workload = args.workload

        def metadata(
            object_name: str, annotations: Mapping[str, str] | None = None, labels: Mapping[str, str] | None = None
        ) -> meta.ObjectMetaArgs:
            return meta.ObjectMetaArgs(
                name=object_name,
                namespace=args.namespace,
                labels={**args.labels, **(labels or {})},
                annotations=dict(annotations) if annotations else None,
            )

        pod_inputs: list[pulumi.Resource] = []
        pod_annotations: dict[str, pulumi.Input[str]] = dict(args.pod_annotations)
        volumes = list(args.volumes)
        self.config_map = None
        if args.config_files is not None:
            files = args.config_files
            config_name = specs.config_map_name(files.name, files.data)
            self.config_map = core.ConfigMap(
                f"{name}-config",
                metadata=metadata(config_name),
                data=dict(files.data),
                immutable=True,
                # A pod on an older revision still mounts its own files: keep them (a few KB each).
                opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
            )
            pod_inputs.append(self.config_map)
            source = core.ConfigMapVolumeSourceArgs(name=config_name)
            volumes.append(core.VolumeArgs(name=files.volume, config_map=source))
        self.secret = None
        if args.secret is not None:
            self.secret = core.Secret(
                f"{name}-secret",
                metadata=metadata(args.secret.name),
                type="Opaque",
                string_data=dict(args.secret.data),
                opts=child,
            )
            pod_inputs.append(self.secret)
            pod_annotations[CREDENTIALS_REVISION] = specs.credentials_revision(args.secret.name, args.secret.data)

        self.headless_service = core.Service(
            f"{name}-headless",
            metadata=metadata(args.headless_service_name),
            spec=core.ServiceSpecArgs(
                cluster_ip="None",
                selector=args.selector,
                ports=_service_ports(args.headless_ports),
                publish_not_ready_addresses=workload.publish_not_ready_addresses,
            ),
            opts=child,
        )

        statefulset_metadata = metadata(
            args.statefulset_name,
            {
                **rollout_annotations(
                    workload.replicas,
                    workload.update_strategy,
                    workload.min_ready_seconds,
                    workload.rollout_timeout_seconds,
                ),
                DELETION_PROPAGATION: "orphan",
                PATCH_FORCE: "true",
            },
            {labelling.STACK: pulumi.get_stack()},  # finds this stack's set wherever it runs (infra.live)
        )
        self.statefulset = k8s.apps.v1.StatefulSet(
            f"{name}-statefulset",
            metadata=statefulset_metadata,
            spec=k8s.apps.v1.StatefulSetSpecArgs(
                service_name=self.headless_service.metadata.name,
                replicas=workload.replicas,
                selector=meta.LabelSelectorArgs(match_labels=args.selector),
                pod_management_policy=str(workload.pod_management_policy),
                update_strategy=specs.update_strategy(workload.update_strategy),
                min_ready_seconds=workload.min_ready_seconds,
                ordinals=k8s.apps.v1.StatefulSetOrdinalsArgs(start=workload.ordinals.start),
                revision_history_limit=workload.revision_history_limit,
                persistent_volume_claim_retention_policy=specs.retention_policy(
                    workload.persistent_volume_claim_retention_policy
                ),
                template=core.PodTemplateSpecArgs(
                    metadata=meta.ObjectMetaArgs(labels=args.template_labels, annotations=pod_annotations or None),
                    spec=core.PodSpecArgs(
                        containers=list(args.containers),
                        init_containers=list(args.init_containers) or None,
                        volumes=volumes or None,
                        security_context=specs.pod_security_context(workload.security_context, args.sysctls),
                        affinity=specs.pod_anti_affinity(workload.pod_anti_affinity, args.selector),
                        topology_spread_constraints=specs.topology_spread(
                            workload.topology_spread_constraints, args.selector
                        ),
                        node_selector=dict(workload.node_selector) or None,
                        termination_grace_period_seconds=workload.termination_grace_period_seconds,
                        automount_service_account_token=False,
                        enable_service_links=False,
                    ),
                ),
                volume_claim_templates=[
                    specs.volume_claim_template(args.volume_claim_name, workload.storage, args.labels)
                ],
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=pod_inputs, protect=workload.protect),
        )

        # After the StatefulSet is ready every claim of the current ordinals exists; grow those that are smaller.
        self.claim_expansion = ClaimExpansion(
            f"{name}-claims",
            namespace=args.namespace,
            statefulset=args.statefulset_name,
            claim_template=args.volume_claim_name,
            ordinals=list(workload.ordinal_range),
            size=workload.storage.size,
            context=args.kube_context,
            timeout_seconds=workload.rollout_timeout_seconds,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.statefulset]),
        )

        budget = args.disruption_budget
        self.disruption_budget = k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=metadata(f"{args.statefulset_name}-pdb"),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                selector=meta.LabelSelectorArgs(match_labels=args.selector),
                max_unavailable=budget.max_unavailable,
                min_available=budget.min_available,
            ),
            opts=child,
        )

        self.client_services = {}
        for service in args.client_services:
            selector = dict(args.selector)
            if service.pod_ordinal is not None:
                selector[labelling.POD_NAME] = args.pod_name(service.pod_ordinal)
            # The StatefulSet's await already returns only when its pods are Ready, so these Services'
            # endpoints exist by then; the provider's own endpoint poll added up to 3.6 s to `pulumi up`.
            # A selector that matches no pod is the policy pack's `services-select-pods`.
            self.client_services[service.name] = core.Service(
                f"{name}-service-{service.name}",
                metadata=metadata(service.name, {SKIP_AWAIT: "true"}),
                spec=core.ServiceSpecArgs(type="ClusterIP", selector=selector, ports=_service_ports(service.ports)),
                opts=child,
            )

        self.register_outputs(
            {
                "statefulset": self.statefulset.metadata.name,
                "headless_service": self.headless_service.metadata.name,
                "client_services": [service.metadata.name for service in self.client_services.values()],
                "disruption_budget": self.disruption_budget.metadata.name,
            }
        )
