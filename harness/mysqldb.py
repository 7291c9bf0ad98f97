"""Talking to the MySQL (or MariaDB) servers by their stable DNS names with pymysql."""

from __future__ import annotations

import base64
import itertools
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pymysql

from .kube import Kube
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


def root_login(kube: Kube, app: App) -> Login:
    """The root account, its password read from the Secret the stack output names."""
    return Login("root", secret_value(kube, app, "root_password_key"))


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


def replication_status(host: str, port: int, login: Login) -> dict[str, Any]:
    """The replica's status row (``SHOW REPLICA STATUS``, or ``SHOW SLAVE STATUS`` on older servers)."""
    conn = connect(host, port, login)
    try:
        with conn.cursor(pymysql.cursors.DictCursor) as cur:
            try:
                cur.execute("SHOW REPLICA STATUS")
            except pymysql.err.ProgrammingError:
                cur.execute("SHOW SLAVE STATUS")
            row = cur.fetchone()
            return dict(row) if row else {}
    finally:
        conn.close()


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


@contextmanager
def writes_database(app: App, login: Login, name: str) -> Iterator[str]:
    """Database ``name`` with the table ``writes (n INT PRIMARY KEY)`` on the primary; dropped afterwards."""
    primary, port = app.dns(app.first), app.port("mysql")
    query(primary, port, login, f"CREATE DATABASE `{name}`")
    query(primary, port, login, f"CREATE TABLE `{name}`.writes (n INT PRIMARY KEY)")
    try:
        yield name
    finally:
        wait_until(lambda: query(primary, port, login, f"DROP DATABASE IF EXISTS `{name}`"), 300,
                   f"the primary to drop {name}", until=lambda _: True, ignore=DOWN)
