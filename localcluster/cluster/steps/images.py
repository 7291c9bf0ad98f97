"""Step: the locally built images, imported into every node's containerd (only what is missing)."""

from __future__ import annotations

import concurrent.futures

from localcluster.cluster.host import node_images
from localcluster.cluster.runner import Context, Step
from localcluster.cluster.spec import render
from localcluster.images import builder
from localcluster.progress import fail, say


class NodeImages(Step):
    """Build what is missing (``localcluster.images``), then import it on the nodes in parallel."""

    title = "images"

    def up(self, ctx: Context) -> None:
        """Import the image set, sandbox image included, into every node."""
        archives = builder.build_images()
        if render.PAUSE_IMAGE not in {a.name for a in archives}:
            fail(f"the image set lacks the sandbox image {render.PAUSE_IMAGE}")
        nodes = ctx.layout.nodes
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(nodes)) as pool:
            futures = {pool.submit(node_images.import_missing, ctx.layout, n, archives): n for n in nodes}
            for future, node in futures.items():
                imported = future.result()
                say(f"    {node.name}: " + (f"imported {', '.join(imported)}" if imported else "all present"))


STEP = NodeImages()
