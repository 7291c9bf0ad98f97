"""The policy pack as a whole: the stacks pass it, and __main__.py serves every policy at its level."""

from __future__ import annotations

import runpy
import sys
import tomllib
import types
from pathlib import Path
from typing import Any

import pytest
import yaml

from policy import PACK_DIR
from policy.model import Level, ResourcePolicy, StackPolicy
from policy.pack import NAME, POLICIES, plain, violations
from policy.review import render_stack

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "stack",
    [
        "local",
        "dev",
        "prod",
    ],
)
def test_every_stack_passes_every_policy(stack: str) -> None:
    assert [str(violation) for violation in violations(render_stack(stack), stack)] == []


def test_policy_names_are_unique() -> None:
    names = [policy.name for policy in POLICIES]
    assert len(names) == len(set(names))


def test_only_anti_affinity_and_memory_limits_are_advisory() -> None:
    advisory = {policy.name for policy in POLICIES if policy.level is Level.ADVISORY}
    assert advisory == {"quorum-anti-affinity", "memory-limits"}


def test_rules_spanning_objects_are_stack_policies() -> None:
    stack_level = {policy.name for policy in POLICIES if isinstance(policy, StackPolicy)}
    assert stack_level == {"services-select-pods", "headless-governing-service", "quorum-budget"}


class _Recorded:
    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs


def test_the_pack_serves_every_policy_at_its_level(monkeypatch: pytest.MonkeyPatch) -> None:
    """``__main__.py`` run against a stand-in ``pulumi_policy`` that records instead of serving."""
    served: list[_Recorded] = []
    fake = types.ModuleType("pulumi_policy")
    fake.EnforcementLevel = types.SimpleNamespace(MANDATORY="MANDATORY", ADVISORY="ADVISORY")  # type: ignore[attr-defined]
    fake.ResourceValidationPolicy = type("ResourceValidationPolicy", (_Recorded,), {})  # type: ignore[attr-defined]
    fake.StackValidationPolicy = type("StackValidationPolicy", (_Recorded,), {})  # type: ignore[attr-defined]
    fake.PolicyPack = lambda **kwargs: served.append(_Recorded(**kwargs))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pulumi_policy", fake)
    monkeypatch.setattr(sys, "path", list(sys.path))
    runpy.run_path(str(PACK_DIR / "__main__.py"), run_name="__main__")

    (pack,) = served
    assert pack.kwargs["name"] == NAME
    assert pack.kwargs["enforcement_level"] == "MANDATORY"
    wired = [
        (type(policy).__name__, policy.kwargs["name"], policy.kwargs["enforcement_level"])
        for policy in pack.kwargs["policies"]
    ]
    assert wired == [
        (
            "ResourceValidationPolicy" if isinstance(policy, ResourcePolicy) else "StackValidationPolicy",
            policy.name,
            policy.level.name,
        )
        for policy in POLICIES
    ]


def test_the_pack_runs_in_a_virtualenv_of_its_own_with_the_project_sdk() -> None:
    project = PACK_DIR / "PulumiPolicy.yaml"
    runtime = yaml.safe_load(project.read_text())["runtime"]
    assert runtime == {"name": "python", "options": {"toolchain": "pip", "virtualenv": ".venv"}}
    pins = {
        line.split("==")[0]: line.split("==")[1]
        for line in (PACK_DIR / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    sdk = next(
        dependency
        for dependency in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
        if dependency.startswith("pulumi==")
    )
    assert pins == {"pulumi": sdk.removeprefix("pulumi=="), "pulumi-policy": "1.21.0"}


def test_secret_inputs_reach_the_policies_unwrapped_as_crossguard_passes_them() -> None:
    secret = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": {"a": "b"}}
    assert plain({"stringData": secret, "items": [secret]}) == {"stringData": {"a": "b"}, "items": [{"a": "b"}]}
