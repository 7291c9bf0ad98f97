"""Validated, app-agnostic settings of one StatefulSet workload (what the StatefulSet API offers).

Every dataclass is frozen and keyword-only and checks itself in ``__post_init__``; an error is an
``InvalidFieldError`` whose field path follows the Kubernetes API names once converted to camelCase, so the
configuration layer can report the exact key (``updateStrategy.partition``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar

from infra.errors import InvalidFieldError
from infra.imageref import reference_problem
from infra.quantity import QUANTITY_HINT, parse_quantity

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_PERCENT = re.compile(r"^(100|[1-9][0-9]?)%$")
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_KEY_HINT = (
    "an optional DNS prefix of at most 253 characters and '/', then a name of at most 63 letters, digits, "
    "'-', '_' or '.' that begins and ends with a letter or digit"
)
_LABEL_VALUE_HINT = "empty, or at most 63 letters, digits, '-', '_' or '.' that begin and end with a letter or digit"
RESOURCE_NAMES = ("cpu", "memory", "ephemeral-storage")


class PodManagementPolicy(StrEnum):
    """How the StatefulSet creates and deletes pods."""

    ORDERED_READY = "OrderedReady"
    PARALLEL = "Parallel"


class UpdateStrategyType(StrEnum):
    """How a template change reaches the pods."""

    ROLLING_UPDATE = "RollingUpdate"
    ON_DELETE = "OnDelete"


class RetentionAction(StrEnum):
    """What happens to the PVCs when the StatefulSet is deleted or scaled down."""

    RETAIN = "Retain"
    DELETE = "Delete"


class AntiAffinityType(StrEnum):
    """Whether pods of one StatefulSet avoid sharing a topology domain."""

    NONE = "none"
    PREFERRED = "preferred"
    REQUIRED = "required"


class WhenUnsatisfiable(StrEnum):
    """What the scheduler does when a topology spread constraint cannot be met."""

    DO_NOT_SCHEDULE = "DoNotSchedule"
    SCHEDULE_ANYWAY = "ScheduleAnyway"


class PullPolicy(StrEnum):
    """When the kubelet pulls the image."""

    ALWAYS = "Always"
    IF_NOT_PRESENT = "IfNotPresent"
    NEVER = "Never"


class AccessMode(StrEnum):
    """PersistentVolumeClaim access modes."""

    READ_WRITE_ONCE = "ReadWriteOnce"
    READ_WRITE_ONCE_POD = "ReadWriteOncePod"
    READ_ONLY_MANY = "ReadOnlyMany"
    READ_WRITE_MANY = "ReadWriteMany"


def _check(ok: bool, field_name: str, problem: str) -> None:
    if not ok:
        raise InvalidFieldError(field_name, problem)


def is_label_key(key: str) -> bool:
    """Tell whether ``key`` is a Kubernetes label key: ``[prefix/]name``, prefix <= 253 and name <= 63 characters."""
    prefix, _, name = key.rpartition("/")
    return bool(_LABEL_KEY.match(key)) and len(prefix) <= 253 and len(name) <= 63


def is_label_value(value: str) -> bool:
    """Tell whether ``value`` is a Kubernetes label value (empty, or at most 63 characters of the label charset)."""
    return len(value) <= 63 and bool(_LABEL_VALUE.match(value))


def _check_count_or_percent(value: int | str | None, field_name: str, minimum: int) -> None:
    if value is None:
        return
    if isinstance(value, int):
        _check(value >= minimum, field_name, f"must be an integer >= {minimum} or a percentage like 25%, got {value}")
    else:
        _check(bool(_PERCENT.match(value)), field_name, f"must be an integer or a percentage like 25%, got {value!r}")


def _check_quantity(value: str, field_name: str) -> None:
    try:
        parse_quantity(value)
    except ValueError:
        raise InvalidFieldError(field_name, f"must be {QUANTITY_HINT}, got {value!r}") from None


@dataclass(frozen=True, kw_only=True)
class UpdateStrategy:
    """``spec.updateStrategy``: RollingUpdate (with ``partition`` and ``maxUnavailable``) or OnDelete."""

    # Configuration replaces the whole object (an app's default may be OnDelete; ``partition: 1`` then
    # means a RollingUpdate with a partition, not OnDelete plus a partition).
    MERGE_DEFAULTS: ClassVar[bool] = False

    type: UpdateStrategyType = UpdateStrategyType.ROLLING_UPDATE
    partition: int | None = None
    max_unavailable: int | str | None = None

    def __post_init__(self) -> None:
        """Reject partitions and maxUnavailable under OnDelete, and negative partitions."""
        if self.type is UpdateStrategyType.ON_DELETE:
            _check(
                self.partition is None, "partition", "must be unset when type is OnDelete (OnDelete has no partition)"
            )
            _check(
                self.max_unavailable is None,
                "max_unavailable",
                "must be unset when type is OnDelete (it applies to RollingUpdate only)",
            )
        if self.partition is not None:
            _check(self.partition >= 0, "partition", f"must be an integer >= 0, got {self.partition}")
        _check_count_or_percent(self.max_unavailable, "max_unavailable", minimum=1)

    @property
    def effective_partition(self) -> int:
        """The partition the controller applies: 0 when unset (and always 0 under OnDelete)."""
        return self.partition or 0


@dataclass(frozen=True, kw_only=True)
class Storage:
    """The size, class and access modes of a volumeClaimTemplate."""

    size: str = "1Gi"
    storage_class_name: str | None = None
    access_modes: tuple[AccessMode, ...] = (AccessMode.READ_WRITE_ONCE,)

    def __post_init__(self) -> None:
        """Require a positive quantity, a valid class name and distinct access modes (ReadWriteOncePod alone)."""
        _check_quantity(self.size, "size")
        _check(parse_quantity(self.size) > 0, "size", f"must be greater than zero, got {self.size!r}")
        if self.storage_class_name is not None:
            _check(
                bool(DNS_SUBDOMAIN.match(self.storage_class_name)),
                "storage_class_name",
                f"must be a StorageClass name (DNS subdomain), got {self.storage_class_name!r}",
            )
        _check(bool(self.access_modes), "access_modes", "must list at least one access mode")
        _check(
            len(set(self.access_modes)) == len(self.access_modes),
            "access_modes",
            f"must not repeat a mode, got {[str(mode) for mode in self.access_modes]}",
        )
        _check(
            AccessMode.READ_WRITE_ONCE_POD not in self.access_modes or len(self.access_modes) == 1,
            "access_modes",
            "must list ReadWriteOncePod alone (the API refuses it combined with any other mode), "
            f"got {[str(mode) for mode in self.access_modes]}",
        )


@dataclass(frozen=True, kw_only=True)
class RetentionPolicy:
    """``spec.persistentVolumeClaimRetentionPolicy``."""

    when_deleted: RetentionAction = RetentionAction.RETAIN
    when_scaled: RetentionAction = RetentionAction.RETAIN


@dataclass(frozen=True, kw_only=True)
class Ordinals:
    """``spec.ordinals``: the first ordinal (pods are ``<name>-<start>`` … ``<name>-<start+replicas-1>``)."""

    start: int = 0

    def __post_init__(self) -> None:
        """Require a non-negative start."""
        _check(self.start >= 0, "start", f"must be an integer >= 0, got {self.start}")


@dataclass(frozen=True, kw_only=True)
class Resources:
    """Container resource requests (cpu and memory required) and optional limits."""

    requests: Mapping[str, str] = field(default_factory=dict)
    limits: Mapping[str, str] = field(default_factory=dict)

    def memory_bound(self) -> tuple[str, str] | None:
        """("limit", its value) or, without a memory limit, ("request", its value); None without either."""
        if "memory" in self.limits:
            return "limit", self.limits["memory"]
        if "memory" in self.requests:
            return "request", self.requests["memory"]
        return None

    def __post_init__(self) -> None:
        """Require cpu and memory requests, known resource names, quantities and limits >= requests."""
        for group, values in (("requests", self.requests), ("limits", self.limits)):
            for name, value in values.items():
                _check(
                    name in RESOURCE_NAMES,
                    f"{group}.{name}",
                    f"is not a known resource; use one of {list(RESOURCE_NAMES)}",
                )
                _check_quantity(value, f"{group}.{name}")
        for name in ("cpu", "memory"):
            _check(name in self.requests, f"requests.{name}", "must be set (the scheduler needs requests)")
        for name, limit in self.limits.items():
            request = self.requests.get(name)
            if request is not None:
                _check(
                    parse_quantity(limit) >= parse_quantity(request),
                    f"limits.{name}",
                    f"must be >= requests.{name} ({request}), got {limit!r}",
                )


@dataclass(frozen=True, kw_only=True)
class PodSecurity:
    """The pod's non-root identity: user, group and the group that owns the volumes."""

    run_as_user: int
    run_as_group: int
    fs_group: int

    def __post_init__(self) -> None:
        """Require a non-root user and non-negative groups."""
        _check(self.run_as_user >= 1, "run_as_user", f"must be a non-root uid >= 1, got {self.run_as_user}")
        _check(self.run_as_group >= 0, "run_as_group", f"must be a gid >= 0, got {self.run_as_group}")
        _check(self.fs_group >= 0, "fs_group", f"must be a gid >= 0, got {self.fs_group}")


