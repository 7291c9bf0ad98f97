"""Talking to the MySQL (or MariaDB) servers: clients by their stable DNS names, the DBA inside the pods.

Root logs in only through a pod's socket, so what a DBA does (replication status, ``STOP REPLICA``,
accounts for a drill) runs in the server's container as ``kubectl exec`` would (:func:`admin_rows`).
Clients log in over the network with the application account from the stack (:func:`app_login`) or
with a drill's own account and database (:func:`drill_database`).
"""

from __future__ import annotations

import base64
import itertools
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pymysql
from kubernetes.client.exceptions import ApiException

from .kube import Kube, exec_in_pod
from .stack import App
from .waits import wait_until

#: Server errors that mean "this server is read-only" (ER_OPTION_PREVENTS_STATEMENT, and the
#: read-only-transaction error some versions give instead).
READ_ONLY_ERRORS = frozenset({1290, 1792, 1836})


@dataclass(frozen=True)
class Login:
    """A MySQL account."""

    user: str
    password: str


def secret_value(kube: Kube, app: App, key_output: str) -> str:
    """A value of the Secret the stack output names, its key named by the output's ``key_output``."""
    secret = app.extra.get("secret")
    if not isinstance(secret, dict):
        raise AssertionError(f"stack output {app.key!r} names no secret (got {secret!r})")
    obj = kube.core.read_namespaced_secret(secret["name"], app.namespace)
    key = secret[key_output]
    data = obj.data or {}
    if key not in data:
        raise AssertionError(f"Secret {secret['name']} has no key {key!r} (keys: {sorted(data)})")
    return base64.b64decode(data[key]).decode("utf-8")


def root_password(kube: Kube, app: App) -> str:
    """Root's password (it logs in only through a pod's socket), read from the Secret the stack output names."""
    return secret_value(kube, app, "root_password_key")


def app_login(kube: Kube, app: App) -> Login:
    """The application account from the stack config, its password read from the Secret."""
    return Login(str(app.extra["app_user"]), secret_value(kube, app, "app_password_key"))


#: The server's container, and its client run as root through the socket (lib.sh's ``client``).
SERVER_CONTAINER = "mysql"
_ADMIN = 'source /scripts/lib.sh && client --batch --connect-timeout=3 -e "$1"'


_BATCH_ESCAPES = {"n": "\n", "t": "\t", "0": "\0", "\\": "\\"}


def _batch_value(field: str) -> str | None:
    """One field of the client's ``--batch`` output: ``NULL`` is None, its backslash escapes undone."""
    if field == "NULL":
        return None
    out, chars = [], iter(field)
    for char in chars:
        out.append(_BATCH_ESCAPES.get(next(chars, ""), "") if char == "\\" else char)
    return "".join(out)


def admin_rows(kube: Kube, app: App, ordinal: int, sql: str, *, timeout: float = 30.0) -> list[dict[str, str | None]]:
    """Run ``sql`` (one result set at most) as root inside member ``ordinal``, through its socket; the rows.

    Fails (AssertionError) when the statement fails; the server's message is in the error.
    """
    out = exec_in_pod(kube, app.namespace, app.pod(ordinal), ["bash", "-c", _ADMIN, "admin", sql],
                      container=SERVER_CONTAINER, timeout=timeout)
    lines = out.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        return []
    header = lines[0].split("\t")
    return [dict(zip(header, map(_batch_value, line.split("\t")), strict=False)) for line in lines[1:]]


_ROOT_WITH = 'source /scripts/lib.sh && client --user=root --password="$1" --connect-timeout=3 -e "SELECT 1"'


def root_password_works(kube: Kube, app: App, ordinal: int, password: str) -> bool:
    """Whether member ``ordinal`` lets root in through its socket with ``password`` (root's only way in)."""
    try:
        exec_in_pod(kube, app.namespace, app.pod(ordinal), ["bash", "-c", _ROOT_WITH, "login", password],
                    container=SERVER_CONTAINER)
    except AssertionError as refused:
        if "Access denied" in str(refused):
            return False
        raise
    return True


#: Errors of an exec into a pod that is not there or not serving (yet).
ADMIN_DOWN = (AssertionError, ApiException)


def connect(host: str, port: int, login: Login, *, database: str | None = None) -> pymysql.Connection[Any]:
    """An autocommit connection with short timeouts, so a dead server fails fast."""
    return pymysql.connect(
        host=host,
        port=port,
        user=login.user,
        password=login.password,
        database=database,
        connect_timeout=5,
        read_timeout=15,
        write_timeout=15,
        autocommit=True,
    )


