"""Changes to a live StatefulSet that would lose data or cannot be applied: found before anything changes.

Pure: settings and the live state in, problems out (``InvalidFieldError`` with the settings' field path, so
the caller names its own config key). What each field does on a live set:

* ``storage.size`` up: the StatefulSet object is re-created with orphan propagation (its pods and claims
  stay) and every existing claim is expanded in place; refused where the claims' StorageClass does not
  allow expansion. Down: refused (volumes cannot shrink).
* ``storage.storageClassName``, ``storage.accessModes``: refused (existing claims keep theirs; a set whose
  pods sit on different classes or modes is not what anyone asked for).
* ``ordinals.start``: refused (every pod would get a new name and a new, empty claim).
* ``podManagementPolicy``, ``revisionHistoryLimit`` and a size change re-create the object with orphan
  propagation; on a stack that protects its StatefulSets Pulumi refuses that, so the procedure is named here.
"""

from __future__ import annotations

from infra.errors import InvalidFieldError
from infra.live import LiveState, LiveStatefulSet
from infra.quantity import parse_quantity
from infra.workload import WorkloadSpec


def recreated_fields(workload: WorkloadSpec, live: LiveStatefulSet) -> list[str]:
    """The settings whose change makes the provider re-create the StatefulSet object (its force-new fields)."""
    changed: list[str] = []
    if live.template_size is None or parse_quantity(live.template_size) != parse_quantity(workload.storage.size):
        changed.append("storage.size")
    if live.pod_management_policy != str(workload.pod_management_policy):
        changed.append("pod_management_policy")
    if live.revision_history_limit != workload.revision_history_limit:
        changed.append("revision_history_limit")
    return changed


def _storage_problems(workload: WorkloadSpec, live: LiveStatefulSet, state: LiveState) -> list[InvalidFieldError]:
    storage = workload.storage
    problems: list[InvalidFieldError] = []
    wanted = parse_quantity(storage.size)
    largest = max(live.claims, key=lambda claim: claim.requested_bytes, default=None)
    if largest is not None and wanted < largest.requested_bytes:
        problems.append(
            InvalidFieldError(
                "storage.size",
                f"must not be smaller than the live claims ({largest.name} has {largest.requested}): a volume "
                f"cannot shrink; got {storage.size!r}. To use smaller volumes, back the data up and restore it "
                "into a new StatefulSet",
            )
        )
    growing = [claim for claim in live.claims if wanted > claim.requested_bytes]
    for claim in growing:
        storage_class = claim.storage_class_name or state.default_class
        if storage_class not in state.expandable_classes:
            problems.append(
                InvalidFieldError(
                    "storage.size",
                    f"can grow only where the claims' StorageClass allows volume expansion; {claim.name} is of "
                    f"class {storage_class!r}, which does not (allowVolumeExpansion); got {storage.size!r}, "
                    f"live {claim.requested}. Enable expansion on the class first",
                )
            )
            break
    if storage.storage_class_name != live.template_storage_class_name:
        problems.append(
            InvalidFieldError(
                "storage.storage_class_name",
                f"must stay {live.template_storage_class_name!r} on a live StatefulSet: existing claims keep their "
                f"class, so the pods would sit on different classes; got {storage.storage_class_name!r}. To move "
                "to another class, back the data up and restore it into a new StatefulSet",
            )
        )
    modes = tuple(str(mode) for mode in storage.access_modes)
    if live.template_access_modes and modes != live.template_access_modes:
        problems.append(
            InvalidFieldError(
                "storage.access_modes",
                f"must stay {list(live.template_access_modes)} on a live StatefulSet: existing claims keep their "
                f"access modes; got {list(modes)}",
            )
        )
    return problems


def live_problems(workload: WorkloadSpec, live: LiveStatefulSet | None, state: LiveState) -> list[InvalidFieldError]:
    """Everything about ``workload`` that cannot be applied to ``live`` (nothing when it does not exist yet)."""
    if live is None:
        return []
    problems: list[InvalidFieldError] = []
    if workload.ordinals.start != live.ordinals_start:
        problems.append(
            InvalidFieldError(
                "ordinals.start",
                f"must stay {live.ordinals_start} on a live StatefulSet: a new first ordinal renames every pod onto "
                f"new, empty claims; got {workload.ordinals.start}",
            )
        )
    problems += _storage_problems(workload, live, state)
    recreated = recreated_fields(workload, live)
    if workload.protect and recreated:
        problems.append(
            InvalidFieldError(
                recreated[0],
                "changes a field that re-creates the StatefulSet object (its pods and claims are kept, with orphan "
                "propagation), and this stack protects it (protect: true), which Pulumi refuses. Run one "
                "`pulumi up` with protect: false and no other change, then this change, then protect: true again",
            )
        )
    return problems
