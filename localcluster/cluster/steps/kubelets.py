"""Step: every node's kubelet, then the one kube-proxy; up until each Node reports Ready anew.

``down`` stops kube-proxy (and flushes its rules), then each node's kubelet and its pods
(SIGTERM, then SIGKILL after ``POD_GRACE_S``); containerd stops in the step before.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import subprocess

from localcluster import procs
from localcluster.cluster.host import api, cgroups, probes
from localcluster.cluster.runner import Context, NodeStep
from localcluster.cluster.spec import components
from localcluster.cluster.spec.components import Component
from localcluster.cluster.spec.layout import Node

POD_GRACE_S = 10.0
NODE_READY_S = 120


class Kubelets(NodeStep):
    """The node agents and the service proxy of the shared host network."""

    title = "kubelets and kube-proxy"
    down_title = "kube-proxy, kubelets and pods"

    def node_components(self, ctx: Context, node: Node) -> list[Component]:
        """The node's kubelet."""
        return [components.kubelet(ctx.layout, node)]

    def components(self, ctx: Context) -> list[Component]:
        """Every wanted node's kubelet, then kube-proxy (it reads node-1's addresses)."""
        return [*super().components(ctx), components.kube_proxy(ctx.layout)]

    def up(self, ctx: Context) -> None:
        """Start the kubelets, then kube-proxy; wait for every Node to be Ready."""
        layout = ctx.layout
        started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        kubelets = super().components(ctx)
        actions = ctx.start_all(kubelets)
        # kube-proxy reads node-1's addresses, which its kubelet registers.
        ctx.start_all([components.kube_proxy(layout)])
        client = ctx.api()
        for node, kubelet in zip(layout.nodes, kubelets, strict=True):
            # A Node keeps its last status in etcd: a restarted kubelet must have reported anew.
            since = None if actions[kubelet.name] == "running" else started
            try:
                probes.wait_for(functools.partial(api.node_ready, client, node.name, since),
                                timeout=NODE_READY_S, what=f"{node.name} Ready", interval=0.5)
            except probes.NotReadyError as err:
                raise ctx.failure(kubelet.name, str(err)) from err

    def down(self, ctx: Context) -> None:
        """Stop kube-proxy and remove its rules, then every node's kubelet and pods."""
        proxy = components.kube_proxy(ctx.layout)
        ctx.stop([proxy.name])
        binary = proxy.argv[0]
        if os.access(binary, os.X_OK):
            with ctx.layout.log(proxy.name).open("a") as out:
                subprocess.run([binary, "--cleanup"], stdout=out, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, check=False, env=ctx.env)
        super().down(ctx)

    def stop_node(self, ctx: Context, node: Node) -> None:
        """Stop the node's kubelet, then its pods' processes (TERM, then KILL after the grace)."""
        ctx.stop([c.name for c in self.node_components(ctx, node)])
        procs.terminate(cgroups.pids_under(f"{node.cgroup}/kubepods"), timeout=POD_GRACE_S)


STEP = Kubelets()
