"""The one labels function: every selector (pods, StatefulSet, Services, PDB, anti-affinity) comes from here."""

from __future__ import annotations

NAME = "app.kubernetes.io/name"
INSTANCE = "app.kubernetes.io/instance"
MANAGED_BY = "app.kubernetes.io/managed-by"
PART_OF = "app.kubernetes.io/part-of"
POD_NAME = "statefulset.kubernetes.io/pod-name"
#: On each StatefulSet object (not its pods, not a selector): the Pulumi stack that manages it.
STACK = "stateful.pulumi.com/stack"


def selector_labels(app: str, instance: str) -> dict[str, str]:
    """Labels that select the pods of one StatefulSet; immutable once the StatefulSet exists."""
    return {NAME: app, INSTANCE: instance}


def labels(app: str, instance: str) -> dict[str, str]:
    """Labels put on every object of one workload: the selector labels plus ownership labels."""
    return {**selector_labels(app, instance), MANAGED_BY: "pulumi", PART_OF: "stateful"}
