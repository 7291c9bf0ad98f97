"""The leader-last rollout step: which pod goes next, when Pulumi runs it, where ZooKeeper uses it (no cluster)."""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Iterator

import pytest

from apps import zookeeper
from conftest import Render
from infra.ordered_rollout import OrderedRolloutProvider, next_pod

ROLLOUT = "pulumi-python:dynamic/stateful:OrderedRollout"
PROPS = {"namespace": "zookeeper", "statefulset": "zk", "generation": 4, "last": ["bash", "/config/leader.sh"],
         "container": "zookeeper", "context": "", "timeout_seconds": 300}


def test_followers_go_first_from_the_highest_ordinal_and_the_leader_last() -> None:
    leader = "zk-2"
    assert next_pod(["zk-0", "zk-1", "zk-2"], lambda pod: pod == leader) == "zk-1"
    assert next_pod(["zk-0", "zk-2"], lambda pod: pod == leader) == "zk-0"
    assert next_pod(["zk-2"], lambda pod: pod == leader) == "zk-2"


def test_ordinals_sort_as_numbers_not_strings() -> None:
    assert next_pod(["zk-2", "zk-10", "zk-9"], lambda pod: False) == "zk-10"


def test_when_every_stale_pod_claims_to_go_last_one_of_them_still_goes() -> None:
    assert next_pod(["zk-0", "zk-1"], lambda pod: True) == "zk-1"


def test_a_new_generation_is_a_change_and_never_a_replacement() -> None:
    result = OrderedRolloutProvider().diff("id", PROPS, {**PROPS, "generation": 5})
    assert result.changes is True
    assert result.replaces == []


def test_a_longer_timeout_alone_is_no_change() -> None:
    assert OrderedRolloutProvider().diff("id", PROPS, {**PROPS, "timeout_seconds": 900}).changes is False


def test_zookeeper_rolls_on_delete_through_the_leader_last_step_by_default(rendered: Render) -> None:
    rendering = rendered()
    assert rendering.named("StatefulSet", "zk").spec["updateStrategy"] == {"type": "OnDelete"}
    (step,) = [r for r in rendering.of_type(ROLLOUT) if r.props["statefulset"] == "zk"]
    assert step.props["last"] == ["bash", "/config/leader.sh"]
    assert step.props["container"] == "zookeeper"
    assert "leader.sh" in rendering.config_files("zk-config").props["data"]


def test_a_rolling_update_configured_for_zookeeper_leaves_the_order_to_the_controller(rendered: Render) -> None:
    rendering = rendered({"zookeeper": {"updateStrategy": {"partition": 1}}})
    assert rendering.named("StatefulSet", "zk").spec["updateStrategy"]["type"] == "RollingUpdate"
    assert [r for r in rendering.of_type(ROLLOUT) if r.props["statefulset"] == "zk"] == []


def test_only_zookeeper_has_an_ordered_rollout(rendered: Render) -> None:
    assert [r.props["statefulset"] for r in rendered().of_type(ROLLOUT)] == ["zk"]


@pytest.fixture
def srvr_server() -> Iterator[tuple[int, list[str]]]:
    """A local TCP server that answers one ``srvr`` with the mode the test puts in the list."""
    listener = socket.create_server(("127.0.0.1", 0))
    mode: list[str] = []

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(4)
            conn.sendall(f"Zookeeper version: 3.8.0\nZxid: 0x1\nMode: {mode[0]}\nNode count: 5\n".encode())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], mode
    listener.close()


@pytest.mark.parametrize(("mode", "code"), [("leader", 0), ("follower", 1), ("standalone", 1)])
def test_the_leader_script_exits_zero_only_on_the_leader(srvr_server: tuple[int, list[str]], mode: str,
                                                          code: int) -> None:
    port, modes = srvr_server
    modes.append(mode)
    script = zookeeper.LEADER_SCRIPT.replace(f"/{zookeeper.CLIENT_PORT}", f"/{port}")
    assert subprocess.run(["bash", "-c", script], check=False, timeout=10).returncode == code
