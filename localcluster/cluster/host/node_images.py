"""Import the locally built image archives into a node's containerd (namespace ``k8s.io``).

An image is imported only when the node does not already hold that name at the archive's
manifest digest, so a warm ``up`` imports nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from localcluster.cluster.spec.components import binary
from localcluster.cluster.spec.layout import Layout, Node
from localcluster.images.builder import ImageArchive
from localcluster.progress import capture, run


def present(node: Node) -> dict[str, str]:
    """Images the node's containerd holds: name to digest."""
    out = capture([binary("ctr"), "-a", str(node.containerd_socket), "-n", "k8s.io", "images", "ls"])
    found: dict[str, str] = {}
    for line in out.splitlines()[1:]:
        words = line.split()
        if len(words) >= 3:
            found[words[0]] = words[2]
    return found


def import_missing(layout: Layout, node: Node, archives: Sequence[ImageArchive]) -> list[str]:
    """Import every archive the node lacks (or holds at another digest); return imported names."""
    have = present(node)
    imported: list[str] = []
    for archive in archives:
        if have.get(archive.name) == archive.digest:
            continue
        run([binary("ctr"), "-a", str(node.containerd_socket), "-n", "k8s.io", "images", "import",
             str(archive.path)],
            log=layout.log(f"images-{node.name}"), step=f"import {archive.name} into {node.name}")
        imported.append(archive.name)
    left = [a.name for a in archives if present(node).get(a.name) != a.digest]
    if left:
        raise RuntimeError(f"{node.name}: images missing after import: {', '.join(left)}")
    prune_stale(node)
    return imported


def prune_stale(node: Node) -> list[str]:
    """Drop the id references (``sha256:...``) of images no name points at any more.

    containerd's CRI keeps a reference per image id; after a rebuilt image is imported under the
    same name, the old id would keep the old layers on disk forever (image GC is off).
    """
    have = present(node)
    named = {digest for ref, digest in have.items() if not ref.startswith("sha256:")}
    stale = [ref for ref, digest in have.items() if ref.startswith("sha256:") and digest not in named]
    if stale:
        capture([binary("ctr"), "-a", str(node.containerd_socket), "-n", "k8s.io", "images", "rm", *stale])
    return stale
