"""The MySQL primary and replicas behave as in "Run a Replicated Stateful Application" (checks M2-M10).

Servers are reached by their stable DNS names with pymysql: the primary by ``primary_dns``, each
replica by its pod's name, the application through the Services ``mysql-primary`` and ``mysql-read``.
Drill tables live in the database ``smoke_<run id>`` (owned by an account of the same name, both made
by root inside the primary's pod) or in a table ``smoke_<run id>`` of the application's database;
both are dropped at the end. Root itself logs in only through a pod's socket.
"""

from __future__ import annotations

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
def drill(kube: Kube, mysql: App, run_id: str) -> Iterator[mysqldb.DrillDatabase]:
    """This run's database with one table ``items(id, note)`` and its owner; dropped at the end."""
    table = "items (id INT PRIMARY KEY, note VARCHAR(64) NOT NULL)"
    with mysqldb.drill_database(kube, mysql, f"smoke_{run_id}", table) as found:
        yield found


@pytest.fixture(scope="module")
def login(drill: mysqldb.DrillDatabase) -> Login:
    """The account that owns this run's database (no global privilege)."""
    return drill.login


@pytest.fixture(scope="module")
def db(drill: mysqldb.DrillDatabase) -> str:
    """This run's database."""
    return drill.name


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


def _wait_replicated(
    kube: Kube, app: App, ordinal: int, login: Login, db: str, *, rows: dict[int, str], timeout: float
) -> None:
    host = app.dns(ordinal)

    def missing() -> dict[int, str]:
        have = _rows(host, app, login, db)
        return {k: v for k, v in rows.items() if have.get(k) != v}

    try:
        wait_until(missing, timeout, f"{app.pod(ordinal)} to replicate {len(rows)} rows",
                   until=lambda m: not m, ignore=(*DOWN, pymysql.err.ProgrammingError))
    except AssertionError as err:
        try:
            status = mysqldb.replication_summary(mysqldb.replication_status(kube, app, ordinal))
        except mysqldb.ADMIN_DOWN as down:
            status = f"unreachable: {down}"
        raise AssertionError(f"{app.pod(ordinal)} does not replicate from the primary: {err}; "
                             f"replica status: {status}") from None


# --- identity and replication -----------------------------------------------------------------------


def test_every_server_id_is_100_plus_its_ordinal(mysql: App, login: Login) -> None:
    wrong = []
    for i in mysql.ordinals:
        ((server_id,),) = mysqldb.query(mysql.dns(i), _port(mysql), login, "SELECT @@server_id")
        if int(server_id) != 100 + i:
            wrong.append(f"{mysql.pod(i)} reports server_id {server_id}, expected {100 + i}")
    assert not wrong, "; ".join(wrong)


def test_a_row_written_on_the_primary_is_read_on_every_replica(
    kube: Kube, mysql: App, login: Login, db: str, run_id: str
) -> None:
    row = {1: f"hello-{run_id}"}
    _insert(mysql, login, db, row)
    for i in mysql.ordinals[1:]:
        _wait_replicated(kube, mysql, i, login, db, rows=row, timeout=REPLICATION_S)


# --- accounts: root only through the socket, the application through the Services ------------------------


def _service_dns(app: App, service: str) -> str:
    assert service in app.services, f"the stack has no Service {service} (Services: {sorted(app.services)})"
    return f"{service}.{app.namespace}.svc.{app.cluster_domain}"


def test_root_cannot_log_in_over_the_network_even_with_its_password(kube: Kube, mysql: App) -> None:
    root = Login("root", mysqldb.root_password(kube, mysql))
    hosts = [_service_dns(mysql, "mysql-primary"), _service_dns(mysql, "mysql-read"), *mysql.pod_dns]
    admitted = []
    for host in hosts:
        try:
            mysqldb.query(host, _port(mysql), root, "SELECT CURRENT_USER()")
        except pymysql.err.OperationalError as err:
            if err.args[0] not in {1045, 1130}:  # access denied; host not allowed
                admitted.append(f"{host}: refused, but not as a login: {err}")
        else:
            admitted.append(f"{host}: root logged in")
    assert not admitted, "; ".join(admitted)


@pytest.fixture(scope="module")
def app_login(kube: Kube, mysql: App) -> Login:
    """The application account from the stack config (its password from the Secret)."""
    return mysqldb.app_login(kube, mysql)


