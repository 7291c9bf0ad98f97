"""What the toolchain builds: each pinned component, the binaries it yields, and how it is built.

A component's cache key is its name, version and recipe revision (plus a hash of in-repo sources,
for the language host): ``<cache>/builds/<key>/bin``. Bump a version in ``localcluster.versions``
or a ``recipe`` here and the key changes, so it is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from localcluster import paths, versions
from localcluster.toolchain.gobuild import Build, go_build, module_info, write_wrapper

#: The Go sources of our Python language host (``langhost/``), built by this toolchain.
LANGHOST = Path(__file__).resolve().parent / "langhost"


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
    shutil.copytree(LANGHOST, b.work)
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
              build_language_host, sources=LANGHOST),
    Component("pulumi-resource-kubernetes", versions.PULUMI_KUBERNETES, ("pulumi-resource-kubernetes",),
              build_provider),
)
