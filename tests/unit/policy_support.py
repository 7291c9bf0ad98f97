"""Helpers for the policy tests: the rendered stacks as the pack sees them, and one object changed."""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import cache
from typing import Any

from policy.model import NotApplicable, Policy, Resource, Stack, StackPolicy
from policy.pack import POLICIES, stack_of
from policy.review import render_stack

Change = Callable[[dict[str, Any]], None]


@cache
def stack(name: str = "local") -> Stack:
    """``stacks/Pulumi.<name>.yaml`` rendered under mocks, as the pack sees it (read-only: cached)."""
    return stack_of(render_stack(name), name)


def policy(name: str) -> Policy:
    """The pack's policy called ``name``."""
    return next(found for found in POLICIES if found.name == name)


def named(of: Stack, kind: str, name: str) -> Resource:
    """The object of ``kind`` whose ``metadata.name`` is ``name``."""
    return next(
        resource
        for resource in of.resources
        if resource.resource_type.endswith(f":{kind}") and resource.props.get("metadata", {}).get("name") == name
    )


def changed(of: Stack, kind: str, name: str, change: Change) -> Stack:
    """``of`` with one object's properties changed (a deep copy; the cached stack stays as it was)."""
    target = named(of, kind, name)
    resources = []
    for resource in of.resources:
        if resource is target:
            props = copy.deepcopy(dict(resource.props))
            change(props)
            resources.append(Resource(resource.resource_type, props, resource.name, resource.urn))
        else:
            resources.append(resource)
    return Stack(tuple(resources))


def without(of: Stack, kind: str, name: str) -> Stack:
    """``of`` without one object."""
    target = named(of, kind, name)
    return Stack(tuple(resource for resource in of.resources if resource is not target))


def pod(props: dict[str, Any]) -> dict[str, Any]:
    """The pod spec inside a workload's properties."""
    spec: dict[str, Any] = props["spec"]["template"]["spec"]
    return spec


def messages(name: str, of: Stack, kind: str | None = None, obj: str | None = None) -> list[str]:
    """What policy ``name`` reports: over the stack, or on one object (``kind``, ``obj``), or on every object."""
    found: list[str] = []

    def report(message: str, urn: str | None) -> None:
        found.append(message)

    checked = policy(name)
    if isinstance(checked, StackPolicy):
        checked.validate(of, report)
        return found
    targets = [named(of, kind, obj)] if kind is not None and obj is not None else list(of.resources)
    for target in targets:
        try:
            checked.validate(target, report)
        except NotApplicable:
            continue
    return found
