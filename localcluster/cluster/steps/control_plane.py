"""Step: etcd, then kube-apiserver; ``down`` stops them in reverse, then anything else with a pidfile."""

from __future__ import annotations

from localcluster.cluster.runner import Context, Step
from localcluster.cluster.spec import components
from localcluster.cluster.spec.components import Component


class ControlPlane(Step):
    """The cluster's store and its API."""

    title = "etcd and kube-apiserver"
    down_title = "control plane"

    def components(self, ctx: Context) -> list[Component]:
        """Etcd and the API server, in start order."""
        return [components.etcd(ctx.layout), components.apiserver(ctx.layout)]

    def up(self, ctx: Context) -> None:
        """Start etcd and wait for it, then the API server."""
        for component in self.components(ctx):
            ctx.start_all([component])

    def down(self, ctx: Context) -> None:
        """Stop the API server, then etcd; then whatever else still has a pidfile (an older layout's)."""
        ctx.stop(reversed([c.name for c in self.components(ctx)]), timeout=30)
        ctx.stop(ctx.registry.names())


STEP = ControlPlane()
