"""Build the Pulumi engine, the Kubernetes provider and Kubernetes itself from the Go module proxy.

Each component is built once into ``<cache>/builds/<name>-<version>-r<recipe>/bin`` and linked into
``<cache>/bin``. A build runs in a throwaway *wrapper module*: the upstream modules use local
``replace`` directives (``=> ../sdk``, ``=> ./staging/...``) that ``go install pkg@version`` refuses,
so the wrapper requires the released module and maps every local replace to the sibling module's
released version.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import stat
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localcluster import paths, versions
from localcluster.progress import StepError, capture, fail, phase, run, say

REPO = Path(__file__).resolve().parent.parent
APT_PACKAGES = (
    "gcc", "libc6-dev", "runc", "containernetworking-plugins", "iptables", "conntrack",
    "iproute2", "nftables", "mmdebstrap", "openssl", "socat", "ethtool", "kmod", "util-linux", "e2fsprogs",
)
GO_MIN = (1, 26)


def go_env() -> dict[str, str]:
    """Environment for every go command: module mode, local toolchain, static binaries."""
    env = dict(os.environ)
    env.update(GOFLAGS="-mod=mod", GOTOOLCHAIN="local", CGO_ENABLED="0")
    return env


@dataclass(frozen=True)
class Build:
    """What one component's build needs: its work dir, output dir and log."""

    name: str
    work: Path
    out: Path
    log: Path

    def go(self, *args: str, cwd: Path | None = None, extra_env: dict[str, str] | None = None) -> None:
        """Run a go command in the work dir, logged."""
        env = go_env()
        env.update(extra_env or {})
        run(["go", *args], log=self.log, step=f"{self.name}: go {args[0]}", cwd=cwd or self.work, env=env)


@dataclass(frozen=True)
class Component:
    """A pinned thing to build, the binaries it yields, and how."""

    name: str
    version: str
    binaries: tuple[str, ...]
    build: Callable[[Build], None]
    recipe: int = 1
    sources: Path | None = field(default=None)

    @property
    def key(self) -> str:
        """Cache key: name, version, recipe revision, and a hash of in-repo sources if any."""
        key = f"{self.name}-{self.version}-r{self.recipe}"
        if self.sources is not None:
            digest = hashlib.sha256()
            for f in sorted(p for p in self.sources.rglob("*") if p.is_file()):
                digest.update(f.relative_to(self.sources).as_posix().encode() + b"\0" + f.read_bytes())
            key += "-" + digest.hexdigest()[:12]
        return key

    def home(self) -> Path:
        """Where this version's binaries are kept."""
        return paths.cache_root() / "builds" / self.key

    def is_built(self) -> bool:
        """True when a complete build of this key is cached."""
        return (self.home() / ".complete").exists()


def module_info(module: str, version: str) -> dict[str, str]:
    """``go mod download -json`` of one module version (downloads it through the proxy)."""
    out = capture(["go", "mod", "download", "-json", f"{module}@{version}"], env=go_env())
    info: dict[str, str] = json.loads(out)
    if info.get("Error"):
        raise StepError(f"cannot download {module}@{version}: {info['Error']}")
    return info


def gomod(path: str) -> dict[str, Any]:
    """Parse a go.mod file with ``go mod edit -json``."""
    parsed: dict[str, Any] = json.loads(capture(["go", "mod", "edit", "-json", path], env=go_env()))
    return parsed


