"""The rollout wait conditions match what each update strategy promises."""

from __future__ import annotations

import json

import pytest

from infra.rollout import (
    TIMEOUT_SECONDS,
    WAIT_FOR,
    current_status,
    current_status_at_least,
    rollout_annotations,
    wait_conditions,
)
from infra.workload import UpdateStrategy, UpdateStrategyType

ROLLING = UpdateStrategy()
ON_DELETE = UpdateStrategy(type=UpdateStrategyType.ON_DELETE)


def test_a_rolling_update_waits_for_every_pod_ready_and_updated() -> None:
    assert wait_conditions(3, ROLLING, 0) == [
        current_status("replicas", 3),
        current_status("readyReplicas", 3),
        current_status_at_least("updatedReplicas", 3),
    ]


def test_a_partitioned_rolling_update_waits_only_for_the_pods_at_or_above_the_partition() -> None:
    conditions = wait_conditions(5, UpdateStrategy(partition=2), 0)
    assert current_status_at_least("updatedReplicas", 3) in conditions
    assert current_status("readyReplicas", 5) in conditions


def test_a_partition_equal_to_replicas_waits_for_no_updated_pod() -> None:
    conditions = wait_conditions(2, UpdateStrategy(partition=2), 0)
    assert not any("updatedReplicas" in condition for condition in conditions)


def test_on_delete_waits_for_ready_pods_but_not_for_updated_ones() -> None:
    conditions = wait_conditions(3, ON_DELETE, 0)
    assert conditions == [current_status("replicas", 3), current_status("readyReplicas", 3)]


def test_min_ready_seconds_adds_a_wait_for_available_pods() -> None:
    assert current_status("availableReplicas", 3) in wait_conditions(3, ROLLING, 10)


def test_every_condition_reads_only_a_status_of_the_current_generation() -> None:
    for condition in wait_conditions(3, ROLLING, 10):
        assert condition.startswith("jsonpath={[?@.observedGeneration==$.metadata.generation")


def test_no_condition_holds_a_bare_equals_sign_inside_its_braces() -> None:
    """The provider splits an expression on ``=`` outside ``==``: ``>=`` would break it."""
    for condition in wait_conditions(3, UpdateStrategy(partition=1), 10):
        path = condition.removeprefix("jsonpath=").rsplit("}", 1)[0]
        assert "=" not in path.replace("==", "")


def test_an_at_least_condition_of_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="minimum must be >= 1"):
        current_status_at_least("updatedReplicas", 0)


def test_the_annotations_carry_a_json_list_of_conditions_and_the_timeout() -> None:
    annotations = rollout_annotations(2, ROLLING, 0, 300)
    assert json.loads(annotations[WAIT_FOR]) == wait_conditions(2, ROLLING, 0)
    assert annotations[TIMEOUT_SECONDS] == "300"
