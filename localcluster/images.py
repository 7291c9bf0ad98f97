"""The cluster's container images, built from Debian packages on this machine (no registry needed).

Every image is a :class:`Recipe`, plain data: Debian packages, files to add, fixed-id accounts,
owned directories, a short shell script, and the image config (user, env, entrypoint, cmd). One
builder turns a recipe into an OCI image-layout tar under ``<cache>/images/``, named by a hash of
the recipe, so an image is rebuilt only when its recipe (or this builder's options) changes:

1. stage the recipe's files (C sources are compiled with ``gcc -static``);
2. make a one-layer rootfs tar: ``mmdebstrap --variant=minbase`` with the host's Debian mirrors,
   or, for an image without packages, just the staged files;
3. wrap the layer in an OCI layout (:mod:`localcluster.oci`).

Load an archive into a node's containerd with ``ctr -n k8s.io images import <archive>``; the image
is named from the archive's ``io.containerd.image.name`` annotation.

Run ``python3 -m localcluster.images [--only NAME] [--force]``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from localcluster import oci, paths
from localcluster.progress import StepError, fail, phase, run, say

FILES = Path(__file__).resolve().parent / "imagefiles"
SUITE = "bookworm"
REGISTRY = "stateful.local"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BUILDER_REVISION = 1  # bump when the builder changes what it produces for an unchanged recipe

# Slim Debian rootfs: no recommends, no man pages, docs or translations. /usr/share/man/man1 must
# exist anyway: the JRE's postinst links its man pages there and fails without the directory.
# mmdebstrap would empty /run after the customize hook, removing dirs a recipe needs (/run/mysqld);
# the customize script empties it itself, before it creates the recipe's dirs.
MMDEBSTRAP_OPTIONS = (
    "--variant=minbase",
    "--mode=root",
    "--format=tar",
    "--skip=cleanup/run",
    '--aptopt=APT::Install-Recommends "false"',
    '--aptopt=APT::Install-Suggests "false"',
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
    "--dpkgopt=path-include=/usr/share/locale/locale.alias",
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-include=/usr/share/doc/*/copyright",
    "--dpkgopt=path-exclude=/usr/share/info/*",
    '--setup-hook=mkdir -p "$1/usr/share/man/man1"',
)


# --- recipes as data ---------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class File:
    """A file added to an image: literal text, or C source compiled to a static binary at ``path``."""

    path: str
    text: str
    mode: int = 0o644
    compile_c: bool = False


@dataclass(frozen=True, kw_only=True)
class Account:
    """A system user with a same-numbered group, created before any package is installed."""

    name: str
    uid: int
    home: str = "/nonexistent"
    shell: str = "/usr/sbin/nologin"


@dataclass(frozen=True, kw_only=True)
class Dir:
    """A directory that must exist with this owner (uid = gid) and mode."""

    path: str
    owner: int
    mode: int = 0o755


@dataclass(frozen=True, kw_only=True)
class Recipe:
    """Everything that defines one image; its hash is the image's cache key."""

    name: str
    packages: tuple[str, ...] = ()
    files: tuple[File, ...] = ()
    accounts: tuple[Account, ...] = ()
    dirs: tuple[Dir, ...] = ()
    script: str = ""
    user: str = ""
    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    workdir: str = "/"
    stop_signal: str = ""
    ports: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Reject recipes the builder cannot honour, naming the field."""
        oci.split_reference(self.name)
        for path in [f.path for f in self.files] + [d.path for d in self.dirs] + [self.workdir]:
            if not path.startswith("/"):
                raise ValueError(f"{self.name}: path {path!r} must be absolute")
        if self.script and not self.packages:
            raise ValueError(f"{self.name}: script needs a Debian rootfs (packages)")
        if self.accounts and not self.packages:
            raise ValueError(f"{self.name}: accounts need a Debian rootfs (packages)")
        for entry in self.env:
            if "=" not in entry or entry.startswith("PATH="):
                raise ValueError(f"{self.name}: env entry {entry!r} must be NAME=value (PATH is fixed)")

    @property
    def short(self) -> str:
        """Last path element of the repository, e.g. ``nginx``: used for logs and file names."""
        return oci.split_reference(self.name)[0].rsplit("/", 1)[-1]

    @property
    def key(self) -> str:
        """Hash of the recipe and the builder options that shape it."""
        payload: dict[str, object] = {"recipe": dataclasses.asdict(self), "path": PATH_ENV, "builder": BUILDER_REVISION}
        if self.packages:
            payload |= {"suite": SUITE, "mmdebstrap": MMDEBSTRAP_OPTIONS}
        return hashlib.sha256(oci.canonical_json(payload)).hexdigest()[:16]

    def image_config(self) -> oci.ImageConfig:
        """Return the OCI runtime config of this image."""
        return oci.ImageConfig(
            user=self.user, env=(PATH_ENV, *self.env), entrypoint=self.entrypoint, cmd=self.cmd,
            workdir=self.workdir, stop_signal=self.stop_signal, ports=self.ports,
            architecture=oci_architecture(),
        )


def text_file(name: str, path: str, mode: int = 0o644) -> File:
    """Return the file ``localcluster/imagefiles/<name>`` as an image file at ``path``."""
    return File(path=path, text=(FILES / name).read_text(), mode=mode)


PAUSE = Recipe(
    name=f"{REGISTRY}/pause:3.10",
    files=(File(path="/pause", text=(FILES / "pause.c").read_text(), mode=0o755, compile_c=True),),
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
        text_file("zkEnv.sh", "/usr/local/bin/zkEnv.sh"),
        text_file("zkServer.sh", "/usr/local/bin/zkServer.sh", 0o755),
        text_file("zkCli.sh", "/usr/local/bin/zkCli.sh", 0o755),
        text_file("zoo.cfg", "/conf/zoo.cfg"),
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


@dataclass(frozen=True, kw_only=True)
class ImageArchive:
    """A built image: its full reference, the OCI archive to import, and its manifest digest."""

    name: str
    path: Path
    digest: str


# --- host facts --------------------------------------------------------------------------------

def oci_architecture() -> str:
    """Return the OCI architecture name of this machine."""
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)


def host_codename(os_release: Path = Path("/etc/os-release")) -> str:
    """Return the host's Debian codename, whose mirror entries are reused for the images' suite."""
    for line in os_release.read_text().splitlines():
        key, _, value = line.partition("=")
        if key == "VERSION_CODENAME":
            return value.strip().strip('"')
    raise StepError(f"no VERSION_CODENAME in {os_release}: cannot find the host's Debian mirrors")


def _one_line_entries(text: str) -> Iterator[tuple[str, str, tuple[str, ...]]]:
    """(uri, suite, components) of ``deb`` lines in sources.list format."""
    for raw in text.splitlines():
        words = raw.split("#", 1)[0].split()
        if len(words) > 1 and words[1].startswith("["):  # options: deb [signed-by=… arch=…] uri …
            end = next((i for i, word in enumerate(words) if word.endswith("]")), len(words) - 1)
            words = [words[0], *words[end + 1:]]
        if len(words) >= 4 and words[0] == "deb":
            yield words[1], words[2], tuple(words[3:])


def _deb822_entries(text: str) -> Iterator[tuple[str, str, tuple[str, ...]]]:
    """(uri, suite, components) of ``Types: deb`` stanzas in deb822 ``.sources`` format."""
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        last = ""
        for line in stanza.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if line[0].isspace() and last:
                fields[last] += " " + line.strip()
                continue
            last, _, value = line.partition(":")
            last = last.strip().lower()
            fields[last] = value.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").lower() == "no":
            continue
        components = tuple(fields.get("components", "").split())
        for uri in fields.get("uris", "").split():
            for suite in fields.get("suites", "").split():
                yield uri, suite, components


def debian_sources(sources: Iterable[tuple[str, str]], codename: str, suite: str = SUITE) -> list[str]:
    """One-line ``deb`` entries for ``suite`` from the host's apt sources (``(file name, text)``).

    Keeps the host's entries for its own release (``codename``, ``-updates``, ``-security``) that
    carry ``main``, renamed to ``suite``; third-party repositories are left out.
    """
    wanted = {codename: suite, f"{codename}-updates": f"{suite}-updates",
              f"{codename}-security": f"{suite}-security"}
    found: list[str] = []
    for name, text in sources:
        entries = _deb822_entries(text) if name.endswith(".sources") else _one_line_entries(text)
        for uri, host_suite, components in entries:
            line = f"deb {uri} {wanted.get(host_suite, '')} main"
            if host_suite in wanted and "main" in components and line not in found:
                found.append(line)
    return found


def host_sources(apt_dir: Path = Path("/etc/apt")) -> list[str]:
    """Return the Debian mirror entries for mmdebstrap, taken from this machine's apt sources."""
    files = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*.list")),
             *sorted((apt_dir / "sources.list.d").glob("*.sources"))]
    found = debian_sources(((f.name, f.read_text()) for f in files if f.is_file()), host_codename())
    if not found:
        raise StepError(f"no Debian 'main' entries for the host's release in {apt_dir}: cannot build images")
    return found


