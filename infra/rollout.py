"""What ``pulumi up`` waits for after creating or changing a StatefulSet.

The provider's built-in StatefulSet await never finishes a RollingUpdate with ``partition > 0`` (it waits
for every pod to reach the update revision) and returns at once under OnDelete. So the StatefulSet
carries a ``pulumi.com/waitFor`` annotation (which replaces the built-in await) that states what the
strategy promises:

* RollingUpdate: every pod ready, and at least ``replicas - partition`` pods on the update revision
  (on the first create every pod is on it, so "at least" rather than "exactly");
* OnDelete: every pod ready; pods move to the new template only when someone deletes them;
* ``minReadySeconds > 0``: every pod also available.

Each condition reads the status only once the controller has observed the current generation
(``observedGeneration == metadata.generation``), so a status left over from before the change never
satisfies it. The expressions use the strict ``kubectl get -o jsonpath`` syntax the provider parses;
no expression may contain a bare ``=`` inside the braces (``>=`` would be split), hence ``> n - 1``.
"""

from __future__ import annotations

import json

from infra.workload import UpdateStrategy, UpdateStrategyType

WAIT_FOR = "pulumi.com/waitFor"
TIMEOUT_SECONDS = "pulumi.com/timeoutSeconds"

_OBSERVED = "@.observedGeneration==$.metadata.generation"


def current_status(field_name: str, equals: int) -> str:
    """A condition: ``.status.<field>`` equals ``equals`` in a status of the current generation."""
    return f"jsonpath={{[?{_OBSERVED}].{field_name}}}={equals}"


def current_status_at_least(field_name: str, minimum: int) -> str:
    """A condition: ``.status.<field>`` is at least ``minimum`` (>= 1) in a status of the current generation."""
    if minimum < 1:
        raise ValueError(f"minimum must be >= 1 (a zero count is omitted from the status), got {minimum}")
    return f"jsonpath={{[?{_OBSERVED} && @.{field_name}>{minimum - 1}].{field_name}}}"


def wait_conditions(replicas: int, strategy: UpdateStrategy, min_ready_seconds: int) -> list[str]:
    """The conditions a rollout must meet before ``pulumi up`` moves on."""
    conditions = [current_status("replicas", replicas), current_status("readyReplicas", replicas)]
    if strategy.type is UpdateStrategyType.ROLLING_UPDATE:
        updated = replicas - strategy.effective_partition
        if updated > 0:
            conditions.append(current_status_at_least("updatedReplicas", updated))
    if min_ready_seconds > 0:
        conditions.append(current_status("availableReplicas", replicas))
    return conditions


def rollout_annotations(
    replicas: int, strategy: UpdateStrategy, min_ready_seconds: int, timeout_seconds: int
) -> dict[str, str]:
    """StatefulSet annotations that make Pulumi wait for what the update strategy promises."""
    return {
        WAIT_FOR: json.dumps(wait_conditions(replicas, strategy, min_ready_seconds)),
        TIMEOUT_SECONDS: str(timeout_seconds),
    }