def query(host: str, port: int, login: Login, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run one statement on a fresh connection and return its rows."""
    conn = connect(host, port, login)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, tuple(args) if args else None)
            return [tuple(row) for row in cur.fetchall()]
    finally:
        conn.close()


def replication_status(kube: Kube, app: App, ordinal: int) -> dict[str, Any]:
    """Member ``ordinal``'s replica status row (``SHOW REPLICA STATUS``, ``SHOW SLAVE STATUS`` on MariaDB)."""
    statement = "SHOW SLAVE STATUS" if app.extra.get("flavor") == "mariadb" else "SHOW REPLICA STATUS"
    rows = admin_rows(kube, app, ordinal, statement)
    return dict(rows[0]) if rows else {}


def replicating(status: dict[str, Any]) -> bool:
    """Both replication threads running (MySQL 8 and MariaDB column names)."""
    io = status.get("Replica_IO_Running", status.get("Slave_IO_Running"))
    sql = status.get("Replica_SQL_Running", status.get("Slave_SQL_Running"))
    return io == "Yes" and sql == "Yes"


def replication_summary(status: dict[str, Any]) -> str:
    """The fields of a replica's status that explain a failure."""
    if not status:
        return "not configured as a replica"
    keys = ("Replica_IO_Running", "Slave_IO_Running", "Replica_SQL_Running", "Slave_SQL_Running",
            "Last_IO_Error", "Last_SQL_Error", "Source_Host", "Master_Host")
    return ", ".join(f"{k}={status[k]!r}" for k in keys if k in status and status[k] not in ("", None))


@dataclass
class Writer:
    """Inserts numbered rows into ``database.writes`` on ``host`` in a thread, reconnecting after errors.

    Remembers each acknowledged insert with the time of its acknowledgement, so a drill can check that no
    acknowledged commit is lost and measure the longest stretch without one. Short timeouts (connect 2 s,
    read and write 5 s) keep an outage measured as the server's, not the client's.
    """

    host: str
    port: int
    login: Login
    database: str
    acked: list[tuple[int, float]] = field(default_factory=list)  # (n, monotonic time of the ack)
    failures: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Writer:
        """Start writing."""
        self._thread = threading.Thread(target=self._run, name="mysql-writer", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop writing."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        number = 0
        conn: Any = None
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = pymysql.connect(host=self.host, port=self.port, user=self.login.user,
                                           password=self.login.password, database=self.database,
                                           connect_timeout=2, read_timeout=5, write_timeout=5, autocommit=True)
                number += 1
                with conn.cursor() as cur:
                    cur.execute("INSERT INTO writes (n) VALUES (%s)", (number,))
                self.acked.append((number, time.monotonic()))
            except pymysql.err.MySQLError:
                self.failures += 1
                conn = None
                self._stop.wait(0.1)
            self._stop.wait(0.02)

    def numbers(self) -> set[int]:
        """The acknowledged inserts."""
        return {n for n, _ in self.acked}

    def wait_for_writes(self, more: int, timeout: float, what: str) -> None:
        """Wait until ``more`` further inserts are acknowledged; fail naming ``what`` at the deadline."""
        target = len(self.acked) + more
        wait_until(lambda: len(self.acked), timeout, f"{more} more acknowledged writes {what}",
                   until=lambda n: n >= target)

    def more_within(self, more: int, timeout: float) -> bool:
        """Whether ``more`` further inserts are acknowledged within ``timeout`` s."""
        try:
            self.wait_for_writes(more, timeout, "")
        except AssertionError:
            return False
        return True

    def longest_gap(self) -> tuple[float, int]:
        """The longest time between two acknowledged inserts, and the first insert after it."""
        gap, after = 0.0, 0
        for (_, before), (n, at) in itertools.pairwise(self.acked):
            if at - before > gap:
                gap, after = at - before, n
        return gap, after


#: Errors that mean "this server is not there (yet)".
DOWN = (pymysql.err.OperationalError, pymysql.err.InterfaceError, OSError)


@dataclass(frozen=True)
class DrillDatabase:
    """A drill's own database and the account that owns it (on every member: both replicate)."""

    name: str
    login: Login


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


@contextmanager
def drill_database(kube: Kube, app: App, name: str, *tables: str) -> Iterator[DrillDatabase]:
    """Database ``name`` with ``tables`` (``"writes (n INT PRIMARY KEY)"``) and an account ``name`` owning it.

    Made by root inside the primary's pod, as a DBA would, and binary-logged so that the replicas get
    both; dropped afterwards (waiting for the primary if a drill left it restarting).
    """
    login = Login(name, secrets.token_hex(12))
    account = f"{_quoted(login.user)}@'%'"
    statements = [
        f"CREATE DATABASE IF NOT EXISTS `{name}`",
        *(f"CREATE TABLE IF NOT EXISTS `{name}`.{table}" for table in tables),
        f"CREATE USER IF NOT EXISTS {account} IDENTIFIED BY {_quoted(login.password)}",
        f"ALTER USER {account} IDENTIFIED BY {_quoted(login.password)}",
        f"GRANT ALL PRIVILEGES ON `{name.replace('_', chr(92) + '_')}`.* TO {account}",
    ]
    try:
        wait_until(lambda: admin_rows(kube, app, app.first, "; ".join(statements)), 120,
                   f"the primary to create the drill's database {name}", until=lambda _: True, ignore=ADMIN_DOWN)
        yield DrillDatabase(name, login)
    finally:
        cleanup = f"DROP USER IF EXISTS {_quoted(login.user)}@'%'; DROP DATABASE IF EXISTS `{name}`"
        wait_until(lambda: admin_rows(kube, app, app.first, cleanup), 300,
                   f"the primary to drop {name}", until=lambda _: True, ignore=ADMIN_DOWN)


@contextmanager
def writes_database(kube: Kube, app: App, name: str) -> Iterator[DrillDatabase]:
    """A drill database with the table ``writes (n INT PRIMARY KEY)`` for :class:`Writer`."""
    with drill_database(kube, app, name, "writes (n INT PRIMARY KEY)") as drill:
        yield drill
