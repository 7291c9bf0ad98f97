"""The infra arguments check themselves and name the field that is wrong."""

from __future__ import annotations

from typing import Any

import pytest

from infra.errors import InvalidFieldError
from infra.imageref import image_problem
from infra.workload import (
    AccessMode,
    AntiAffinity,
    DisruptionBudget,
    Ordinals,
    PodSecurity,
    Probes,
    ProbeTiming,
    Resources,
    Storage,
    TopologySpread,
    UpdateStrategy,
    UpdateStrategyType,
    WorkloadSpec,
)

RESOURCES = Resources(requests={"cpu": "100m", "memory": "64Mi"})
SECURITY = PodSecurity(run_as_user=1000, run_as_group=1000, fs_group=1000)


def workload(**changes: Any) -> WorkloadSpec:
    return WorkloadSpec(**{"image": "nginx:1.27.3", "resources": RESOURCES, "security_context": SECURITY, **changes})


def field_of(error: pytest.ExceptionInfo[InvalidFieldError]) -> str:
    return error.value.field


def test_a_partition_above_replicas_is_rejected() -> None:
    with pytest.raises(InvalidFieldError) as error:
        workload(replicas=2, update_strategy=UpdateStrategy(partition=3))
    assert field_of(error) == "update_strategy.partition"
    assert "must be <= replicas (2), got 3" in str(error.value)


def test_a_partition_equal_to_replicas_is_accepted() -> None:
    assert workload(replicas=2, update_strategy=UpdateStrategy(partition=2)).update_strategy.partition == 2


def test_on_delete_with_a_partition_is_rejected() -> None:
    with pytest.raises(InvalidFieldError, match="partition must be unset when type is OnDelete"):
        UpdateStrategy(type=UpdateStrategyType.ON_DELETE, partition=0)


def test_on_delete_with_max_unavailable_is_rejected() -> None:
    with pytest.raises(InvalidFieldError, match="max_unavailable must be unset when type is OnDelete"):
        UpdateStrategy(type=UpdateStrategyType.ON_DELETE, max_unavailable=1)


@pytest.mark.parametrize("value", [0, "0%", "101%", "x"])
def test_max_unavailable_must_be_a_positive_count_or_percentage(value: int | str) -> None:
    with pytest.raises(InvalidFieldError) as error:
        UpdateStrategy(max_unavailable=value)
    assert field_of(error) == "max_unavailable"


def test_a_negative_partition_is_rejected() -> None:
    with pytest.raises(InvalidFieldError, match="partition must be an integer >= 0"):
        UpdateStrategy(partition=-1)


def test_zero_replicas_are_rejected() -> None:
    with pytest.raises(InvalidFieldError, match="replicas must be an integer >= 1, got 0"):
        workload(replicas=0)


@pytest.mark.parametrize("size", ["10 Gb", "0", "0Gi"])
def test_a_storage_size_must_be_a_positive_quantity(size: str) -> None:
    with pytest.raises(InvalidFieldError) as error:
        Storage(size=size)
    assert field_of(error) == "size"


def test_a_storage_class_must_be_a_valid_name() -> None:
    with pytest.raises(InvalidFieldError, match="storage_class_name must be a StorageClass name"):
        Storage(storage_class_name="Fast SSD")


def test_access_modes_must_not_be_empty_or_repeated() -> None:
    with pytest.raises(InvalidFieldError, match="at least one"):
        Storage(access_modes=())
    with pytest.raises(InvalidFieldError, match="must not repeat"):
        Storage(access_modes=(AccessMode.READ_WRITE_ONCE, AccessMode.READ_WRITE_ONCE))


def test_requests_must_name_cpu_and_memory() -> None:
    with pytest.raises(InvalidFieldError, match=r"requests\.memory must be set"):
        Resources(requests={"cpu": "1"})


def test_a_limit_below_its_request_is_rejected() -> None:
    with pytest.raises(InvalidFieldError, match=r"limits\.memory must be >= requests\.memory"):
        Resources(requests={"cpu": "1", "memory": "1Gi"}, limits={"memory": "512Mi"})


def test_an_unknown_resource_name_is_rejected() -> None:
    with pytest.raises(InvalidFieldError, match=r"requests\.gpu is not a known resource"):
        Resources(requests={"cpu": "1", "memory": "1Gi", "gpu": "1"})


