"""Day 2 on a stack of its own: changes to a live stack keep every pod's data and never take a set down.

A scratch stack (the local settings, nginx and MySQL in namespaces named after the run, ZooKeeper off)
is deployed with the real ``pulumi up`` and changed the way a user changes a live stack: bigger
volumes, a field the provider can only apply by re-creating the StatefulSet object, new passwords.
Pods are watched throughout (every event, not samples), a client writes to MySQL during each change
and every acknowledged write is looked for afterwards. The stack is destroyed at the end.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql
import pytest
from pulumi import automation as auto

from harness import mysqldb
from harness.kube import Kube, PodRecorder, exec_in_pod, wait_ready
from harness.mysqldb import Login, Writer
from harness.net import http_get
from harness.scratch import SECRET_KEYS, ScratchStack, base_config
from harness.stack import App, StackDriver
from harness.waits import wait_until

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
DOWN = (pymysql.err.OperationalError, pymysql.err.InterfaceError, OSError)
REPLICATION_S = 60.0
GROWN = {"nginx": "512Mi", "mysql": "2Gi"}


@dataclass
class Scratch:
    """The deployed scratch stack and what the drills need of it."""

    stack: ScratchStack
    nginx: App
    mysql: App
    app: Login  # the application account

    def refresh(self) -> None:
        """Re-read the outputs after an ``up``."""
        outputs = self.stack.outputs()
        self.nginx = App.from_outputs(outputs, "nginx")
        self.mysql = App.from_outputs(outputs, "mysql")


@pytest.fixture(scope="module")
def scratch(driver: StackDriver, run_id: str) -> Iterator[Scratch]:
    """Nginx (2 pods) and MySQL (a primary and a replica) on a stack of their own, destroyed afterwards."""
    namespaces = {"nginx": f"d2-{run_id}-web", "zookeeper": None, "mysql": f"d2-{run_id}-db"}
    base = base_config(driver.settings(), driver.project, namespaces)
    base[f"{driver.project}:mysql"]["replicas"] = 2
    passwords = {key: secrets.token_hex(12) for key in SECRET_KEYS}
    stack = ScratchStack(
        work_dir=REPO,
        config_dir=driver.config_file.parent,
        project=driver.project,
        name=f"day2-{run_id}",
        base=base,
        passwords=passwords,
    )
    try:
        stack.create()
        outputs = stack.up()
        mysql = App.from_outputs(outputs, "mysql")
        yield Scratch(
            stack=stack,
            nginx=App.from_outputs(outputs, "nginx"),
            mysql=mysql,
            app=Login(str(mysql.extra["app_user"]), passwords["mysqlAppPassword"]),
        )
    finally:
        stack.remove()


# --- what the drills observe --------------------------------------------------------------------------


def fewest_ready(recorder: PodRecorder) -> tuple[int, str]:
    """Replay the recorded pod events: the fewest Ready pods at any moment, and when (which event)."""
    ready = {uid: seen.ready for uid, seen in recorder.initial.items()}
    fewest, when = sum(ready.values()), "at the start"
    for event in recorder.snapshot():
        ready[event.uid] = event.ready and event.event != "DELETED"
        count = sum(ready.values())
        if count < fewest:
            fewest, when = count, f"after {event.event} {event.name} (event {event.seq})"
    return fewest, when


def rows(host: str, port: int, login: Login, database: str) -> set[int]:
    return {int(n) for (n,) in mysqldb.query(host, port, login, f"SELECT n FROM `{database}`.writes")}


def wait_replicated(kube: Kube, app: App, login: Login, database: str, wanted: set[int]) -> None:
    port = app.port("mysql")
    for ordinal in app.ordinals[1:]:
        host = app.dns(ordinal)

        def missing(host: str = host) -> set[int]:
            return wanted - rows(host, port, login, database)

        try:
            wait_until(missing, REPLICATION_S,
                       f"{app.pod(ordinal)} to have every acknowledged row", until=lambda missing: not missing,
                       ignore=DOWN)
        except AssertionError as error:
            status = mysqldb.replication_summary(mysqldb.replication_status(kube, app, ordinal))
            raise AssertionError(f"{error}; replica status: {status}") from None


def claims(kube: Kube, app: App) -> dict[str, Any]:
    items = kube.core.list_namespaced_persistent_volume_claim(app.namespace).items
    return {claim.metadata.name: claim for claim in items}


def write_marks(kube: Kube, app: App, mark: str) -> None:
    """A file in every nginx pod's volume, served back by nginx."""
    for pod in app.pods():
        exec_in_pod(kube, app.namespace, pod, ["sh", "-c", f"echo {mark}-{pod} > /usr/share/nginx/html/{mark}.txt"],
                    container="nginx")


