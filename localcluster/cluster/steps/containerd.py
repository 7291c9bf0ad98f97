"""Step: each node's cgroups, CNI config and containerd; ``down`` stops them and reboot-cleans the node.

A stopped node keeps its disk (images, snapshots, kubelet dir) and loses what a reboot clears:
its mounts, pod network links and runtime state (:func:`clear_volatile`, also after a power cut).
"""

from __future__ import annotations

import shutil
import time

from localcluster import procs
from localcluster.cluster.host import certs, cgroups, mounts, network
from localcluster.cluster.runner import Context, NodeStep
from localcluster.cluster.spec import components, render
from localcluster.cluster.spec.components import Component
from localcluster.cluster.spec.layout import Node
from localcluster.progress import StepError, say


def clear_volatile(node: Node) -> None:
    """What a reboot clears on a stopped node: its mounts, pod network links and runtime state."""
    stuck = mounts.unmount_under(node.root)
    if stuck:
        raise StepError(f"{node.name}: could not unmount {', '.join(map(str, stuck[:5]))}")
    network.remove_node_links(node.bridge)
    if node.runtime_dir.exists():
        shutil.rmtree(node.runtime_dir)


class Containerd(NodeStep):
    """Every node's container runtime, in the node's system cgroup."""

    down_title = "containerd of every node"

    def up_phase(self, ctx: Context) -> str:
        """The phase title, with the node count."""
        return f"containerd on {len(ctx.layout.nodes)} node(s)"

    def node_components(self, ctx: Context, node: Node) -> list[Component]:
        """The node's containerd."""
        return [components.containerd(node)]

    def up(self, ctx: Context) -> None:
        """Prepare every node (cgroups, resolv.conf, CNI config), then start their containerds."""
        for node in ctx.layout.nodes:
            cgroups.ensure(node.system_cgroup)
            node.cni_conf_dir.mkdir(parents=True, exist_ok=True)
            certs.write_private(node.cni_conf_dir / "10-stateful.conflist",
                                render.cni_conflist(node, ctx.pod_cidrs[node.name]))
            certs.write_private(node.resolv_conf, render.pod_resolv_conf())
        ctx.start_all(self.components(ctx))

    def stop_node(self, ctx: Context, node: Node) -> None:
        """Stop containerd, then whatever is left in the node's cgroup (shims); reboot-clean the node."""
        ctx.stop([c.name for c in self.node_components(ctx, node)])
        deadline = time.monotonic() + 15
        while (left := cgroups.pids_under(node.cgroup)) and time.monotonic() < deadline:
            procs.terminate(left, timeout=2)
        clear_volatile(node)
        problems = cgroups.remove(node.cgroup)
        if problems:
            say(f"    {node.name}: cgroups left: {'; '.join(problems[:3])}")
        sandboxes = node.containerd_root / "io.containerd.grpc.v1.cri" / "sandboxes"
        if sandboxes.is_dir():
            ctx.sandboxes |= {p.name for p in sandboxes.iterdir()}


STEP = Containerd()