def write_wrapper(
    b: Build,
    *,
    main: str,
    version: str,
    local_version: Callable[[str], str],
    imports: Sequence[str],
) -> None:
    """Write a wrapper module requiring ``main@version`` with its local replaces mapped to releases."""
    if b.work.exists():
        shutil.rmtree(b.work)
    b.work.mkdir(parents=True)
    upstream = gomod(module_info(main, version)["GoMod"])
    go_line = str(upstream.get("Go") or "1.25.0")
    lines = ["module local/wrapper", "", f"go {go_line}", ""]
    for gd in upstream.get("Godebug") or []:
        lines.append(f"godebug {gd['Key']}={gd['Value']}")
    lines += ["", f"require {main} {version}", ""]
    for rep in upstream.get("Replace") or []:
        old, new = rep["Old"], rep["New"]
        target = str(new["Path"])
        if target.startswith("./FORBIDDEN") or "FORBIDDEN" in target:
            continue
        if target.startswith((".", "/")):
            lines.append(f"replace {old['Path']} => {old['Path']} {local_version(old['Path'])}")
        else:
            left = old["Path"] + (f" {old['Version']}" if old.get("Version") else "")
            lines.append(f"replace {left} => {target} {new['Version']}")
    for ex in upstream.get("Exclude") or []:
        lines.append(f"exclude {ex['Path']} {ex['Version']}")
    (b.work / "go.mod").write_text("\n".join(lines) + "\n")
    body = "\n".join(f'\t_ "{i}"' for i in imports)
    (b.work / "tools.go").write_text(f"//go:build tools\n\npackage tools\n\nimport (\n{body}\n)\n")
    b.go("mod", "tidy")


def go_build(b: Build, packages: Sequence[str], *, ldflags: str = "", tags: str = "") -> None:
    """Build main packages into the component's output dir."""
    args = ["build", "-trimpath", "-o", str(b.out) + "/"]
    if tags:
        args += ["-tags", tags]
    args += ["-ldflags", f"-s -w {ldflags}".strip()]
    b.go(*args, *packages)


# --- the components -----------------------------------------------------------------------------

def build_etcd(b: Build) -> None:
    """The etcd server: wrapper over server/v3 with its ../api, ../pkg, ../client replaces as releases."""
    v = f"v{versions.ETCD}"
    write_wrapper(b, main="go.etcd.io/etcd/server/v3", version=v, local_version=lambda _m: v,
                  imports=["go.etcd.io/etcd/server/v3"])
    b.go("build", "-trimpath", "-ldflags", "-s -w", "-o", str(b.out / "etcd"), "go.etcd.io/etcd/server/v3")


def build_containerd(b: Build) -> None:
    """The containerd 2.x with the CRI plugin, the runc v2 shim and ctr."""
    v = f"v{versions.CONTAINERD}"
    pkgs = [f"github.com/containerd/containerd/v2/cmd/{c}" for c in ("containerd", "containerd-shim-runc-v2", "ctr")]
    write_wrapper(b, main="github.com/containerd/containerd/v2", version=v, local_version=lambda _m: v, imports=pkgs)
    go_build(b, pkgs, ldflags=f"-X github.com/containerd/containerd/v2/version.Version={v}")


def build_coredns(b: Build) -> None:
    """CoreDNS with its committed plugin list (kubernetes plugin included)."""
    v = f"v{versions.COREDNS}"
    write_wrapper(b, main="github.com/coredns/coredns", version=v, local_version=lambda _m: v,
                  imports=["github.com/coredns/coredns"])
    b.go("build", "-trimpath", "-ldflags", "-s -w", "-o", str(b.out / "coredns"), "github.com/coredns/coredns")


K8S_CMDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl")


def build_kubernetes(b: Build) -> None:
    """Kubernetes server binaries and kubectl, version-stamped so /version reports the release."""
    v = f"v{versions.KUBERNETES}"
    staging = "v0." + versions.KUBERNETES.split(".", 1)[1]
    pkgs = [f"k8s.io/kubernetes/cmd/{c}" for c in K8S_CMDS]
    write_wrapper(b, main="k8s.io/kubernetes", version=v, local_version=lambda _m: staging, imports=pkgs)
    built = json.loads(Path(module_info("k8s.io/kubernetes", v)["Info"]).read_text())["Time"]
    minor = versions.KUBERNETES.split(".")[1]
    ld = []
    for p in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        ld += [f"-X {p}.gitVersion={v}", f"-X {p}.gitMajor=1", f"-X {p}.gitMinor={minor}",
               f"-X {p}.gitTreeState=clean", f"-X {p}.buildDate={built}"]
    go_build(b, pkgs, ldflags=" ".join(ld))


def build_pulumi(b: Build) -> None:
    """The Pulumi CLI (engine), stamped so ``pulumi version`` prints the release."""
    v = f"v{versions.PULUMI_CLI}"
    write_wrapper(b, main="github.com/pulumi/pulumi/pkg/v3", version=v, local_version=lambda _m: v,
                  imports=["github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"])
    go_build(b, ["github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"], tags="osusergo,grpcnotrace",
             ldflags=f"-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version={v}")


