"""The cluster's images, one recipe each; their files are under ``files/<image>/``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from localcluster.images.recipe import REGISTRY, SUITE, Account, Dir, File, Recipe
from localcluster.progress import StepError

FILES = Path(__file__).resolve().parent / "files"


def text_file(name: str, path: str, mode: int = 0o644) -> File:
    """Return the file ``localcluster/images/files/<name>`` as an image file at ``path``."""
    return File(path=path, text=(FILES / name).read_text(), mode=mode)


PAUSE = Recipe(
    name=f"{REGISTRY}/pause:3.10",
    files=(File(path="/pause", text=(FILES / "pause" / "pause.c").read_text(), mode=0o755, compile_c=True),),
    user="65535:65535",
    entrypoint=("/pause",),
)

NGINX = Recipe(
    name=f"{REGISTRY}/nginx:1.22",
    packages=("nginx-light", "bash", "coreutils", "curl"),
    accounts=(Account(name="nginx", uid=101),),
    # Like the official image: workers run as nginx, logs go to the console, the default site
    # serves /usr/share/nginx/html. Deployments bring their own nginx.conf.
    script="\n".join((
        "sed -i 's/^user www-data;/user nginx;/' /etc/nginx/nginx.conf",
        "sed -i 's#root /var/www/html;#root /usr/share/nginx/html;#' /etc/nginx/sites-available/default",
        "ln -sf /dev/stdout /var/log/nginx/access.log",
        "ln -sf /dev/stderr /var/log/nginx/error.log",
    )),
    dirs=(Dir(path="/usr/share/nginx/html", owner=0), Dir(path="/var/cache/nginx", owner=101)),
    cmd=("nginx", "-g", "daemon off;"),
    stop_signal="SIGQUIT",
    ports=("80/tcp",),
)

ZOOKEEPER = Recipe(
    name=f"{REGISTRY}/zookeeper:3.8",
    # Not Debian's `zookeeper` package: it depends on the desktop JRE (+262 MB).
    packages=("openjdk-17-jre-headless", "libzookeeper-java", "bash", "coreutils", "procps"),
    files=(
        text_file("zookeeper/zkEnv.sh", "/usr/local/bin/zkEnv.sh"),
        text_file("zookeeper/zkServer.sh", "/usr/local/bin/zkServer.sh", 0o755),
        text_file("zookeeper/zkCli.sh", "/usr/local/bin/zkCli.sh", 0o755),
        text_file("zookeeper/zoo.cfg", "/conf/zoo.cfg"),
    ),
    accounts=(Account(name="zookeeper", uid=1000),),
    dirs=tuple(Dir(path=p, owner=1000) for p in ("/conf", "/data", "/datalog", "/logs")),
    user="1000:1000",
    env=("ZOO_CONF_DIR=/conf", "ZOO_DATA_DIR=/data", "ZOO_DATA_LOG_DIR=/datalog", "ZOO_LOG_DIR=/logs",
         "ZOOCFGDIR=/conf"),
    cmd=("zkServer.sh", "start-foreground"),
    ports=("2181/tcp", "2888/tcp", "3888/tcp", "8080/tcp"),
)

MARIADB = Recipe(
    name=f"{REGISTRY}/mariadb:10.11",
    packages=("mariadb-server", "mariadb-client", "mariadb-backup", "socat", "bash", "coreutils", "procps"),
    accounts=(Account(name="mysql", uid=999, shell="/bin/false"),),
    # As the official image: no datadir from the postinst (113 MB), no bind-address/log/user lines
    # in Debian's configs (mariadb.conf.d is read after conf.d and would win), no reverse DNS.
    script="\n".join((
        "find /var/lib/mysql -mindepth 1 -delete",
        r"find /etc/mysql -name '*.cnf' -exec sed -Ei 's/^(bind-address|log|user\s)/#&/' {} +",
        r"printf '[mariadb]\nhost-cache-size=0\nskip-name-resolve\n' > /etc/mysql/conf.d/05-skipcache.cnf",
    )),
    dirs=(Dir(path="/var/lib/mysql", owner=999, mode=0o1777), Dir(path="/run/mysqld", owner=999, mode=0o1777),
          Dir(path="/etc/mysql/conf.d", owner=0)),
    user="999:999",
    cmd=("mariadbd",),
    ports=("3306/tcp",),
)

TOOLBOX = Recipe(
    name=f"{REGISTRY}/toolbox:{SUITE}",
    packages=("bash", "coreutils", "bind9-dnsutils", "curl", "iproute2", "netcat-openbsd", "procps"),
    user="65534:65534",
    # Idle until deleted, and exit at once on SIGTERM (a bare `sleep` as PID 1 ignores it).
    cmd=("bash", "-c", "trap 'exit 0' TERM INT; sleep infinity & wait"),
)

RECIPES: tuple[Recipe, ...] = (PAUSE, NGINX, ZOOKEEPER, MARIADB, TOOLBOX)
IMAGES: tuple[str, ...] = tuple(recipe.name for recipe in RECIPES)


def select(only: Sequence[str] = ()) -> list[Recipe]:
    """Recipes by full reference or short name (all when ``only`` is empty)."""
    if not only:
        return list(RECIPES)
    by_name = {r.name: r for r in RECIPES} | {r.short: r for r in RECIPES}
    unknown = [name for name in only if name not in by_name]
    if unknown:
        raise StepError(f"unknown image(s) {', '.join(unknown)}; known: {', '.join(sorted(by_name))}")
    return [by_name[name] for name in dict.fromkeys(only)]