@pytest.fixture(scope="module")
def app_table(mysql: App, app_login: Login, run_id: str) -> Iterator[str]:
    """A table ``smoke_<run id>`` made by the application account in its database, through mysql-primary."""
    table = f"`{mysql.extra['app_database']}`.`smoke_{run_id}`"
    primary = _service_dns(mysql, "mysql-primary")
    wait_until(lambda: mysqldb.query(primary, _port(mysql), app_login,
                                     f"CREATE TABLE {table} (id INT PRIMARY KEY, note VARCHAR(64) NOT NULL)"),
               SERVER_S, f"mysql-primary to take {app_login.user}'s CREATE TABLE", until=lambda _: True, ignore=DOWN)
    yield table
    wait_until(lambda: mysqldb.query(primary, _port(mysql), app_login, f"DROP TABLE IF EXISTS {table}"),
               SERVER_S, f"mysql-primary to drop {table}", until=lambda _: True, ignore=DOWN)


#: Fresh connections through mysql-read: with three members behind it, all landing on one has odds 3 x (1/3)^30.
READS = 30


def test_the_application_writes_through_mysql_primary_and_reads_through_mysql_read_from_several_members(
    mysql: App, app_login: Login, app_table: str, run_id: str
) -> None:
    primary, read = _service_dns(mysql, "mysql-primary"), _service_dns(mysql, "mysql-read")
    ((written_on,),) = mysqldb.query(primary, _port(mysql), app_login, "SELECT @@hostname")
    assert written_on == mysql.pod(mysql.first), f"mysql-primary led to {written_on}, not {mysql.pod(mysql.first)}"
    mysqldb.query(primary, _port(mysql), app_login, f"INSERT INTO {app_table} (id, note) VALUES (1, %s)", (run_id,))

    def read_once() -> tuple[str, list[tuple[Any, ...]]]:
        conn = mysqldb.connect(read, _port(mysql), app_login)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT @@hostname")
                ((member,),) = cur.fetchall()
                cur.execute(f"SELECT note FROM {app_table} WHERE id = 1")
                return str(member), [tuple(row) for row in cur.fetchall()]
        finally:
            conn.close()

    members: dict[str, int] = {}
    for _ in range(READS):
        member, _ = wait_until(read_once, REPLICATION_S, "a read through mysql-read to see the row",
                                  until=lambda found: found[1] == [(run_id,)], ignore=DOWN)
        members[member] = members.get(member, 0) + 1
    assert len(members) >= 2, f"{READS} connections through mysql-read all reached {members}"
    print(f"{READS} reads through mysql-read: {members}")


def _accepted_replica_writes(mysql: App, login: Login, table: str) -> list[str]:
    """Try one INSERT into ``table`` on every replica as ``login``; describe each not refused as read-only."""
    accepted = []
    for i in mysql.ordinals[1:]:
        host = mysql.dns(i)
        wait_until(partial(mysqldb.query, host, _port(mysql), login, "SELECT 1"), REPLICATION_S,
                   f"{mysql.pod(i)} to accept logins of {login.user}", ignore=(pymysql.err.OperationalError,))
        try:
            mysqldb.query(host, _port(mysql), login, f"INSERT INTO {table} (id, note) VALUES (%s, %s)",
                          (1000 + i, "written-on-a-replica"))
        except pymysql.err.MySQLError as err:
            code = err.args[0] if err.args else None
            if code not in mysqldb.READ_ONLY_ERRORS:
                accepted.append(f"{mysql.pod(i)} refused {login.user}'s write, but not as read-only: {err}")
        else:
            accepted.append(f"{mysql.pod(i)} accepted a write from {login.user}")
    return accepted


def test_every_replica_refuses_writes_from_the_application_account(
    mysql: App, app_login: Login, app_table: str
) -> None:
    accepted = _accepted_replica_writes(mysql, app_login, app_table)
    assert not accepted, "; ".join(accepted)


def test_every_replica_refuses_writes_from_a_database_owner(mysql: App, login: Login, db: str) -> None:
    accepted = _accepted_replica_writes(mysql, login, f"`{db}`.items")
    assert not accepted, "; ".join(accepted)


# --- losing the primary ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PrimaryRestart:
    """Rows committed before the primary's pod was deleted, and the pod that came back."""

    committed: dict[int, str]
    returned: Any


