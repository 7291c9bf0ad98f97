"""MySQL/MariaDB, on the deployed servers: inserts on the primary and how soon each replica sees them.

Everything happens as the application account the stack creates (root logs in only through a pod's
socket), in a table ``bench_<uuid>`` of the application database that is dropped afterwards.
"""

from __future__ import annotations

import base64
import functools
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import pymysql

from harness.mysqldb import Login

from .kube import Kube, settled_members
from .report import Report
from .waits import wait_for

#: Whether a table exists (as the application account sees it): ``[database, table]``.
TABLE_EXISTS = "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s"


def quoted(name: str) -> str:
    """``name`` as a back-quoted SQL identifier."""
    return "`" + name.replace("`", "``") + "`"


def app_password(kube: Kube, app: Mapping[str, Any]) -> str:
    """The application account's password from the Secret that the stack output names."""
    secret = app["secret"]
    obj = kube.core.read_namespaced_secret(secret["name"], app["namespace"], _request_timeout=10)
    return base64.b64decode((obj.data or {})[secret["app_password_key"]]).decode("utf-8")


def mysql_connect(host: str, port: int, login: Login) -> Any:
    """An autocommit connection as ``login`` with short timeouts (``pymysql.Connection``)."""
    return pymysql.connect(host=host, port=port, user=login.user, password=login.password, connect_timeout=5,
                           read_timeout=10, write_timeout=10, autocommit=True)


def fetch(conn: Any, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run one statement and return its rows."""
    with conn.cursor() as cur:
        cur.execute(sql, tuple(args) or None)
        return [tuple(row) for row in cur.fetchall()]


def has_rows(conn: Any, sql: str, args: Sequence[Any] = ()) -> bool | None:
    """True if the query returns rows, else None (for ``wait_for``)."""
    return True if fetch(conn, sql, args) else None


def has_no_rows(conn: Any, sql: str, args: Sequence[Any] = ()) -> bool | None:
    """True if the query returns no rows, else None (for ``wait_for``)."""
    return None if fetch(conn, sql, args) else True


def drop_table(conn: Any, host: str, port: int, login: Login, table: str) -> None:
    """``DROP TABLE`` on the primary; if ``conn`` broke, once more on a fresh connection."""
    sql = f"DROP TABLE IF EXISTS {table}"
    try:
        fetch(conn, sql)
    except pymysql.err.Error:
        try:
            fresh = mysql_connect(host, port, login)
            try:
                fetch(fresh, sql)
            finally:
                fresh.close()
        except pymysql.err.Error as err:
            raise RuntimeError(f"could not drop the table {table} on {host}: {err}") from err


def bench_mysql(report: Report, kube: Kube, app: Mapping[str, Any], domain: str) -> None:
    """Inserts on the primary, and how soon each (Ready) replica sees them, in a table of its own."""
    members = settled_members(report, kube, app, domain, timeout=45.0)
    port = int(app["ports"]["mysql"])
    primary = str(app.get("primary_dns") or members[0])
    if primary not in members:
        raise RuntimeError(f"the primary {primary} is not Ready")
    replicas = [m for m in members if m != primary]
    login = Login(str(app["app_user"]), app_password(kube, app))
    db, name = str(app["app_database"]), f"bench_{uuid.uuid4().hex[:12]}"
    table = f"{quoted(db)}.{quoted(name)}"
    short = {host: host.split(".", 1)[0] for host in [primary, *replicas]}

    conns: dict[str, Any] = {}
    try:
        conns[primary] = mysql_connect(primary, port, login)
        for host in replicas:
            conns[host] = mysql_connect(host, port, login)
        fetch(conns[primary], f"CREATE TABLE {table} (id INT PRIMARY KEY, note VARCHAR(64))")
        for host in replicas:
            wait_for(functools.partial(has_rows, conns[host], TABLE_EXISTS, [db, name]), 30.0,
                     f"table {table} on {short[host]}")

        inserts: list[float] = []
        lags: dict[str, list[float]] = {host: [] for host in replicas}
        for i in range(1, 6):
            began = time.perf_counter()
            fetch(conns[primary], f"INSERT INTO {table} (id, note) VALUES (%s, %s)", [i, "bench"])
            acked = time.perf_counter()
            inserts.append(acked - began)
            pending = list(replicas)

            def poll(i: int = i, pending: list[str] = pending, acked: float = acked) -> bool | None:
                for host in list(pending):
                    if fetch(conns[host], f"SELECT 1 FROM {table} WHERE id = %s", [i]):
                        lags[host].append(time.perf_counter() - acked)
                        pending.remove(host)
                return True if not pending else None

            wait_for(poll, 10.0, f"row {i} on {', '.join(short[h] for h in pending)}", interval=0.002)
        report.add(f"mysql: autocommit insert on {short[primary]}", inserts, goal=0.050)
        for host in replicas:
            report.add(f"mysql: replication lag to {short[host]}", lags[host], goal=1.0,
                       detail="insert acked on primary -> row visible")
    finally:
        try:
            if primary in conns:
                drop_table(conns[primary], primary, port, login, table)
                for host in replicas:
                    if host in conns:
                        wait_for(functools.partial(has_no_rows, conns[host], TABLE_EXISTS, [db, name]), 30.0,
                                 f"{table} dropped on {short[host]}", ignore=(pymysql.err.Error,))
        finally:
            for conn in conns.values():
                conn.close()
