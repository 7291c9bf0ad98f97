"""Step: the host network (bridge, addresses, routes, guard chains, sysctls), and removing it all.

``down`` comes last: it unmounts what is left under the state directory, removes the links,
routes and chains, restores the recorded sysctls and cleans the cluster's entries from host paths.
"""

from __future__ import annotations

from localcluster.cluster.host import cgroups, dirs, mounts, network
from localcluster.cluster.runner import Context, Step
from localcluster.cluster.spec import layout as lay


class HostNetwork(Step):
    """The host side of the cluster network."""

    title = "host network"
    down_title = "host network and paths"

    def up(self, ctx: Context) -> None:
        """Record the host as it was before the first ``up``, then set the network up."""
        network.record_host(ctx.layout, dirs.HOST_DIRS)
        network.setup(ctx.layout)

    def down(self, ctx: Context) -> None:
        """Remove the network, the host-path entries and the cgroup parent; restore the sysctls."""
        layout = ctx.layout
        stuck = mounts.unmount_under(layout.root)
        network.teardown(layout, [n.bridge for n in ctx.present_nodes()])
        existed = network.load_record(layout).get("dirs", {})
        existed = existed if isinstance(existed, dict) else {}
        ctx.left += dirs.clean(layout.root, lay.BRIDGE_PREFIX, ctx.sandboxes, existed)
        cgroups.remove(f"/{lay.CGROUP_PARENT}")
        layout.host_record.unlink(missing_ok=True)
        ctx.left += [f"mount {m}" for m in stuck]


STEP = HostNetwork()