def missing_marks(app: App, mark: str) -> list[str]:
    missing = []
    for ordinal in app.ordinals:
        body = http_get(app.dns(ordinal), app.port("web"), f"/{mark}.txt").strip()
        if body != f"{mark}-{app.pod(ordinal)}":
            missing.append(f"{app.pod(ordinal)} serves {body[:60]!r}")
    return missing


@pytest.fixture(scope="module")
def database(scratch: Scratch) -> str:
    """The application's database on the scratch stack, with a table of numbered writes made by the application."""
    name = str(scratch.mysql.extra["app_database"])
    port = scratch.mysql.port("mysql")
    primary = scratch.mysql.dns(scratch.mysql.first)
    wait_until(lambda: mysqldb.query(primary, port, scratch.app, f"CREATE TABLE `{name}`.writes (n INT PRIMARY KEY)"),
               120, "the scratch primary to accept the application's CREATE TABLE", until=lambda _: True, ignore=DOWN)
    return name


def recorders(kube: Kube, *apps: App) -> list[PodRecorder]:
    return [PodRecorder(kube, app.namespace, app.selector) for app in apps]


# --- the drills ---------------------------------------------------------------------------------------


def test_growing_the_volumes_of_a_live_stack_keeps_every_pod_serving_and_every_file_and_row(
    kube: Kube, scratch: Scratch, database: str
) -> None:
    nginx, mysql = scratch.nginx, scratch.mysql
    write_marks(kube, nginx, "before-growth")
    before = {app.key: {name: c.metadata.uid for name, c in claims(kube, app).items()} for app in (nginx, mysql)}
    key = scratch.stack.key
    started = time.monotonic()
    watched = recorders(kube, nginx, mysql)
    with watched[0], watched[1], Writer(mysql.dns(mysql.first), mysql.port("mysql"), scratch.app, database) as w:
        scratch.stack.set({key(app): {"storage": {"size": GROWN[app]}} for app in GROWN})
        scratch.stack.up()
        grown_s = time.monotonic() - started
        writes_after = w.more_within(5, 30.0)
    print(f"grew nginx to {GROWN['nginx']} and MySQL to {GROWN['mysql']} in {grown_s:.1f} s")
    for app, recorder in zip((nginx, mysql), watched, strict=True):
        fewest, when = fewest_ready(recorder)
        assert fewest >= 1, f"{app.key}: no pod was Ready {when}"
        assert not recorder.deletions(), f"{app.key}: pods deleted: {[e.name for e in recorder.deletions()]}"
        now = claims(kube, app)
        assert {n: c.metadata.uid for n, c in now.items()} == before[app.key], f"{app.key}: claims were replaced"
        small = {n: (c.status.capacity or {}).get("storage") for n, c in now.items()
                 if (c.status.capacity or {}).get("storage") != GROWN[app.key]}
        assert not small, f"{app.key}: claims that do not report {GROWN[app.key]}: {small}"
    assert not missing_marks(nginx, "before-growth")
    assert writes_after, f"the primary took no more writes after the change ({w.failures} failed attempts)"
    acked = w.numbers()
    lost = acked - rows(mysql.dns(mysql.first), mysql.port("mysql"), scratch.app, database)
    assert not lost, f"{len(lost)} acknowledged writes are missing on the primary"
    wait_replicated(kube, mysql, scratch.app, database, acked)
    changes = scratch.stack.preview().change_summary
    assert set(changes) <= {"same"}, f"the next preview is not empty: {changes}"


def test_a_smaller_volume_is_refused_at_preview_and_changes_nothing(kube: Kube, scratch: Scratch) -> None:
    nginx = scratch.nginx
    versions = {n: c.metadata.resource_version for n, c in claims(kube, nginx).items()}
    sts = kube.apps.read_namespaced_stateful_set(nginx.statefulset, nginx.namespace).metadata.resource_version
    change = {scratch.stack.key("nginx"): {"storage": {"size": "256Mi"}}}
    with pytest.raises(auto.errors.CommandError) as preview:
        scratch.stack.preview(change)
    assert "stateful:nginx.storage.size must not be smaller than the live claims" in str(preview.value)
    with pytest.raises(auto.errors.CommandError) as up:
        scratch.stack.up_with(change)
    assert "stateful:nginx.storage.size must not be smaller" in str(up.value)
    assert {n: c.metadata.resource_version for n, c in claims(kube, nginx).items()} == versions
    now = kube.apps.read_namespaced_stateful_set(nginx.statefulset, nginx.namespace).metadata.resource_version
    assert now == sts, "the refused up changed the StatefulSet"


