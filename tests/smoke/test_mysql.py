"""The MySQL primary and replicas behave as in "Run a Replicated Stateful Application" (checks M2-M10).

Servers are reached by their stable DNS names with pymysql: the primary by ``primary_dns``, each
replica by its pod's name. Every table lives in the database ``smoke_<run id>``, dropped at the end.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import pymysql
import pytest

from harness import mysqldb
from harness.kube import Kube, claim_names, delete_pods, delete_pvcs, get_pod, pod_uids, wait_ready, wait_rolled_out
from harness.mysqldb import Login
from harness.stack import App, StackDriver
from harness.waits import wait_until

pytestmark = pytest.mark.cluster

#: Longest a replica may take to show a row committed on the primary.
REPLICATION_S = 60.0
#: Longest a restarted or new server may take to accept connections once its pod exists.
SERVER_S = 300.0
#: Errors that mean "this server is not there (yet)".
DOWN = (pymysql.err.OperationalError, pymysql.err.InterfaceError, OSError)


def _port(app: App) -> int:
    return app.port("mysql")


def _primary(app: App) -> str:
    return str(app.extra.get("primary_dns") or app.dns(app.first))


@pytest.fixture(scope="module")
def root(kube: Kube, mysql: App) -> Login:
    """The root account, password from the stack's Secret."""
    return mysqldb.root_login(kube, mysql)


@pytest.fixture(scope="module")
def db(mysql: App, root: Login, run_id: str) -> Iterator[str]:
    """This run's database with one table ``items(id, note)``, created on the primary; dropped at the end."""
    name = f"smoke_{run_id}"
    primary = _primary(mysql)
    mysqldb.query(primary, _port(mysql), root, f"CREATE DATABASE `{name}`")
    mysqldb.query(primary, _port(mysql), root,
                  f"CREATE TABLE `{name}`.items (id INT PRIMARY KEY, note VARCHAR(64) NOT NULL)")
    yield name
    wait_until(lambda: mysqldb.query(primary, _port(mysql), root, f"DROP DATABASE IF EXISTS `{name}`"),
               SERVER_S, f"the primary to drop {name}", until=lambda _: True, ignore=DOWN)


def _insert(app: App, login: Login, db: str, rows: dict[int, str]) -> None:
    conn = mysqldb.connect(_primary(app), _port(app), login, database=db)
    try:
        with conn.cursor() as cur:
            for key, note in rows.items():
                cur.execute("INSERT INTO items (id, note) VALUES (%s, %s)", (key, note))
    finally:
        conn.close()


def _rows(host: str, app: App, login: Login, db: str) -> dict[int, str]:
    return {int(k): str(v) for k, v in mysqldb.query(host, _port(app), login, f"SELECT id, note FROM `{db}`.items")}


def _wait_replicated(app: App, ordinal: int, login: Login, db: str, *, rows: dict[int, str], timeout: float) -> None:
    host = app.dns(ordinal)

    def missing() -> dict[int, str]:
        have = _rows(host, app, login, db)
        return {k: v for k, v in rows.items() if have.get(k) != v}

    try:
        wait_until(missing, timeout, f"{app.pod(ordinal)} to replicate {len(rows)} rows",
                   until=lambda m: not m, ignore=(*DOWN, pymysql.err.ProgrammingError))
    except AssertionError as err:
        try:
            status = mysqldb.replication_summary(mysqldb.replication_status(host, _port(app), login))
        except DOWN as down:
            status = f"unreachable: {down}"
        raise AssertionError(f"{app.pod(ordinal)} does not replicate from the primary: {err}; "
                             f"replica status: {status}") from None


# --- identity and replication -----------------------------------------------------------------------


def test_every_server_id_is_100_plus_its_ordinal(mysql: App, root: Login) -> None:
    wrong = []
    for i in mysql.ordinals:
        ((server_id,),) = mysqldb.query(mysql.dns(i), _port(mysql), root, "SELECT @@server_id")
        if int(server_id) != 100 + i:
            wrong.append(f"{mysql.pod(i)} reports server_id {server_id}, expected {100 + i}")
    assert not wrong, "; ".join(wrong)


def test_a_row_written_on_the_primary_is_read_on_every_replica(mysql: App, root: Login, db: str, run_id: str) -> None:
    row = {1: f"hello-{run_id}"}
    _insert(mysql, root, db, row)
    for i in mysql.ordinals[1:]:
        _wait_replicated(mysql, i, root, db, rows=row, timeout=REPLICATION_S)


