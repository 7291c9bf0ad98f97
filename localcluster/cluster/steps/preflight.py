"""Before ``up`` changes anything: root, the built binaries and the host tools are there."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from localcluster.cluster.runner import Context
from localcluster.cluster.spec import components
from localcluster.progress import fail

BINARIES = (
    "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy",
    "kubectl", "containerd", "containerd-shim-runc-v2", "ctr", "coredns",
)
HOST_TOOLS = ("runc", "iptables", "ip6tables", "ip", "conntrack", "mount", "umount")
CNI_PLUGINS = (Path("/usr/lib/cni/bridge"), Path("/usr/lib/cni/host-local"), Path("/usr/lib/cni/loopback"))


def check(ctx: Context) -> None:
    """Fail early, with a fix, when something the cluster needs is missing; make the state dirs."""
    if os.geteuid() != 0:
        fail("the local cluster needs root (network devices, mounts, cgroups)")
    missing = [b for b in BINARIES if not os.access(components.binary(b), os.X_OK)]
    if missing:
        fail(f"missing binaries in the toolchain cache: {', '.join(missing)}; run `make toolchain`")
    tools = [t for t in HOST_TOOLS if shutil.which(t, path=ctx.env["PATH"]) is None]
    tools += [str(p) for p in CNI_PLUGINS if not p.exists()]
    if tools:
        fail(f"missing host tools: {', '.join(tools)}; run `make toolchain` (it installs the apt packages)")
    layout = ctx.layout
    for directory in (layout.logs, layout.run, layout.config, layout.kubeconfigs, layout.volumes):
        directory.mkdir(parents=True, exist_ok=True)
