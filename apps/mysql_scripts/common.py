"""What every MySQL script and option file shares: the flavor, its binaries, paths, ports and the renderer."""

from __future__ import annotations

import re
from enum import StrEnum


class MySQLFlavor(StrEnum):
    """Which server the image carries; it decides the binaries and the replication SQL."""

    MARIADB = "mariadb"
    MYSQL = "mysql"


MYSQL_PORT = 3306
BACKUP_PORT = 3307
SERVER_ID_OFFSET = 100
DATA_MOUNT = "/var/lib/mysql"
CONF_DIR = "/etc/mysql-stateful"
SCRIPTS_DIR = "/scripts"
RUN_DIR = "/run/mysqld"
READY_FILE = "/tmp/replication-ready"
#: The replication password that last connected a replica, kept on its volume (beside master.info, which
#: holds it too) so that a replica restarted with a rotated password can replicate until the primary has it.
LAST_PASSWORD_FILE = f"{DATA_MOUNT}/.replication-password"
#: Seconds without data or heartbeat after which a replica reconnects; also its connect timeout, so a
#: connect to a dead address gives up this fast. The primary's heartbeat comes every HEARTBEAT_S.
REPLICA_NET_TIMEOUT_S = 3
HEARTBEAT_S = 1
#: Connect attempts (one a second) before a replica gives up: the largest value every version takes,
#: 136 years (MariaDB's 0 is "forever" only in some versions, MDEV-36002).
RETRY_COUNT = 4294967295
DEFAULT_MAX_REPLICA_LAG_S = 30
#: The application's account and database (``stateful:mysql.appUser``, ``appDatabase``).
DEFAULT_APP_USER = "app"
DEFAULT_APP_DATABASE = "app"
#: Accounts the set makes for itself, and schemas the server owns: never the application's.
RESERVED_USERS = frozenset({"root", "repl", "clone", "mysql", "mariadb.sys", "mysql.sys", "mysql.session",
                            "mysql.infoschema", "PUBLIC"})
RESERVED_DATABASES = frozenset({"mysql", "information_schema", "performance_schema", "sys"})
INIT_FILE = f"{CONF_DIR}/init.sql"
_PLACEHOLDER = re.compile(r"@[A-Z_]+@")


_BINARIES = {
    MySQLFlavor.MARIADB: {"@SERVER@": "mariadbd", "@CLIENT@": "mariadb", "@ADMIN@": "mariadb-admin"},
    MySQLFlavor.MYSQL: {"@SERVER@": "mysqld", "@CLIENT@": "mysql", "@ADMIN@": "mysqladmin"},
}


def server_binary(flavor: MySQLFlavor) -> str:
    """The server executable of ``flavor``."""
    return _BINARIES[flavor]["@SERVER@"]


def render(template: str, flavor: MySQLFlavor, values: dict[str, str] | None = None) -> str:
    """``template`` with the flavor's binaries and ``values`` filled in; a leftover ``@PLACEHOLDER@`` fails."""
    text = template
    for token, value in {**_BINARIES[flavor], **(values or {})}.items():
        text = text.replace(token, value)
    leftover = _PLACEHOLDER.findall(text)
    if leftover:
        raise ValueError(f"unrendered placeholders: {leftover}")
    return text