@pytest.fixture(scope="module")
def app_user(mysql: App, root: Login, db: str, run_id: str) -> Iterator[Login]:
    """An application account (no admin rights) allowed to write this run's database, made on the primary."""
    login = Login(f"smoke_{run_id}", secrets.token_hex(12))
    primary = _primary(mysql)
    mysqldb.query(primary, _port(mysql), root, "CREATE USER %s@'%%' IDENTIFIED BY %s", (login.user, login.password))
    mysqldb.query(primary, _port(mysql), root, f"GRANT SELECT, INSERT ON `{db}`.* TO %s@'%%'", (login.user,))
    yield login
    wait_until(lambda: mysqldb.query(primary, _port(mysql), root, "DROP USER IF EXISTS %s@'%%'", (login.user,)),
               SERVER_S, f"the primary to drop user {login.user}", until=lambda _: True, ignore=DOWN)


def _accepted_replica_writes(mysql: App, login: Login, db: str) -> list[str]:
    """Try one INSERT on every replica as ``login``; describe each that was not refused as read-only."""
    accepted = []
    for i in mysql.ordinals[1:]:
        host = mysql.dns(i)
        wait_until(partial(mysqldb.query, host, _port(mysql), login, "SELECT 1"), REPLICATION_S,
                   f"{mysql.pod(i)} to accept logins of {login.user}", ignore=(pymysql.err.OperationalError,))
        try:
            mysqldb.query(host, _port(mysql), login, f"INSERT INTO `{db}`.items (id, note) VALUES (%s, %s)",
                          (1000 + i, "written-on-a-replica"))
        except pymysql.err.MySQLError as err:
            code = err.args[0] if err.args else None
            if code not in mysqldb.READ_ONLY_ERRORS:
                accepted.append(f"{mysql.pod(i)} refused {login.user}'s write, but not as read-only: {err}")
        else:
            accepted.append(f"{mysql.pod(i)} accepted a write from {login.user}")
    return accepted


def test_every_replica_refuses_writes_from_an_application_account(
    mysql: App, db: str, app_user: Login
) -> None:
    accepted = _accepted_replica_writes(mysql, app_user, db)
    assert not accepted, "; ".join(accepted)


def test_every_replica_refuses_writes_from_root(mysql: App, root: Login, db: str) -> None:
    accepted = _accepted_replica_writes(mysql, root, db)
    assert not accepted, "; ".join(accepted)


# --- losing the primary ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PrimaryRestart:
    """Rows committed before the primary's pod was deleted, and the pod that came back."""

    committed: dict[int, str]
    returned: Any


@pytest.fixture(scope="module")
def primary_restart(kube: Kube, mysql: App, root: Login, db: str, run_id: str) -> PrimaryRestart:
    """Commit rows on the primary, delete its pod, and wait until it serves again."""
    committed = {100 + n: f"before-restart-{run_id}-{n}" for n in range(20)}
    _insert(mysql, root, db, committed)
    name = mysql.pod(mysql.first)
    old_uid = pod_uids(kube, mysql.namespace, [name])[name]
    delete_pods(kube, mysql.namespace, [name])
    returned = wait_ready(kube, mysql.namespace, [name], not_uids={name: old_uid})[name]
    wait_until(lambda: mysqldb.query(_primary(mysql), _port(mysql), root, "SELECT 1"), SERVER_S,
               f"the recreated {name} to accept connections at {_primary(mysql)}", ignore=DOWN)
    return PrimaryRestart(committed=committed, returned=returned)


def test_deleting_the_primary_pod_keeps_every_committed_row(
    mysql: App, root: Login, db: str, primary_restart: PrimaryRestart
) -> None:
    have = _rows(_primary(mysql), mysql, root, db)
    lost = sorted(k for k, v in primary_restart.committed.items() if have.get(k) != v)
    assert not lost, f"{len(lost)} committed rows are missing on the primary after its pod was deleted: ids {lost}"


def test_replication_resumes_after_the_primary_pod_returns(
    mysql: App, root: Login, db: str, run_id: str, primary_restart: PrimaryRestart
) -> None:
    after = {200: f"after-restart-{run_id}"}
    _insert(mysql, root, db, after)
    for i in mysql.ordinals[1:]:
        _wait_replicated(mysql, i, root, db, rows={**primary_restart.committed, **after}, timeout=REPLICATION_S * 2)


# --- scaling the replicas -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ScaledUp:
    """The rows on the primary before scaling, and the new replica's ordinal."""

    existing: dict[int, str]
    ordinal: int