@pytest.fixture(scope="module")
def primary_restart(kube: Kube, mysql: App, login: Login, db: str, run_id: str) -> PrimaryRestart:
    """Commit rows on the primary, delete its pod, and wait until it serves again."""
    committed = {100 + n: f"before-restart-{run_id}-{n}" for n in range(20)}
    _insert(mysql, login, db, committed)
    name = mysql.pod(mysql.first)
    old_uid = pod_uids(kube, mysql.namespace, [name])[name]
    delete_pods(kube, mysql.namespace, [name])
    returned = wait_ready(kube, mysql.namespace, [name], not_uids={name: old_uid})[name]
    wait_until(lambda: mysqldb.query(_primary(mysql), _port(mysql), login, "SELECT 1"), SERVER_S,
               f"the recreated {name} to accept connections at {_primary(mysql)}", ignore=DOWN)
    return PrimaryRestart(committed=committed, returned=returned)


def test_deleting_the_primary_pod_keeps_every_committed_row(
    mysql: App, login: Login, db: str, primary_restart: PrimaryRestart
) -> None:
    have = _rows(_primary(mysql), mysql, login, db)
    lost = sorted(k for k, v in primary_restart.committed.items() if have.get(k) != v)
    assert not lost, f"{len(lost)} committed rows are missing on the primary after its pod was deleted: ids {lost}"


def test_replication_resumes_after_the_primary_pod_returns(  # noqa: PLR0917 (pytest passes fixtures by name)
    kube: Kube, mysql: App, login: Login, db: str, run_id: str, primary_restart: PrimaryRestart
) -> None:
    after = {200: f"after-restart-{run_id}"}
    _insert(mysql, login, db, after)
    for i in mysql.ordinals[1:]:
        rows = {**primary_restart.committed, **after}
        _wait_replicated(kube, mysql, i, login, db, rows=rows, timeout=REPLICATION_S * 2)


# --- scaling the replicas -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ScaledUp:
    """The rows on the primary before scaling, and the new replica's ordinal."""

    existing: dict[int, str]
    ordinal: int


@pytest.fixture(scope="class")
def scaled_up(kube: Kube, mysql: App, login: Login, db: str, driver: StackDriver) -> Iterator[ScaledUp]:
    """One more replica through config and ``pulumi up``; back to the stack's config afterwards."""
    wait_rolled_out(kube, mysql.namespace, mysql.statefulset)
    _insert(mysql, login, db, {300: f"before-scale-{db}"})
    existing = _rows(_primary(mysql), mysql, login, db)
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
        self, kube: Kube, mysql: App, login: Login, db: str, scaled_up: ScaledUp
    ) -> None:
        _wait_replicated(kube, mysql, scaled_up.ordinal, login, db, rows=scaled_up.existing, timeout=SERVER_S)

    def test_a_new_replica_gets_server_id_100_plus_its_ordinal(
        self, mysql: App, login: Login, scaled_up: ScaledUp
    ) -> None:
        host = mysql.dns(scaled_up.ordinal)
        ((server_id,),) = wait_until(lambda: mysqldb.query(host, _port(mysql), login, "SELECT @@server_id"),
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
def returned(kube: Kube, mysql: App, login: Login, db: str, driver: StackDriver) -> Iterator[Returned]:
    """3 -> 4 -> 3 -> 4 through ``pulumi up``: rows written while the fourth replica was away; back to 3 after."""
    ns = mysql.namespace
    new = mysql.ordinals[-1] + 1
    more = {driver.key(mysql): {"replicas": mysql.replicas + 1}}
    wait_rolled_out(kube, ns, mysql.statefulset)
    try:
        driver.up_with(more)
        wait_ready(kube, ns, [mysql.pod(new)])
        _insert(mysql, login, db, {400: f"before-away-{db}"})
        _wait_replicated(kube, mysql, new, login, db, rows={400: f"before-away-{db}"}, timeout=REPLICATION_S)
        driver.restore()
        wait_until(lambda: get_pod(kube, ns, mysql.pod(new)), SERVER_S, f"{mysql.pod(new)} to be gone",
                   until=lambda pod: pod is None)
        _insert(mysql, login, db, {401: f"while-away-{db}"})
        driver.up_with(more)
        wait_ready(kube, ns, [mysql.pod(new)])
        init_log = str(kube.core.read_namespaced_pod_log(mysql.pod(new), ns, container="init-data"))
        yield Returned(existing=_rows(_primary(mysql), mysql, login, db), ordinal=new, init_log=init_log)
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
        self, kube: Kube, mysql: App, login: Login, db: str, returned: Returned
    ) -> None:
        _wait_replicated(kube, mysql, returned.ordinal, login, db, rows=returned.existing, timeout=REPLICATION_S)
