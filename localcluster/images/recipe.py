"""An image as plain data: a :class:`Recipe` (Debian packages, files, accounts, dirs, script, config).

A recipe's hash, with the builder options that shape it, is its cache key: an image is rebuilt
only when its recipe or those options change.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass

from localcluster.images import oci

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


def oci_architecture() -> str:
    """Return the OCI architecture name of this machine."""
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