def test_a_resource_value_must_be_a_quantity() -> None:
    with pytest.raises(InvalidFieldError, match=r"requests\.cpu must be a Kubernetes quantity"):
        Resources(requests={"cpu": "one", "memory": "1Gi"})


def test_root_is_not_an_allowed_user() -> None:
    with pytest.raises(InvalidFieldError, match="run_as_user must be a non-root uid"):
        PodSecurity(run_as_user=0, run_as_group=0, fs_group=0)


def test_negative_groups_are_rejected() -> None:
    with pytest.raises(InvalidFieldError, match="fs_group must be a gid >= 0"):
        PodSecurity(run_as_user=1, run_as_group=1, fs_group=-1)


def test_an_anti_affinity_weight_outside_1_to_100_is_rejected() -> None:
    with pytest.raises(InvalidFieldError, match="weight must be between 1 and 100"):
        AntiAffinity(weight=0)


def test_a_topology_key_must_be_a_label_key() -> None:
    with pytest.raises(InvalidFieldError, match="topology_key must be a label key"):
        TopologySpread(topology_key="not a key")


def test_a_spread_skew_below_one_is_rejected() -> None:
    with pytest.raises(InvalidFieldError, match="max_skew must be an integer >= 1"):
        TopologySpread(topology_key="topology.kubernetes.io/zone", max_skew=0)


def test_a_disruption_budget_needs_exactly_one_bound() -> None:
    with pytest.raises(InvalidFieldError, match="or minAvailable must be set, and not both"):
        DisruptionBudget()
    with pytest.raises(InvalidFieldError, match="or minAvailable must be set, and not both"):
        DisruptionBudget(max_unavailable=1, min_available=1)


def test_a_min_available_above_replicas_is_rejected() -> None:
    with pytest.raises(InvalidFieldError, match=r"pod_disruption_budget\.min_available must be <= replicas"):
        workload(replicas=2, pod_disruption_budget=DisruptionBudget(min_available=3))


def test_a_negative_first_ordinal_is_rejected() -> None:
    with pytest.raises(InvalidFieldError, match="start must be an integer >= 0"):
        Ordinals(start=-1)


def test_probe_timings_must_be_positive() -> None:
    with pytest.raises(InvalidFieldError, match="period_seconds must be >= 1"):
        ProbeTiming(period_seconds=0)
    with pytest.raises(InvalidFieldError, match="initial_delay_seconds must be >= 0"):
        ProbeTiming(initial_delay_seconds=-1)


def test_liveness_and_startup_probes_must_succeed_once() -> None:
    with pytest.raises(InvalidFieldError, match=r"liveness\.success_threshold must be 1"):
        Probes(liveness=ProbeTiming(success_threshold=2))


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("min_ready_seconds", -1, "min_ready_seconds must be >= 0"),
        ("revision_history_limit", -1, "revision_history_limit must be >= 0"),
        ("termination_grace_period_seconds", 0, "termination_grace_period_seconds must be >= 1"),
        ("rollout_timeout_seconds", 0, "rollout_timeout_seconds must be >= 1"),
        ("node_selector", {"bad key!": "x"}, "node_selector.bad key! is not a valid label key"),
    ],
)
def test_out_of_range_workload_numbers_are_rejected(name: str, value: object, message: str) -> None:
    with pytest.raises(InvalidFieldError, match=message):
        workload(**{name: value})


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        ("nginx", "untagged means latest"),
        ("nginx:latest", "not latest"),
        ("stateful.local:5000/nginx", "untagged means latest"),
        ("Nginx:1", "must be an image reference"),
    ],
)
def test_unpinned_images_are_rejected(image: str, problem: str) -> None:
    assert problem in (image_problem(image) or "")


@pytest.mark.parametrize(
    "image",
    ["nginx:1.27.3", "stateful.local/mariadb:10.11", "stateful.local:5000/zk:3.8", "nginx@sha256:" + "a" * 64],
)
def test_pinned_images_are_accepted(image: str) -> None:
    assert image_problem(image) is None


def test_the_ordinal_range_starts_at_ordinals_start() -> None:
    assert list(workload(replicas=3, ordinals=Ordinals(start=2)).ordinal_range) == [2, 3, 4]
