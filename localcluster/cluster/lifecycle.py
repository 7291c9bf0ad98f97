"""``up``, ``down``, ``clean`` and a node's power cut, walking :data:`steps.STEPS`.

``up`` checks the host, stops nodes beyond the wanted count, then runs each step's ``up`` in
order (each is idempotent: a component already running with the same spec is left alone).
``down`` runs each step's ``down`` from last to first, so it stops exactly what ``up`` started,
in reverse; then it reports whatever of the cluster is still on the host. Data stays.
"""

from __future__ import annotations

import os
import time

from localcluster import procs
from localcluster.cluster.host import cgroups, mounts, network
from localcluster.cluster.runner import Context, Step
from localcluster.cluster.spec import layout as lay
from localcluster.cluster.spec.layout import Node
from localcluster.cluster.steps import NODE_STEPS, STEPS, containerd, preflight
from localcluster.progress import fail, phase, run, say


def _up(ctx: Context, step: Step) -> None:
    title = step.up_phase(ctx)
    if title is None:
        step.up(ctx)
        return
    with phase(title):
        step.up(ctx)


def up(ctx: Context) -> None:
    """Bring the cluster up (or converge a running one)."""
    layout = ctx.layout
    began = time.monotonic()
    preflight.check(ctx)
    stop_extra_nodes(ctx)
    for step in STEPS:
        _up(ctx, step)
    say(f"cluster up in {time.monotonic() - began:.1f}s: {len(layout.nodes)} node(s) Ready")
    say(f"    export KUBECONFIG={layout.admin_kubeconfig}")
    say(f"    host DNS: python3 -m localcluster.incluster -- CMD  (uses {layout.host_resolv_conf})")


def stop_node(ctx: Context, node: Node) -> None:
    """Stop one node: its node steps' ``stop_node`` from last to first (kubelet and pods, containerd)."""
    for step in reversed(NODE_STEPS):
        step.stop_node(ctx, node)


def stop_extra_nodes(ctx: Context) -> None:
    """Stop nodes beyond the wanted count (after ``--nodes`` went down)."""
    wanted = {n.index for n in ctx.layout.nodes}
    for node in ctx.present_nodes():
        names = [c.name for s in NODE_STEPS for c in s.node_components(ctx, node)]
        if node.index not in wanted and any(ctx.registry.get(name) for name in names):
            with phase(f"stop {node.name} (beyond NODES={len(wanted)})"):
                stop_node(ctx, node)


def power_off(ctx: Context, node: Node) -> int:
    """Kill every process of ``node`` at once (kubelet, containerd, shims, containers), then reboot-clean it.

    Returns how many processes were killed.
    """
    killed: set[int] = set()
    deadline = time.monotonic() + 15
    while (left := cgroups.pids_under(node.cgroup) - {os.getpid()}) and time.monotonic() < deadline:
        procs.kill_now(left)  # repeated: a dying containerd may still have forked a shim
        killed |= left
    for step in NODE_STEPS:
        for component in step.node_components(ctx, node):
            ctx.registry.forget(component.name)
    containerd.clear_volatile(node)
    return len(killed)


def down(ctx: Context) -> list[str]:
    """Undo every step, last first; return what of the cluster is left on the host."""
    for step in reversed(STEPS):
        title = step.down_phase(ctx)
        if title is not None:
            with phase(title):
                step.down(ctx)
    left = leftovers(ctx) + ctx.left
    for item in left:
        say(f"    LEFT: {item}")
    return left


def leftovers(ctx: Context) -> list[str]:
    """Processes, mounts, links, routes, chains and cgroups of the cluster still present."""
    registry = ctx.registry
    found = [f"process {t.name} pid {t.pid}" for n in registry.names() if (t := registry.running(n)) is not None]
    found += [f"mount {m}" for m in mounts.under(ctx.layout.root)]
    found += network.leftovers()
    found += [f"process pid {p} in /{lay.CGROUP_PARENT}" for p in cgroups.pids_under(f"/{lay.CGROUP_PARENT}")]
    found += [f"cgroup {h}/{lay.CGROUP_PARENT}" for h in cgroups.hierarchies() if (h / lay.CGROUP_PARENT).exists()]
    return found


def clean(ctx: Context) -> None:
    """``down``, then remove the cluster state and the volumes."""
    layout = ctx.layout
    left = down(ctx)
    if any(item.startswith("mount ") for item in left) or mounts.under(layout.root.parent):
        fail("mounts are left under the state directory; not removing it")
    with phase("remove state"):
        for path in (layout.root, layout.volumes):
            if path.exists():
                # rm stays on this file system (never into a mount) and beats shutil.rmtree
                # on the containerd snapshot trees (hundreds of thousands of files).
                run(["rm", "-rf", "--one-file-system", str(path)], log=layout.logs.parent.parent / "clean.log",
                    step=f"remove {path}")
                say(f"    removed {path}")
