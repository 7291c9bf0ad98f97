"""The review command: an offline rendering becomes a state file the engine's policy analysis reads."""

from __future__ import annotations

import json

import pytest

from policy.review import deployment, main, objects_summary, render_stack, state_value

SIG = "4dabf18193072939515e22adb298388d"
SECRET = "1b47061264138c4ac30d75fd1eb44270"


def test_a_secret_input_becomes_a_plaintext_secret_of_the_state_file() -> None:
    assert state_value({"stringData": {SIG: SECRET, "value": {"a": "b"}}}) == {
        "stringData": {SIG: SECRET, "plaintext": '{"a": "b"}'}
    }


def test_the_state_file_holds_every_kubernetes_object_under_one_provider() -> None:
    resources = render_stack("dev")
    state = deployment(resources, "dev")["deployment"]["resources"]
    root, provider, *objects = state
    assert (root["type"], provider["type"]) == ("pulumi:pulumi:Stack", "pulumi:providers:kubernetes")
    assert {item["provider"] for item in objects} == {f"{provider['urn']}::rendered"}
    assert len(objects) == len([r for r in resources if r.type.startswith("kubernetes:")])
    assert all(item["inputs"] == item["outputs"] for item in objects)
    json.dumps(state)  # serialisable as it is


def test_the_summary_lists_the_objects_a_stack_holds() -> None:
    summary = objects_summary(render_stack("prod"))
    assert "  + StatefulSet zookeeper/zk" in summary
    assert "  + Namespace mysql" in summary


def test_an_unknown_stack_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stack", "nowhere"]) == 2
    assert "no stack file Pulumi.nowhere.yaml" in capsys.readouterr().err
