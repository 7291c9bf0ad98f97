"""Step: kube-controller-manager, kube-scheduler, CoreDNS and the volume provisioner (host processes)."""

from __future__ import annotations

from pathlib import Path

from localcluster.cluster.runner import Context, Step
from localcluster.cluster.spec import components, render
from localcluster.cluster.spec.components import Component


class Services(Step):
    """The controllers and the cluster's host services; they start in parallel."""

    title = "controllers, DNS, provisioner"
    down_title = "controllers, DNS, provisioner"

    def components(self, ctx: Context) -> list[Component]:
        """The four processes; CoreDNS forwards to the host's own nameservers."""
        upstreams = render.upstream_nameservers(Path("/etc/resolv.conf").read_text())
        layout = ctx.layout
        return [components.controller_manager(layout), components.scheduler(layout),
                components.coredns(layout, upstreams), components.provisioner(layout)]

    def up(self, ctx: Context) -> None:
        """Start them all, then wait for each."""
        ctx.start_all(self.components(ctx))

    def down(self, ctx: Context) -> None:
        """Stop them in reverse start order."""
        ctx.stop(reversed([c.name for c in self.components(ctx)]))


STEP = Services()
