"""The pack's policies, in the order the engine reports them, and how to run them outside the engine.

``__main__.py`` serves exactly these through CrossGuard; ``evaluate`` runs them in-process over a
rendered program (the unit tests), so there is one set of checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from policy import credentials, objects, pods, statefulsets, topology
from policy.model import Policy, Resource, Stack, Violation, evaluate

if TYPE_CHECKING:  # the pack itself never renders the program
    from policy.render import RenderedResource

NAME = "stateful-clusters"
DESCRIPTION = "Stateful workloads on Kubernetes: selectors, governing Services, quorum, pod security, pinning."

POLICIES: tuple[Policy, ...] = (
    *objects.POLICIES,
    *statefulsets.POLICIES,
    *pods.POLICIES,
    *credentials.POLICIES,
    *topology.POLICIES,
)

# The Python SDK's wire form of a secret value (what Pulumi's mocks record); CrossGuard unwraps them.
_SIG = "4dabf18193072939515e22adb298388d"
_SECRET = "1b47061264138c4ac30d75fd1eb44270"


def plain(value: Any) -> Any:
    """``value`` with every secret unwrapped, as CrossGuard passes properties to a validation."""
    if isinstance(value, Mapping):
        if value.get(_SIG) == _SECRET:
            return plain(value.get("value"))
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def urn(stack: str, project: str, resource_type: str, name: str) -> str:
    """The URN of a resource parented to the stack."""
    return f"urn:pulumi:{stack}::{project}::{resource_type}::{name}"


def stack_of(resources: Iterable[RenderedResource], stack: str = "unit", project: str = "stateful") -> Stack:
    """A rendered program as the policies see it (each resource's inputs also stand for its outputs)."""
    return Stack(
        tuple(
            Resource(r.type, plain(dict(r.props)), r.name, urn(stack, project, r.type, r.name)) for r in resources
        )
    )


def violations(resources: Iterable[RenderedResource], stack: str = "unit") -> list[Violation]:
    """Every policy's violations over a rendered program."""
    return evaluate(POLICIES, stack_of(resources, stack))
