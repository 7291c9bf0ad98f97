"""Each stack sets the Pod Security levels of its namespaces; production enforces restricted."""

from __future__ import annotations

from typing import Any

import pytest
from test_stacks import settings_of

from apps.config import ConfigError
from conftest import Parse, Render
from infra.podsecurity import PodSecurityLevel, PodSecurityLevels, namespace_labels

RELAXED = {"podSecurity": {"enforce": "baseline", "warn": "restricted", "audit": "restricted"}}


def error_of(parse: Parse, sections: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as error:
        parse(sections)
    return str(error.value)


def test_by_default_namespaces_only_enforce_restricted(rendered: Render) -> None:
    for namespace in rendered().of_kind("Namespace"):
        labels = namespace.metadata["labels"]
        assert not {"pod-security.kubernetes.io/warn", "pod-security.kubernetes.io/audit"} & set(labels)


def test_a_relaxed_stack_enforces_baseline_and_warns_and_audits_restricted(rendered: Render) -> None:
    for namespace in rendered(RELAXED).of_kind("Namespace"):
        labels = namespace.metadata["labels"]
        assert {key: value for key, value in labels.items() if key.startswith("pod-security")} == {
            "pod-security.kubernetes.io/enforce": "baseline",
            "pod-security.kubernetes.io/warn": "restricted",
            "pod-security.kubernetes.io/audit": "restricted",
        }


def test_a_relaxed_namespace_does_not_relax_the_workloads(rendered: Render) -> None:
    relaxed = {r.name: r.props for r in rendered(RELAXED).resources if r.kind == "StatefulSet"}
    strict = {r.name: r.props for r in rendered().resources if r.kind == "StatefulSet"}
    assert relaxed == strict


def test_the_local_stack_lets_a_debugging_pod_start_in_its_namespaces() -> None:
    assert settings_of("local").pod_security == PodSecurityLevels(
        enforce=PodSecurityLevel.BASELINE, warn=PodSecurityLevel.RESTRICTED, audit=PodSecurityLevel.RESTRICTED
    )


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_real_environments_enforce_the_restricted_level(stack: str) -> None:
    assert settings_of(stack).pod_security.enforce is PodSecurityLevel.RESTRICTED


def test_an_unknown_level_is_rejected_naming_the_key_and_the_levels(parse: Parse) -> None:
    message = error_of(parse, {"podSecurity": {"enforce": "strict"}})
    assert message == "stateful:podSecurity.enforce must be one of privileged, baseline, restricted, got 'strict'"


def test_an_unknown_mode_is_rejected_with_the_known_ones(parse: Parse) -> None:
    message = error_of(parse, {"podSecurity": {"enforced": "baseline"}})
    assert message == "stateful:podSecurity.enforced is not a known setting; known settings: audit, enforce, warn"


def test_a_warn_level_below_the_enforced_one_is_rejected(parse: Parse) -> None:
    message = error_of(parse, {"podSecurity": {"enforce": "restricted", "warn": "baseline"}})
    assert message.startswith("stateful:podSecurity.warn must be at least as strict as enforce (restricted)")


def test_a_setting_that_is_not_an_object_is_rejected(parse: Parse) -> None:
    assert error_of(parse, {"podSecurity": "baseline"}).startswith("stateful:podSecurity must be an object")


def test_only_the_levels_that_are_set_become_labels() -> None:
    assert namespace_labels(PodSecurityLevels(audit=PodSecurityLevel.RESTRICTED)) == {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
    }