def build_language_host(b: Build) -> None:
    """Our Python language host (source in this repo) and the SDK's exec shim it runs programs with."""
    if b.work.exists():
        shutil.rmtree(b.work)
    shutil.copytree(REPO / "localcluster" / "langhost", b.work)
    b.go("mod", "tidy")
    v = f"v{versions.PULUMI_SDK}"
    b.go("build", "-trimpath", "-tags", "osusergo,grpcnotrace", "-ldflags",
         f"-s -w -X main.version={v}", "-o", str(b.out / "pulumi-language-python"), ".")
    sdk = Path(module_info("github.com/pulumi/pulumi/sdk/v3", v)["Dir"])
    for script in ("cmd/pulumi-language-python-exec", "dist/pulumi-resource-pulumi-python"):
        target = b.out / Path(script).name
        shutil.copyfile(sdk / "python" / script, target)
        target.chmod(0o755)


def build_provider(b: Build) -> None:
    """pulumi-resource-kubernetes: copy the module, generate its embedded schema, build."""
    if b.work.exists():
        shutil.rmtree(b.work)
    provider = "github.com/pulumi/pulumi-kubernetes/provider/v4"
    src = Path(module_info(provider, versions.PULUMI_KUBERNETES_SOURCE)["Dir"])
    shutil.copytree(src, b.work)
    for p in [b.work, *b.work.rglob("*")]:
        p.chmod(p.stat().st_mode | stat.S_IWUSR)
    sdk = "github.com/pulumi/pulumi-kubernetes/sdk/v4"
    b.go("mod", "edit", f"-replace={sdk}={sdk}@{versions.PULUMI_KUBERNETES_SDK_GO}")
    b.go("mod", "tidy")
    cmd = b.work / "cmd" / "pulumi-resource-kubernetes"
    b.go("run", "generate.go", cwd=cmd, extra_env={"VERSION": versions.PULUMI_KUBERNETES})
    go_build(b, ["./cmd/pulumi-resource-kubernetes"],
             ldflags=f"-X {provider}/pkg/version.Version={versions.PULUMI_KUBERNETES}")


COMPONENTS: tuple[Component, ...] = (
    Component("etcd", versions.ETCD, ("etcd",), build_etcd),
    Component("containerd", versions.CONTAINERD, ("containerd", "containerd-shim-runc-v2", "ctr"), build_containerd),
    Component("kubernetes", versions.KUBERNETES, K8S_CMDS, build_kubernetes),
    Component("coredns", versions.COREDNS, ("coredns",), build_coredns),
    Component("pulumi", versions.PULUMI_CLI, ("pulumi",), build_pulumi),
    Component("pulumi-language-python", versions.PULUMI_SDK,
              ("pulumi-language-python", "pulumi-language-python-exec", "pulumi-resource-pulumi-python"),
              build_language_host, sources=REPO / "localcluster" / "langhost"),
    Component("pulumi-resource-kubernetes", versions.PULUMI_KUBERNETES, ("pulumi-resource-kubernetes",),
              build_provider),
)


# --- orchestration ------------------------------------------------------------------------------

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


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: ``python -m localcluster.toolchain [--only NAME ...]``."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", action="append", default=[], help="build only these components")
    ap.add_argument("--skip-apt", action="store_true", help="do not install Debian packages")
    args = ap.parse_args(argv)
    with phase("toolchain"):
        if not args.skip_apt:
            ensure_apt()
        check_go()
        chosen = [c for c in COMPONENTS if not args.only or c.name in args.only]
        for c in chosen:
            state = "cached" if c.is_built() else "to build"
            say(f"    {c.name:28} {c.version:10} {state}")
        try:
            for c in chosen:
                build_component(c)
            if all(c.is_built() for c in COMPONENTS if c.name.startswith("pulumi")):
                link_language_host_beside_cli()
                install_provider_plugin()
        except StepError as err:
            fail(str(err))


if __name__ == "__main__":
    main()