@dataclass(frozen=True, kw_only=True)
class AntiAffinity:
    """Pod anti-affinity between the pods of one StatefulSet: none, preferred or required."""

    type: AntiAffinityType = AntiAffinityType.NONE
    topology_key: str = "kubernetes.io/hostname"
    weight: int = 100

    def __post_init__(self) -> None:
        """Require a label-key topology and a weight the API accepts."""
        _check(
            is_label_key(self.topology_key),
            "topology_key",
            f"must be a label key ({_LABEL_KEY_HINT}), got {self.topology_key!r}",
        )
        _check(1 <= self.weight <= 100, "weight", f"must be between 1 and 100, got {self.weight}")


@dataclass(frozen=True, kw_only=True)
class TopologySpread:
    """One topology spread constraint over the pods of one StatefulSet."""

    topology_key: str
    max_skew: int = 1
    when_unsatisfiable: WhenUnsatisfiable = WhenUnsatisfiable.SCHEDULE_ANYWAY

    def __post_init__(self) -> None:
        """Require a label-key topology and a positive skew."""
        _check(
            is_label_key(self.topology_key),
            "topology_key",
            f"must be a label key ({_LABEL_KEY_HINT}), got {self.topology_key!r}",
        )
        _check(self.max_skew >= 1, "max_skew", f"must be an integer >= 1, got {self.max_skew}")


