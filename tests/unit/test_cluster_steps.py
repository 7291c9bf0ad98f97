"""The local cluster's step list, its reverse teardown, and the problem lines of a failed component."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from localcluster.cluster import lifecycle, logs, status
from localcluster.cluster.runner import Context
from localcluster.cluster.spec.components import Component
from localcluster.cluster.spec.layout import Layout
from localcluster.cluster.steps import NODE_STEPS, STEPS, kubelets, preflight
from localcluster.progress import StepError


@pytest.fixture
def ctx(monkeypatch: pytest.MonkeyPatch) -> Context:
    monkeypatch.setenv("STATEFUL_STATE", "/state")  # short for unix sockets; only the last test writes
    return Context.create(Layout.create(2))


def test_down_undoes_the_steps_of_up_in_reverse(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str]] = []
    for step in STEPS:
        name = type(step).__name__
        monkeypatch.setattr(step, "up", lambda _ctx, name=name: calls.append(("up", name)))
        monkeypatch.setattr(step, "down", lambda _ctx, name=name: calls.append(("down", name)))
    monkeypatch.setattr(preflight, "check", lambda _ctx: None)
    monkeypatch.setattr(lifecycle, "leftovers", lambda _ctx: [])
    lifecycle.up(ctx)
    lifecycle.down(ctx)
    ups = [name for verb, name in calls if verb == "up"]
    downs = [name for verb, name in calls if verb == "down"]
    assert ups == [type(s).__name__ for s in STEPS]
    assert downs == [type(s).__name__ for s in reversed(STEPS) if s.down_phase(ctx) is not None]
    assert downs[0] == "Kubelets"
    assert downs[-1] == "HostNetwork"


def test_every_step_that_starts_a_process_stops_it(ctx: Context) -> None:
    for step in STEPS:
        if step.components(ctx):
            assert step.down_phase(ctx) is not None, type(step).__name__


def test_status_expects_each_component_once_in_start_order(ctx: Context) -> None:
    names = status.expected(ctx)
    assert len(names) == len(set(names))
    assert names[:2] == ["etcd", "kube-apiserver"]
    assert names.index("containerd-node-1") < names.index("kubelet-node-1") < names.index("kube-proxy")
    assert {"coredns", "provisioner", "kube-controller-manager", "kube-scheduler", "kubelet-node-2"} <= set(names)


def test_a_node_stops_its_kubelet_before_its_containerd() -> None:
    assert NODE_STEPS[-1] is kubelets.STEP
    assert [type(s).__name__ for s in reversed(NODE_STEPS)] == ["Kubelets", "Containerd"]


def test_problem_lines_go_by_severity_and_fold_repeats() -> None:
    lines = [
        "I1201 12:00:00.000001    42 x.go:1] retrying after error",
        "W1201 12:00:00.000002    42 x.go:2] fatal-sounding warning",
        "E1201 12:00:01.000000    42 x.go:3] \"sync failed\" pod=\"a-0\" id=0123456789abcdef",
        '{"level":"warn","msg":"an error that is only a warning"}',
        '{"level":"error","msg":"lost the leader"}',
        'time="2026-12-01T12:00:00Z" level=fatal msg="bind: address already in use"',
        "[ERROR] plugin/errors: 2 kube-dns. A: read udp: i/o timeout",
        "panic: runtime error: invalid memory address",
        "E1201 12:00:02.000000    42 x.go:3] \"sync failed\" pod=\"a-1\" id=fedcba9876543210",
    ]
    found = logs.problem_lines(lines)
    assert found[0] == '{"level":"error","msg":"lost the leader"}'
    assert found[-1].endswith('pod="a-1" id=fedcba9876543210  [x2]')
    assert len(found) == 5
    assert not any("warning" in line or "retrying" in line for line in found)


def test_problem_lines_keep_the_latest_few() -> None:
    lines = [f"F1201 12:00:00.000000 1 x.go:1] fatal {chr(97 + i)}" for i in range(10)]
    assert logs.problem_lines(lines, limit=3) == [lines[7], lines[8], lines[9]]


def test_a_component_that_dies_fails_with_its_problem_lines(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STATEFUL_STATE", str(tmp_path))
    layout = Layout(root=tmp_path / "cluster", volumes=tmp_path / "volumes", nodes=())
    ctx = Context.create(layout)
    script = ("import sys, time; print('I1201 12:00:00.000000 1 a.go:1] starting'); "
              "print('F1201 12:00:00.100000 1 a.go:2] listen tcp 127.0.0.1:2379: bind: address already in use'); "
              "sys.stdout.flush(); time.sleep(0.5); sys.exit(1)")
    component = Component(name="demo", argv=(sys.executable, "-c", script), ready=lambda: "not yet", timeout=10)
    with pytest.raises(StepError) as failed:
        ctx.start_all([component])
    message = str(failed.value)
    assert message.startswith("demo failed: ")
    problems = message.split("--- problem lines of ", 1)[1].split("--- tail of ", 1)[0]
    assert "bind: address already in use" in problems
    assert "starting" not in problems
    assert "make cluster-logs" in message
