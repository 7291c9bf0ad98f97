"""Command line: ``python3 -m localcluster.cluster up|down|status|clean|logs|node stop|start N``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from kubernetes import client

from localcluster.cluster import lifecycle, logs
from localcluster.cluster.runner import Context
from localcluster.cluster.spec import layout as lay
from localcluster.cluster.spec.layout import Layout
from localcluster.cluster.status import status
from localcluster.progress import StepError, fail, phase, say


def node_count(requested: int | None) -> int:
    """``--nodes``, else ``$NODES``, else 3."""
    if requested is not None:
        return requested
    raw = os.environ.get("NODES", "").strip()
    return int(raw) if raw else lay.DEFAULT_NODES


def node_command(ctx: Context, action: str, index: int) -> None:
    """``node stop N``: a power cut of node-N; ``node start N``: power back (``up`` converges)."""
    indexes = [node.index for node in ctx.layout.nodes]
    if index not in indexes:
        raise ValueError(f"no node {index}: the cluster has nodes {indexes}")
    node = ctx.layout.node(index)
    if action == "stop":
        with phase(f"power cut of {node.name}"):
            say(f"    {node.name}: {lifecycle.power_off(ctx, node)} processes killed")
    else:
        with phase(f"power back on {node.name}"):
            lifecycle.up(ctx)


def collect_logs(ctx: Context) -> None:
    """Gather every log and the runtime state; print the folder and each log's problem count."""
    with phase("cluster logs and state"):
        folder, counts = logs.collect(ctx.layout)
    for name, count in counts.items():
        if count:
            say(f"    {name}: {count} problem line(s)")
    say(f"    {folder}  (problems.txt first)")


def main(argv: Sequence[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python3 -m localcluster.cluster",
                                     description="The local multi-node Kubernetes cluster.")
    parser.add_argument("command", choices=("up", "down", "status", "clean", "logs", "node"))
    parser.add_argument("action", nargs="?", choices=("stop", "start"), help="node: stop (power cut) or start")
    parser.add_argument("index", nargs="?", type=int, help="node: which node (1..N)")
    parser.add_argument("--nodes", type=int, default=None, help="number of nodes (default $NODES or 3)")
    args = parser.parse_args(argv)
    if args.command == "node" and (args.action is None or args.index is None):
        parser.error("usage: node stop|start N")
    try:
        ctx = Context.create(Layout.create(node_count(args.nodes)))
        if args.command == "node":
            node_command(ctx, args.action, args.index)
        elif args.command == "up":
            lifecycle.up(ctx)
        elif args.command == "down":
            sys.exit(1 if lifecycle.down(ctx) else 0)
        elif args.command == "clean":
            lifecycle.clean(ctx)
        elif args.command == "logs":
            collect_logs(ctx)
        else:
            sys.exit(status(ctx))
    except (StepError, ValueError, RuntimeError, OSError, client.ApiException) as err:
        fail(str(err))


if __name__ == "__main__":
    main()
