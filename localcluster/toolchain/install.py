"""Build what is missing, link it into ``<cache>/bin``, and install the provider plugin.

Also the host prerequisites: the Debian packages the toolchain and the cluster need, and Go.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from localcluster import paths, versions
from localcluster.progress import StepError, capture, fail, phase, run, say
from localcluster.toolchain.components import COMPONENTS, Component
from localcluster.toolchain.gobuild import Build, go_env

APT_PACKAGES = (
    "gcc", "libc6-dev", "runc", "containernetworking-plugins", "iptables", "conntrack",
    "iproute2", "nftables", "mmdebstrap", "openssl", "socat", "ethtool", "kmod", "util-linux", "e2fsprogs",
)
GO_MIN = (1, 26)


def ensure_apt() -> None:
    """Install the Debian packages the toolchain and the cluster need, if any is missing."""
    missing = [p for p in APT_PACKAGES if subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True, check=False,
    ).stdout.strip() != "install ok installed"]
    if not missing:
        return
    with phase(f"apt-get install {' '.join(missing)}"):
        log = paths.cache_root() / "logs" / "apt.log"
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        run(["apt-get", "update"], log=log, step="apt-get update", env=env)
        run(["apt-get", "install", "-y", "--no-install-recommends", *missing], log=log,
            step="apt-get install", env=env)


def check_go() -> None:
    """Fail early, with the reason, if the Go toolchain is missing or too old."""
    if shutil.which("go") is None:
        fail("the Go toolchain is required (go 1.26 or newer on PATH)")
    ver = capture(["go", "env", "GOVERSION"], env=go_env()).strip().removeprefix("go")
    major, minor = (int(x) for x in ver.split(".")[:2])
    if (major, minor) < GO_MIN:
        fail(f"go {ver} is too old: need go {GO_MIN[0]}.{GO_MIN[1]} or newer")


def build_component(c: Component) -> None:
    """Build one component unless its key is cached, then link its binaries into the bin dir."""
    home = c.home()
    if not c.is_built():
        with phase(f"build {c.name} {c.version}"):
            out = home / "bin"
            if home.exists():
                shutil.rmtree(home)
            out.mkdir(parents=True)
            b = Build(c.name, paths.cache_root() / "work" / c.key, out, paths.cache_root() / "logs" / f"{c.key}.log")
            b.log.unlink(missing_ok=True)
            say(f"    log: {b.log}")
            c.build(b)
            for name in c.binaries:
                if not (out / name).exists():
                    raise StepError(f"build {c.name}: expected binary {name} is missing; log: {b.log}")
            (home / ".complete").write_text(c.key + "\n")
            shutil.rmtree(b.work, ignore_errors=True)
            prune_other_builds(c)
    link = paths.bin_dir()
    link.mkdir(parents=True, exist_ok=True)
    for name in c.binaries:
        dst = link / name
        if dst.is_symlink() or dst.exists():
            dst.unlink()
        dst.symlink_to(home / "bin" / name)


def prune_other_builds(c: Component) -> None:
    """Remove cached builds of other versions or recipes of this component."""
    for old in home_parent(c).glob(f"{c.name}-*"):
        if old.name != c.key and old.name[len(c.name) + 1:][:1].isdigit():
            shutil.rmtree(old, ignore_errors=True)


def home_parent(c: Component) -> Path:
    """The directory holding every cached build."""
    return c.home().parent


def link_language_host_beside_cli() -> None:
    """Link the language host next to the real ``pulumi`` binary, where the engine looks first.

    Found only on PATH, the engine still uses it but warns on every run.
    """
    by_name = {c.name: c for c in COMPONENTS}
    cli_dir = by_name["pulumi"].home() / "bin"
    host = by_name["pulumi-language-python"]
    for name in host.binaries:
        dst = cli_dir / name
        if dst.is_symlink() or dst.exists():
            dst.unlink()
        dst.symlink_to(host.home() / "bin" / name)


def install_provider_plugin() -> None:
    """Install the provider into PULUMI_HOME so the engine never tries to download it."""
    v = versions.PULUMI_KUBERNETES
    plugin_dir = paths.pulumi_home() / "plugins" / f"resource-kubernetes-v{v}"
    partial = plugin_dir.parent / f"{plugin_dir.name}.partial"
    if (plugin_dir / "pulumi-resource-kubernetes").exists() and not partial.exists():
        return
    with phase(f"install provider plugin kubernetes v{v} into PULUMI_HOME"):
        env = dict(os.environ, PULUMI_HOME=str(paths.pulumi_home()), PULUMI_SKIP_UPDATE_CHECK="true")
        run([paths.bin_dir() / "pulumi", "plugin", "install", "resource", "kubernetes", f"v{v}",
             "--file", paths.bin_dir() / "pulumi-resource-kubernetes"],
            log=paths.cache_root() / "logs" / "plugin-install.log", step="pulumi plugin install", env=env)