@pytest.fixture(scope="class")
def scaled_up(kube: Kube, mysql: App, root: Login, db: str, driver: StackDriver) -> Iterator[ScaledUp]:
    """One more replica through config and ``pulumi up``; back to the stack's config afterwards."""
    wait_rolled_out(kube, mysql.namespace, mysql.statefulset)
    _insert(mysql, root, db, {300: f"before-scale-{db}"})
    existing = _rows(_primary(mysql), mysql, root, db)
    new = mysql.ordinals[-1] + 1
    try:
        with driver.changed_config({driver.key(mysql): {"replicas": mysql.replicas + 1}}):
            wait_ready(kube, mysql.namespace, [mysql.pod(new)])
            yield ScaledUp(existing=existing, ordinal=new)
    finally:
        delete_pvcs(kube, mysql.namespace, claim_names(kube, mysql.namespace, mysql.statefulset, [new]))


class TestAddingAReplica:
    """One more replica through ``pulumi up``, then the stack's own config deployed again."""

    def test_a_new_replica_starts_with_the_existing_data(
        self, mysql: App, root: Login, db: str, scaled_up: ScaledUp
    ) -> None:
        _wait_replicated(mysql, scaled_up.ordinal, root, db, rows=scaled_up.existing, timeout=SERVER_S)

    def test_a_new_replica_gets_server_id_100_plus_its_ordinal(
        self, mysql: App, root: Login, scaled_up: ScaledUp
    ) -> None:
        host = mysql.dns(scaled_up.ordinal)
        ((server_id,),) = wait_until(lambda: mysqldb.query(host, _port(mysql), root, "SELECT @@server_id"),
                                     SERVER_S, f"{mysql.pod(scaled_up.ordinal)} to accept connections", ignore=DOWN)
        assert int(server_id) == 100 + scaled_up.ordinal, (
            f"{mysql.pod(scaled_up.ordinal)} reports server_id {server_id}, expected {100 + scaled_up.ordinal}")


@dataclass(frozen=True)
class Returned:
    """A replica scaled away and back with its claim retained: the rows it must have, its init log."""

    existing: dict[int, str]
    ordinal: int
    init_log: str


@pytest.fixture(scope="class")
def returned(kube: Kube, mysql: App, root: Login, db: str, driver: StackDriver) -> Iterator[Returned]:
    """3 -> 4 -> 3 -> 4 through ``pulumi up``: rows written while the fourth replica was away; back to 3 after."""
    ns = mysql.namespace
    new = mysql.ordinals[-1] + 1
    more = {driver.key(mysql): {"replicas": mysql.replicas + 1}}
    wait_rolled_out(kube, ns, mysql.statefulset)
    try:
        driver.up_with(more)
        wait_ready(kube, ns, [mysql.pod(new)])
        _insert(mysql, root, db, {400: f"before-away-{db}"})
        _wait_replicated(mysql, new, root, db, rows={400: f"before-away-{db}"}, timeout=REPLICATION_S)
        driver.restore()
        wait_until(lambda: get_pod(kube, ns, mysql.pod(new)), SERVER_S, f"{mysql.pod(new)} to be gone",
                   until=lambda pod: pod is None)
        _insert(mysql, root, db, {401: f"while-away-{db}"})
        driver.up_with(more)
        wait_ready(kube, ns, [mysql.pod(new)])
        init_log = str(kube.core.read_namespaced_pod_log(mysql.pod(new), ns, container="init-data"))
        yield Returned(existing=_rows(_primary(mysql), mysql, root, db), ordinal=new, init_log=init_log)
    finally:
        if driver.changed:
            driver.restore()
        delete_pvcs(kube, ns, claim_names(kube, ns, mysql.statefulset, [new]))


class TestAReturningReplica:
    """A replica scaled away keeps its claim (whenScaled: Retain); scaled back, it resumes from its own data."""

    def test_a_returning_replica_starts_from_its_own_data_without_a_fresh_clone(self, returned: Returned) -> None:
        assert "the data directory is already initialized" in returned.init_log, (
            f"the returning replica did not start from its retained volume; its init-data log: {returned.init_log}")
        assert "cloning" not in returned.init_log, f"the returning replica cloned again: {returned.init_log}"

    def test_a_returning_replica_has_every_row_written_while_it_was_away(
        self, mysql: App, root: Login, db: str, returned: Returned
    ) -> None:
        _wait_replicated(mysql, returned.ordinal, root, db, rows=returned.existing, timeout=REPLICATION_S)