# --- the builder -------------------------------------------------------------------------------

def images_dir() -> Path:
    """Where built archives are cached."""
    return paths.cache_root() / "images"


def archive_path(recipe: Recipe) -> Path:
    """Return where the archive of this exact recipe is kept."""
    tag = oci.split_reference(recipe.name)[1]
    return images_dir() / f"{recipe.short}-{tag}-{recipe.key}.oci.tar"


def _sidecar(archive: Path) -> Path:
    return archive.with_name(archive.name.removesuffix(".tar") + ".json")


def cached(recipe: Recipe) -> ImageArchive | None:
    """Return the archive of this recipe if it is complete (its sidecar is written last)."""
    archive = archive_path(recipe)
    try:
        meta = json.loads(_sidecar(archive).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if not archive.is_file():
        return None
    return ImageArchive(name=recipe.name, path=archive, digest=str(meta["digest"]))


def accounts_script(accounts: Sequence[Account]) -> str:
    """Shell run after the essential packages: add accounts with fixed ids before any postinst."""
    lines = ['set -eu', 'root="$1"']
    for a in accounts:
        lines += [
            f"if grep -q -e '^{a.name}:' -e '^[^:]*:[^:]*:{a.uid}:' \"$root/etc/passwd\" \"$root/etc/group\"; then"
            f" echo 'account {a.name} or id {a.uid} already taken' >&2; exit 1; fi",
            f"echo '{a.name}:x:{a.uid}:{a.uid}::{a.home}:{a.shell}' >> \"$root/etc/passwd\"",
            f"echo '{a.name}:x:{a.uid}:' >> \"$root/etc/group\"",
            f"if [ -e \"$root/etc/shadow\" ]; then echo '{a.name}:*:::::::' >> \"$root/etc/shadow\"; fi",
            f"if [ -e \"$root/etc/gshadow\" ]; then echo '{a.name}:!::' >> \"$root/etc/gshadow\"; fi",
        ]
    return "\n".join(lines) + "\n"


def customize_script(recipe: Recipe, overlay: Path) -> str:
    """Shell run on the finished rootfs: add files, run the recipe script, set dirs, clean up."""
    lines = ["set -eu", 'root="$1"']
    if recipe.files:
        lines.append(f'cp -a {shlex.quote(str(overlay))}/. "$root/"')
    if recipe.script:
        lines.append(f'chroot "$root" /bin/sh -euc {shlex.quote(recipe.script)}')
    lines.append('find "$root/run" -mindepth 1 -maxdepth 1 ! -name lock -exec rm -rf --one-file-system {} +')
    for d in recipe.dirs:
        target = shlex.quote(d.path.lstrip("/"))
        lines.append(f'mkdir -p "$root/"{target} && chown {d.owner}:{d.owner} "$root/"{target}'
                     f' && chmod {d.mode:o} "$root/"{target}')
    lines += [
        # mmdebstrap copies the host's identity and resolver into the rootfs; the runtime provides them.
        'rm -f "$root/etc/hostname" "$root/etc/resolv.conf"',
        "printf '127.0.0.1\\tlocalhost\\n::1\\tlocalhost ip6-localhost ip6-loopback\\n' > \"$root/etc/hosts\"",
        'rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/log/apt/*',
        'rm -f "$root"/var/log/dpkg.log "$root"/var/log/alternatives.log "$root"/var/cache/debconf/*-old',
    ]
    return "\n".join(lines) + "\n"


def mmdebstrap_argv(recipe: Recipe, *, work: Path, out: Path, sources: Sequence[str]) -> list[str]:
    """Return the mmdebstrap command for a recipe whose hook scripts are in ``work``."""
    argv = ["mmdebstrap", *MMDEBSTRAP_OPTIONS]
    if recipe.accounts:
        argv.append(f'--essential-hook=sh {shlex.quote(str(work / "accounts.sh"))} "$1"')
    argv.append(f'--customize-hook=sh {shlex.quote(str(work / "customize.sh"))} "$1"')
    argv += [f"--include={','.join(recipe.packages)}", SUITE, str(out), *sources]
    return argv


def stage_files(recipe: Recipe, overlay: Path, log: Path) -> None:
    """Write the recipe's files under ``overlay`` (compiling C sources), with their modes."""
    for f in recipe.files:
        target = overlay / f.path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if f.compile_c:
            source = target.with_name(target.name + ".c")
            source.write_text(f.text)
            run(["gcc", "-Os", "-static", "-s", "-Wall", "-Werror", "-o", target, source], log=log,
                step=f"{recipe.name}: compile {f.path}")
            source.unlink()
        else:
            target.write_text(f.text)
        target.chmod(f.mode)


def debian_layer(recipe: Recipe, *, work: Path, overlay: Path, out: Path, log: Path) -> None:
    """Build the rootfs tar with mmdebstrap from the host's Debian mirrors."""
    (work / "accounts.sh").write_text(accounts_script(recipe.accounts))
    (work / "customize.sh").write_text(customize_script(recipe, overlay))
    argv = mmdebstrap_argv(recipe, work=work, out=out, sources=host_sources())
    env = {**os.environ, "TMPDIR": str(work)}
    run(argv, log=log, step=f"{recipe.name}: mmdebstrap", env=env)


def remove_tree(path: Path) -> None:
    """Delete a work tree, but never while something is mounted below it (a crashed mmdebstrap)."""
    prefix = f"{path.resolve()}/"
    with Path("/proc/self/mountinfo").open() as mountinfo:
        mounted = [f.split()[4] for f in mountinfo if f"{f.split()[4]}/".startswith(prefix)]
    if mounted:
        raise StepError(f"still mounted under {path}: {', '.join(mounted[:3])}; run `umount -R` on them and retry")
    shutil.rmtree(path, ignore_errors=True)


def build_one(recipe: Recipe) -> ImageArchive:
    """Build one image's archive (unconditionally) and record it in the cache."""
    log = paths.cache_root() / "logs" / f"image-{recipe.short}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"# {recipe.name} (recipe {recipe.key})\n")
    work = paths.cache_root() / "work" / "images" / recipe.short
    remove_tree(work)
    (work / "overlay").mkdir(parents=True)
    layer = work / "layer.tar"
    stage_files(recipe, work / "overlay", log)
    if recipe.packages:
        debian_layer(recipe, work=work, overlay=work / "overlay", out=layer, log=log)
        history = f"mmdebstrap {SUITE} --include={','.join(recipe.packages)} (recipe {recipe.key})"
    else:
        oci.tar_tree(work / "overlay", layer)
        history = f"static files {', '.join(f.path for f in recipe.files)} (recipe {recipe.key})"
    archive = archive_path(recipe)
    archive.parent.mkdir(parents=True, exist_ok=True)
    manifest = oci.write_archive(archive, reference=recipe.name, layer=layer,
                                 config=recipe.image_config(), history=[history])
    meta = {"name": recipe.name, "digest": manifest.digest, "recipe": recipe.key}
    _sidecar(archive).write_text(json.dumps(meta, indent=2) + "\n")
    remove_tree(work)
    prune(recipe)
    say(f"{recipe.name}: {archive.stat().st_size / 1e6:.0f} MB, {manifest.digest[:19]}")
    return ImageArchive(name=recipe.name, path=archive, digest=manifest.digest)


def prune(recipe: Recipe) -> None:
    """Delete archives of older recipes of the same image."""
    current = archive_path(recipe)
    for sidecar in images_dir().glob(f"{recipe.short}-*.oci.json"):
        archive = sidecar.with_name(sidecar.name.removesuffix(".json") + ".tar")
        if archive == current:
            continue
        with contextlib.suppress(FileNotFoundError, json.JSONDecodeError, KeyError):
            if json.loads(sidecar.read_text())["name"] == recipe.name:
                archive.unlink(missing_ok=True)
                sidecar.unlink()


@contextlib.contextmanager
def build_lock() -> Iterator[None]:
    """Serialize builds across processes (a second caller waits, then finds the cache filled)."""
    images_dir().mkdir(parents=True, exist_ok=True)
    with (images_dir() / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def select(only: Sequence[str] = ()) -> list[Recipe]:
    """Recipes by full reference or short name (all when ``only`` is empty)."""
    if not only:
        return list(RECIPES)
    by_name = {r.name: r for r in RECIPES} | {r.short: r for r in RECIPES}
    unknown = [name for name in only if name not in by_name]
    if unknown:
        raise StepError(f"unknown image(s) {', '.join(unknown)}; known: {', '.join(sorted(by_name))}")
    return [by_name[name] for name in dict.fromkeys(only)]


def build_images(only: Sequence[str] = (), *, force: bool = False) -> list[ImageArchive]:
    """Build every missing image (or those named in ``only``) and return all their archives."""
    recipes = select(only)
    done = {r.name: a for r in recipes if not force and (a := cached(r)) is not None}
    if len(done) == len(recipes):
        return [done[r.name] for r in recipes]
    with build_lock():
        for recipe in recipes:
            archive = None if force else cached(recipe)
            if archive is None:
                with phase(f"image {recipe.name}"):
                    archive = build_one(recipe)
            done[recipe.name] = archive
    return [done[r.name] for r in recipes]


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: build the missing images and list the archives."""
    parser = argparse.ArgumentParser(prog="python3 -m localcluster.images",
                                     description="Build the cluster's container images that are missing.")
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help="build only this image (short name or full reference); repeatable")
    parser.add_argument("--force", action="store_true", help="rebuild even if the archive is cached")
    args = parser.parse_args(argv)
    try:
        with phase("images"):
            archives = build_images(args.only, force=args.force)
    except (StepError, subprocess.SubprocessError, OSError) as error:
        fail(str(error))
        return
    for archive in archives:
        say(f"{archive.name:32} {archive.path}")


if __name__ == "__main__":
    main()
