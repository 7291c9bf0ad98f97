"""An empty MySQL primary never serves while a replica holds the set's history; recovery brings the data back.

On a stack of its own (MySQL only: a primary and a replica): the application writes rows (its own
account and database, as the stack makes them), the primary's claim and
pod are deleted, so the primary comes back on a new, empty volume. It must refuse to initialize (its
init container fails, saying why and how to recover) and accept no connection; the replica keeps every
row. Then the documented recovery (``recoverEmptyPrimary: true``, ``pulumi up``, delete the refusing
pod) clones the primary
from the replica: every committed row is back and the replica replicates from it again.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest
from kubernetes.client.exceptions import ApiException

from harness import mysqldb
from harness.kube import Kube, get_pod, is_ready
from harness.mysqldb import Login
from harness.scratch import SECRET_KEYS, ScratchStack, base_config
from harness.stack import App, StackDriver
from harness.waits import holds_for, wait_until

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
DOWN = (pymysql.err.OperationalError, pymysql.err.InterfaceError, OSError)
ROWS = set(range(1, 21))


@pytest.fixture(scope="module")
def scratch(driver: StackDriver, run_id: str) -> Iterator[tuple[ScratchStack, App, Login]]:
    """MySQL alone (a primary and one replica) on a stack of its own, destroyed afterwards; its application login."""
    namespaces = {"nginx": None, "zookeeper": None, "mysql": f"rec-{run_id}-db"}
    base = base_config(driver.settings(), driver.project, namespaces)
    base[f"{driver.project}:mysql"]["replicas"] = 2
    passwords = {key: secrets.token_hex(12) for key in SECRET_KEYS}
    stack = ScratchStack(work_dir=REPO, config_dir=driver.config_file.parent, project=driver.project,
                         name=f"day2-rec-{run_id}", base=base, passwords=passwords)
    try:
        stack.create()
        outputs = stack.up()
        mysql = App.from_outputs(outputs, "mysql")
        yield stack, mysql, Login(str(mysql.extra["app_user"]), passwords["mysqlAppPassword"])
    finally:
        stack.remove()


def _table(app: App) -> str:
    return f"`{app.extra['app_database']}`.items"


def _rows(host: str, app: App, login: Login) -> set[int]:
    return {int(n) for (n,) in mysqldb.query(host, app.port("mysql"), login, f"SELECT n FROM {_table(app)}")}


def _init_data_log(kube: Kube, app: App, pod: str) -> str:
    try:
        return str(kube.core.read_namespaced_pod_log(pod, app.namespace, container="init-data"))
    except ApiException:
        return ""


def test_an_empty_primary_refuses_to_serve_and_the_recovery_brings_back_every_row(
    kube: Kube, scratch: tuple[ScratchStack, App, Login]
) -> None:
    stack, mysql, app = scratch
    port = mysql.port("mysql")
    primary, replica = mysql.pods()
    primary_host, replica_host = mysql.dns(mysql.first), mysql.dns(mysql.first + 1)
    mysqldb.query(primary_host, port, app, f"CREATE TABLE {_table(mysql)} (n INT PRIMARY KEY)")
    for n in sorted(ROWS):
        mysqldb.query(primary_host, port, app, f"INSERT INTO {_table(mysql)} (n) VALUES (%s)", (n,))
    wait_until(lambda: _rows(replica_host, mysql, app), 60, f"{replica} to replicate the rows",
               until=lambda have: have == ROWS, ignore=DOWN)

    old = get_pod(kube, mysql.namespace, primary)
    kube.core.delete_namespaced_persistent_volume_claim(f"data-{primary}", mysql.namespace)
    kube.core.delete_namespaced_pod(primary, mysql.namespace)
    lost = time.monotonic()

    def refused() -> str:
        pod = get_pod(kube, mysql.namespace, primary)
        if pod is None or pod.metadata.uid == old.metadata.uid:
            return ""
        return _init_data_log(kube, mysql, primary)

    log = wait_until(refused, 180, f"the new {primary} to refuse an empty start",
                     until=lambda text: "REFUSING TO START AN EMPTY PRIMARY" in text)
    print(f"{primary} refused an empty start {time.monotonic() - lost:.1f} s after its claim was deleted")
    assert "recoverEmptyPrimary: true" in log, log

    def serving() -> bool:
        pod = get_pod(kube, mysql.namespace, primary)
        if pod is not None and is_ready(pod):
            return True
        try:
            mysqldb.query(primary_host, port, app, "SELECT 1")
        except DOWN:
            return False
        return True

    holds_for(serving, 15, f"{primary} not serving an empty database", until=lambda up: not up)
    assert _rows(replica_host, mysql, app) == ROWS, f"{replica} lost rows while the primary was empty"

    started = time.monotonic()
    stack.set({stack.key("mysql"): {"recoverEmptyPrimary": True}})
    stack.up()
    kube.core.delete_namespaced_pod(primary, mysql.namespace)  # restart it now, as the refusal says
    wait_until(lambda: get_pod(kube, mysql.namespace, primary), 300, f"{primary} to be Ready, recovered",
               until=lambda pod: pod is not None and is_ready(pod))
    print(f"recovered {primary} from {replica} in {time.monotonic() - started:.1f} s")
    # Ready a moment ago, so perhaps not in DNS yet: wait for its name, then compare.
    have = wait_until(lambda: _rows(primary_host, mysql, app), 60, f"the recovered {primary} to answer by name",
                      ignore=DOWN)
    assert have == ROWS, f"the recovered {primary} lacks rows: {sorted(ROWS - have)}"
    mysqldb.query(primary_host, port, app, f"INSERT INTO {_table(mysql)} (n) VALUES (%s)", (1000,))
    wait_until(lambda: _rows(replica_host, mysql, app), 60, f"{replica} to replicate from the recovered primary",
               until=lambda have: have == {*ROWS, 1000}, ignore=DOWN)
    status = mysqldb.replication_status(kube, mysql, mysql.first + 1)
    assert mysqldb.replicating(status), mysqldb.replication_summary(status)
