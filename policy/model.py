"""What a policy is here, and what it is given: the shapes of CrossGuard's arguments, without CrossGuard.

Each policy is a name, a description, an enforcement level and a ``check`` that yields one message per
violation. ``validate(args, report)`` has the signature of a ``pulumi_policy`` validation, so
``__main__.py`` hands it to ``ResourceValidationPolicy``/``StackValidationPolicy`` unchanged, and tests
call it (or ``check``) directly with ``Resource``/``Stack`` below, which carry the same attributes as
``ResourceValidationArgs``/``StackValidationArgs``. Nothing here imports ``pulumi_policy``: the pack runs
in its own virtualenv, the tests in the project's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

#: ``report_violation(message, urn)`` of a CrossGuard validation.
Report = Callable[[str, str | None], None]


class ResourceArgs(Protocol):
    """One resource as a resource policy sees it: type token, Pulumi name, URN and inputs."""

    @property
    def resource_type(self) -> str:
        """The type token, e.g. ``kubernetes:apps/v1:StatefulSet``."""

    @property
    def name(self) -> str:
        """The Pulumi resource name."""

    @property
    def urn(self) -> str:
        """The resource's URN."""

    @property
    def props(self) -> Mapping[str, Any]:
        """Inputs (resource policies) or outputs (stack policies), camelCase as the API spells them."""

    def not_applicable(self, reason: str | None = None) -> None:
        """Raise: the policy does not apply to this resource (CrossGuard reports it as not applicable)."""


class StackArgs(Protocol):
    """Every resource of the stack, as a stack policy sees them (with their outputs)."""

    @property
    def resources(self) -> Sequence[ResourceArgs]:
        """The stack's resources."""

    def not_applicable(self, reason: str | None = None) -> None:
        """Raise: the policy does not apply to this stack."""


class Level(StrEnum):
    """CrossGuard enforcement levels used here: mandatory fails preview and update, advisory warns."""

    MANDATORY = "mandatory"
    ADVISORY = "advisory"


@dataclass(frozen=True)
class ResourcePolicy:
    """A policy over one resource at a time (its inputs, before the change is applied)."""

    name: str
    description: str
    check: Callable[[ResourceArgs], Iterator[str]]
    level: Level = Level.MANDATORY

    def validate(self, args: ResourceArgs, report: Report) -> None:
        """Report each violation ``check`` finds (the CrossGuard resource validation)."""
        for message in self.check(args):
            report(message, None)


@dataclass(frozen=True)
class StackPolicy:
    """A policy over the whole stack (outputs), for rules no single resource can decide."""

    name: str
    description: str
    check: Callable[[StackArgs], Iterator[tuple[str, str]]]  # (message, urn of the offending resource)
    level: Level = Level.MANDATORY

    def validate(self, args: StackArgs, report: Report) -> None:
        """Report each violation ``check`` finds against its resource (the CrossGuard stack validation)."""
        for message, urn in self.check(args):
            report(message, urn or None)


Policy = ResourcePolicy | StackPolicy


class NotApplicable(Exception):  # noqa: N818 - CrossGuard's own word for it
    """Raised by ``Resource.not_applicable``/``Stack.not_applicable`` (CrossGuard raises its own)."""

    def __init__(self, reason: str | None = None) -> None:
        """Remember why."""
        super().__init__(reason or "policy does not apply")
        self.reason = reason


@dataclass(frozen=True)
class Resource:
    """A resource outside the engine (tests, rendered stacks), shaped like ``ResourceValidationArgs``."""

    resource_type: str
    props: Mapping[str, Any]
    name: str = ""
    urn: str = ""

    def not_applicable(self, reason: str | None = None) -> None:
        """Raise ``NotApplicable``."""
        raise NotApplicable(reason)


@dataclass(frozen=True)
class Stack:
    """A stack outside the engine, shaped like ``StackValidationArgs``."""

    resources: Sequence[Resource] = field(default_factory=tuple)

    def not_applicable(self, reason: str | None = None) -> None:
        """Raise ``NotApplicable``."""
        raise NotApplicable(reason)


@dataclass(frozen=True)
class Violation:
    """One reported violation: which policy, how enforced, what, and on which resource."""

    policy: str
    level: Level
    message: str
    urn: str = ""

    def __str__(self) -> str:
        """``policy (level): message``."""
        return f"{self.policy} ({self.level}): {self.message}"


def evaluate(policies: Sequence[Policy], stack: Stack) -> list[Violation]:
    """Run every policy over ``stack`` the way the engine does: resource policies per resource, then the stack.

    Policies that do not apply are skipped, as CrossGuard does.
    """
    found: list[Violation] = []
    for policy in policies:
        if isinstance(policy, ResourcePolicy):
            for resource in stack.resources:
                found += _run(policy, resource, resource.urn)
        else:
            found += _run(policy, stack, "")
    return found


def _run(policy: Policy, args: Any, urn: str) -> list[Violation]:
    found: list[Violation] = []

    def report(message: str, at: str | None) -> None:
        found.append(Violation(policy.name, policy.level, message, at or urn))

    try:
        policy.validate(args, report)
    except NotApplicable:
        return []
    return found