@dataclass(frozen=True, kw_only=True)
class DisruptionBudget:
    """The PodDisruptionBudget: exactly one of ``maxUnavailable`` or ``minAvailable``."""

    MERGE_DEFAULTS: ClassVar[bool] = False  # configuration replaces the whole object: the fields exclude each other

    max_unavailable: int | str | None = None
    min_available: int | str | None = None

    def __post_init__(self) -> None:
        """Require exactly one of the two fields, each an integer >= 0 or a percentage."""
        _check(
            (self.max_unavailable is None) != (self.min_available is None),
            "max_unavailable",
            "or minAvailable must be set, and not both",
        )
        _check_count_or_percent(self.max_unavailable, "max_unavailable", minimum=0)
        _check_count_or_percent(self.min_available, "min_available", minimum=0)


@dataclass(frozen=True, kw_only=True)
class ProbeTiming:
    """When and how often a probe runs and how many results flip it."""

    initial_delay_seconds: int = 0
    period_seconds: int = 10
    timeout_seconds: int = 1
    failure_threshold: int = 3
    success_threshold: int = 1

    def __post_init__(self) -> None:
        """Require the ranges the API enforces."""
        _check(
            self.initial_delay_seconds >= 0, "initial_delay_seconds", f"must be >= 0, got {self.initial_delay_seconds}"
        )
        for name in ("period_seconds", "timeout_seconds", "failure_threshold", "success_threshold"):
            value = getattr(self, name)
            _check(value >= 1, name, f"must be >= 1, got {value}")


@dataclass(frozen=True, kw_only=True)
class Probes:
    """Timings of the readiness, liveness and startup probes; the apps decide what each probe checks."""

    readiness: ProbeTiming = field(default_factory=ProbeTiming)
    liveness: ProbeTiming = field(default_factory=ProbeTiming)
    startup: ProbeTiming = field(default_factory=lambda: ProbeTiming(period_seconds=5, failure_threshold=60))

    def __post_init__(self) -> None:
        """Liveness and startup probes must succeed once to count (an API rule)."""
        for name in ("liveness", "startup"):
            timing: ProbeTiming = getattr(self, name)
            _check(
                timing.success_threshold == 1, f"{name}.success_threshold", f"must be 1, got {timing.success_threshold}"
            )


