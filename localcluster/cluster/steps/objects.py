"""Step: the static API objects (server-side apply) and the Node objects with their pod CIDRs."""

from __future__ import annotations

import subprocess

from localcluster.cluster.host import api, certs, probes
from localcluster.cluster.runner import Context, Step
from localcluster.cluster.spec import components, objects
from localcluster.progress import say


class ClusterObjects(Step):
    """RBAC, the DNS Service, the StorageClass; a Node object per wanted node, none beyond."""

    title = "cluster objects"

    def up(self, ctx: Context) -> None:
        """Apply the manifest (retrying while the API warms up); record each node's pod CIDR."""
        layout = ctx.layout
        manifest = layout.config / "bootstrap.json"
        certs.write_private(manifest, objects.manifest_text())
        argv = [components.binary("kubectl"), f"--kubeconfig={layout.admin_kubeconfig}", "apply",
                "--server-side", "--force-conflicts", "--field-manager=stateful-local", "-f", str(manifest)]
        log = layout.log("bootstrap")

        def applied() -> str | None:
            with log.open("a") as out:
                proc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      check=False)
            return None if proc.returncode == 0 else f"kubectl apply exit {proc.returncode}"

        try:
            probes.wait_for(applied, timeout=60, what="cluster objects", interval=1.0)
        except probes.NotReadyError as err:
            raise ctx.failure("bootstrap", str(err)) from err
        client = ctx.api()
        removed = api.remove_extra_nodes(client, layout)
        if removed:
            say(f"    removed node objects: {', '.join(removed)}")
        ctx.pod_cidrs = {node.name: api.ensure_node(client, node) for node in layout.nodes}


STEP = ClusterObjects()
