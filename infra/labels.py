"""The one labels function: every selector (pods, StatefulSet, Services, PDB, anti-affinity) comes from here."""

from __future__ import annotations

from collections.abc import Mapping

from infra.errors import InvalidFieldError

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


def pod_labels(app: str, instance: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Labels of the pod template: the object labels plus ``extra`` (e.g. a tutorial's ``app: nginx``).

    ``extra`` never reaches a selector (the StatefulSet's selector is immutable) and may not redefine a
    label of :func:`labels`, so every selector built from :func:`selector_labels` still selects the pods.
    """
    base = labels(app, instance)
    clashing = sorted(key for key in extra or {} if key in base or key == POD_NAME)
    if clashing:
        raise InvalidFieldError("pod_labels", f"must not redefine the project's own labels, got {clashing}")
    return {**base, **(extra or {})}