def test_a_field_that_recreates_the_statefulset_keeps_its_pods_claims_and_data(kube: Kube, scratch: Scratch) -> None:
    nginx = scratch.nginx
    write_marks(kube, nginx, "before-policy")
    old = kube.apps.read_namespaced_stateful_set(nginx.statefulset, nginx.namespace)
    before = {n: c.metadata.uid for n, c in claims(kube, nginx).items()}
    (recorder,) = recorders(kube, nginx)
    with recorder:
        scratch.stack.set({scratch.stack.key("nginx"): {"podManagementPolicy": "Parallel"}})
        scratch.stack.up()
    new = kube.apps.read_namespaced_stateful_set(nginx.statefulset, nginx.namespace)
    assert new.metadata.uid != old.metadata.uid, "the StatefulSet was updated in place, not re-created"
    assert new.spec.pod_management_policy == "Parallel"
    assert not recorder.deletions(), f"pods deleted: {[e.name for e in recorder.deletions()]}"
    fewest, when = fewest_ready(recorder)
    assert fewest == nginx.replicas, f"a pod stopped being Ready {when}"
    assert {n: c.metadata.uid for n, c in claims(kube, nginx).items()} == before, "claims were replaced"
    owners = {p.metadata.name: [o.uid for o in p.metadata.owner_references or ()]
              for p in kube.core.list_namespaced_pod(nginx.namespace).items}
    assert all(uids == [new.metadata.uid] for uids in owners.values()), f"pods not adopted: {owners}"
    assert not missing_marks(nginx, "before-policy")


def test_rotating_every_mysql_password_changes_the_accounts_and_replication_keeps_running(
    kube: Kube, scratch: Scratch, database: str
) -> None:
    mysql = scratch.mysql
    port = mysql.port("mysql")
    primary = mysql.dns(mysql.first)
    old, old_root = scratch.app, scratch.stack.passwords["mysqlRootPassword"]
    rotated = {key: secrets.token_hex(12) for key in SECRET_KEYS}
    scratch.stack.set_passwords(rotated)
    new = Login(old.user, rotated["mysqlAppPassword"])
    started = time.monotonic()
    scratch.stack.up()
    print(f"rotated every password in {time.monotonic() - started:.1f} s")
    scratch.app = new
    wait_ready(kube, mysql.namespace, mysql.pods())
    for ordinal in mysql.ordinals:
        host = mysql.dns(ordinal)
        # A pod Ready a moment ago may not be in DNS yet (its endpoint is published after it is Ready).

        def answer(host: str = host) -> list[tuple[Any, ...]]:
            return mysqldb.query(host, port, new, "SELECT 1")

        wait_until(answer, 60,
                   f"{mysql.pod(ordinal)} to accept the application's new password by its DNS name",
                   until=lambda answer: answer == [(1,)], ignore=DOWN)
        with pytest.raises(pymysql.err.OperationalError) as refused:
            mysqldb.query(host, port, old, "SELECT 1")
        assert refused.value.args[0] == 1045, f"{mysql.pod(ordinal)}: the old application password: {refused.value}"
        assert mysqldb.root_password_works(kube, mysql, ordinal, rotated["mysqlRootPassword"]), (
            f"{mysql.pod(ordinal)} refuses root's new password through its socket")
        assert not mysqldb.root_password_works(kube, mysql, ordinal, old_root), (
            f"{mysql.pod(ordinal)} still takes root's old password")
    mysqldb.query(primary, port, new, f"INSERT INTO `{database}`.writes (n) VALUES (%s)", (10_000_000,))
    wait_replicated(kube, mysql, new, database, {10_000_000})
    for ordinal in mysql.ordinals[1:]:
        status = mysqldb.replication_status(kube, mysql, ordinal)
        assert mysqldb.replicating(status), f"{mysql.pod(ordinal)}: {mysqldb.replication_summary(status)}"
