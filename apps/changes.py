"""Changes to a live stack that would lose data or break a quorum: refused before any resource changes.

``parse_stack_settings`` checks values on their own; this checks them against what runs now (read once
by ``infra.live``), so ``pulumi preview`` fails with the config key, the reason and the safe procedure.
The StatefulSet-level rules are in ``infra.livechecks``; the apps add their own here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from apps import mysql, nginx, zookeeper
from apps.config import ConfigError, camel_path
from apps.stack import PROJECT, StackSettings
from infra.errors import InvalidFieldError
from infra.live import LiveState, LiveStatefulSet, Target
from infra.livechecks import live_problems

_APPS: tuple[tuple[str, Any], ...] = (
    ("nginx", nginx),
    ("zookeeper", zookeeper),
    ("mysql", mysql),
)


def _enabled(settings: StackSettings) -> Iterator[tuple[str, Any, Any]]:
    for name, module in _APPS:
        app = getattr(settings, name)
        if app.enabled:
            yield name, module, app


def targets(settings: StackSettings) -> list[Target]:
    """The StatefulSets this stack manages, for ``infra.live.read_live``."""
    return [
        Target(namespace=app.namespace, name=module.STATEFULSET, claim_template=module.VOLUME_CLAIM)
        for _name, module, app in _enabled(settings)
    ]


def _zookeeper_problems(settings: zookeeper.ZooKeeperSettings, live: LiveStatefulSet) -> list[InvalidFieldError]:
    members = settings.workload.replicas
    if members == live.replicas:
        return []
    return [
        InvalidFieldError(
            "replicas",
            f"must stay {live.replicas} on a live ensemble: every member lists the others in a static zoo.cfg, "
            f"so during the roll members would disagree about the ensemble ({live.replicas} -> {members} can form "
            f"two majorities or lose quorum); got {members}. To resize, deploy a new ensemble of {members} beside "
            "it and move the clients",
        )
    ]


def problems(settings: StackSettings, state: LiveState) -> list[str]:
    """Every refused change, as a message that starts with the full config key."""
    found: list[str] = []
    for name, module, app in _enabled(settings):
        elsewhere = sorted(state.stack_namespaces.get(module.STATEFULSET, frozenset()) - {app.namespace})
        if elsewhere:
            found.append(
                f"{PROJECT}:{name}.namespace must stay {elsewhere[0]!r}: this stack's StatefulSet "
                f"{module.STATEFULSET} runs there, and a new namespace would start it with new, empty claims "
                f"and delete the old one; got {app.namespace!r}. To move it, deploy a new stack in the new "
                "namespace and move the data"
            )
        live = state.statefulset(app.namespace, module.STATEFULSET)
        errors = live_problems(app.workload, live, state)
        if live is not None and name == "zookeeper":
            errors += _zookeeper_problems(app, live)
        found += [f"{PROJECT}:{name}.{camel_path(error.field)} {error.problem}" for error in errors]
    return found


def check_live_changes(settings: StackSettings, state: LiveState) -> None:
    """Raise ConfigError naming the first refused change (and how many more there are)."""
    found = problems(settings, state)
    if found:
        more = f" (and {len(found) - 1} more: {'; '.join(found[1:])})" if len(found) > 1 else ""
        raise ConfigError(found[0] + more)