@dataclass(frozen=True, kw_only=True)
class WorkloadSpec:
    """Everything app-agnostic about one StatefulSet workload; apps supply their own defaults."""

    image: str
    resources: Resources
    security_context: PodSecurity
    image_pull_policy: PullPolicy = PullPolicy.IF_NOT_PRESENT
    replicas: int = 1
    pod_management_policy: PodManagementPolicy = PodManagementPolicy.ORDERED_READY
    update_strategy: UpdateStrategy = field(default_factory=UpdateStrategy)
    storage: Storage = field(default_factory=Storage)
    persistent_volume_claim_retention_policy: RetentionPolicy = field(default_factory=RetentionPolicy)
    min_ready_seconds: int = 0
    ordinals: Ordinals = field(default_factory=Ordinals)
    revision_history_limit: int = 10
    termination_grace_period_seconds: int = 30
    pod_anti_affinity: AntiAffinity = field(default_factory=AntiAffinity)
    topology_spread_constraints: tuple[TopologySpread, ...] = ()
    pod_disruption_budget: DisruptionBudget | None = None  # None: the app picks a default
    publish_not_ready_addresses: bool = False
    node_selector: Mapping[str, str] = field(default_factory=dict)
    probes: Probes = field(default_factory=Probes)
    rollout_timeout_seconds: int = 600
    # Pulumi ``protect``: `pulumi destroy` (and any re-creation) of the StatefulSet is refused; claims retained.
    protect: bool = False

    def __post_init__(self) -> None:
        """Check the ranges and the rules that span fields (partition and budget against replicas, spread, labels)."""
        problem = reference_problem(self.image)  # pinning is the policy pack's `pinned-images`
        _check(problem is None, "image", problem or "")
        _check(self.replicas >= 1, "replicas", f"must be an integer >= 1, got {self.replicas}")
        partition = self.update_strategy.partition
        if partition is not None:
            _check(
                partition <= self.replicas,
                "update_strategy.partition",
                f"must be <= replicas ({self.replicas}), got {partition}",
            )
        _check(self.min_ready_seconds >= 0, "min_ready_seconds", f"must be >= 0, got {self.min_ready_seconds}")
        _check(
            self.revision_history_limit >= 0,
            "revision_history_limit",
            f"must be >= 0, got {self.revision_history_limit}",
        )
        _check(
            self.termination_grace_period_seconds >= 1,
            "termination_grace_period_seconds",
            "must be >= 1 (0 kills stateful pods without a clean shutdown), "
            f"got {self.termination_grace_period_seconds}",
        )
        _check(
            self.rollout_timeout_seconds >= 1,
            "rollout_timeout_seconds",
            f"must be >= 1, got {self.rollout_timeout_seconds}",
        )
        budget = self.pod_disruption_budget
        if budget is not None and isinstance(budget.min_available, int):
            _check(
                budget.min_available <= self.replicas,
                "pod_disruption_budget.min_available",
                f"must be <= replicas ({self.replicas}), got {budget.min_available}",
            )
        self._check_topology_spread()
        self._check_node_selector()
        _check(
            not self.protect or self.persistent_volume_claim_retention_policy.when_deleted is RetentionAction.RETAIN,
            "persistent_volume_claim_retention_policy.when_deleted",
            "must be Retain when protect is true (a protected stack keeps its claims), got Delete",
        )

    def _check_topology_spread(self) -> None:
        first_of: dict[str, int] = {}
        for index, spread in enumerate(self.topology_spread_constraints):
            first = first_of.setdefault(spread.topology_key, index)
            _check(
                first == index,
                f"topology_spread_constraints[{index}].topology_key",
                f"must not repeat topologySpreadConstraints[{first}].topologyKey (one constraint per topology key: "
                "the API refuses a repeated key with the same whenUnsatisfiable, and two skews over the same "
                f"domains conflict), got {spread.topology_key!r}",
            )

    def _check_node_selector(self) -> None:
        for key, value in self.node_selector.items():
            _check(is_label_key(key), f"node_selector.{key}", f"is not a valid label key ({_LABEL_KEY_HINT})")
            _check(
                is_label_value(value),
                f"node_selector.{key}",
                f"must be a label value ({_LABEL_VALUE_HINT}; the API refuses the pod template otherwise), "
                f"got {value!r}",
            )

    @property
    def ordinal_range(self) -> range:
        """The ordinals of the pods, respecting ``ordinals.start``."""
        start = self.ordinals.start
        return range(start, start + self.replicas)
