"""What every step of ``up`` and ``down`` works with: the layout, the pidfiles, and a component runner.

A :class:`Step` brings one part of the cluster up, and ``down`` undoes it; :class:`Context`
starts a component spec unless it already runs with the same spec, waits for it to be ready,
and stops components by name. A failure names the component and prints its log's problem lines
(:mod:`localcluster.cluster.logs`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Network

from kubernetes import client

from localcluster import procs
from localcluster.cluster import logs
from localcluster.cluster.host import api, certs, cgroups, probes
from localcluster.cluster.spec import components
from localcluster.cluster.spec.components import Component
from localcluster.cluster.spec.layout import Layout, Node
from localcluster.progress import StepError, say


@dataclass
class Context:
    """The cluster being brought up or down, and what one step hands to the next."""

    layout: Layout
    registry: procs.Registry
    env: dict[str, str]
    #: ``up``: each node's pod CIDR (from its Node object), for its CNI config.
    pod_cidrs: dict[str, IPv4Network] = field(default_factory=dict)
    #: ``down``: ids of the pod sandboxes the stopped nodes had (for the host-wide CNI cache).
    sandboxes: set[str] = field(default_factory=set)
    #: ``down``: what could not be removed (reported as ``LEFT:`` at the end).
    left: list[str] = field(default_factory=list)

    @classmethod
    def create(cls, layout: Layout) -> Context:
        """Context for ``layout``, with pidfiles under its run directory."""
        return cls(layout=layout, registry=procs.Registry(layout.run), env=components.process_env())

    def api(self) -> client.CoreV1Api:
        """A CoreV1 client with the admin kubeconfig."""
        return api.core(self.layout.admin_kubeconfig)

    def failure(self, name: str, reason: str) -> StepError:
        """The error for a failed component: the reason, its log's problem lines and tail."""
        return StepError(logs.failure_report(name, reason, self.layout.log(name)))

    def ensure(self, component: Component) -> str:
        """Start ``component`` unless it runs with the same spec; return what was done."""
        for directory in component.dirs:
            directory.mkdir(parents=True, exist_ok=True)
        for path, text in component.files:
            certs.write_private(path, text)
        spec = component.spec("")
        running = self.registry.running(component.name)
        if running is not None and self.registry.spec(component.name) == spec:
            return "running"
        action = "started"
        if running is not None:
            self.registry.stop(component.name)
            action = "restarted (spec changed)"
        cgroup_procs = cgroups.procs_files(component.cgroup) if component.cgroup else []
        try:
            self.registry.start(component.name, component.argv, log=self.layout.log(component.name),
                                spec=spec, env=self.env, cgroup_procs=cgroup_procs)
        except (OSError, RuntimeError) as err:
            raise self.failure(component.name, str(err)) from err
        return action

    def wait(self, component: Component) -> None:
        """Wait for ``component`` to be ready; fail with its log's problems if it dies or times out."""

        def died() -> str | None:
            return None if self.registry.running(component.name) else "process exited"

        try:
            probes.wait_for(component.ready, timeout=component.timeout, what=component.name, abort=died)
        except probes.NotReadyError as err:
            raise self.failure(component.name, str(err)) from err

    def start_all(self, items: Sequence[Component]) -> dict[str, str]:
        """Ensure several components, then wait for each (they start in parallel); return actions."""
        actions = {}
        for item in items:
            actions[item.name] = self.ensure(item)
            say(f"    {item.name}: {actions[item.name]}")
        for item in items:
            self.wait(item)
        return actions

    def stop(self, names: Iterable[str], *, timeout: float = 15.0) -> None:
        """Stop components by name, in the order given (each by its pidfile)."""
        for name in names:
            self.registry.stop(name, timeout=timeout)

    def present_nodes(self) -> list[Node]:
        """Nodes that have a directory or a pidfile (whatever the wanted count)."""
        indexes: set[int] = set()
        nodes_dir = self.layout.root / "nodes"
        if nodes_dir.is_dir():
            indexes |= {int(p.name.split("-")[1]) for p in nodes_dir.glob("node-*") if p.name[5:].isdigit()}
        for name in self.registry.names():
            tail_ = name.rsplit("node-", 1)
            if len(tail_) == 2 and tail_[1].isdigit():
                indexes.add(int(tail_[1]))
        return [self.layout.node(i) for i in sorted(indexes)]


class Step:
    """One part of the cluster: ``up`` brings it up (idempotently), ``down`` undoes exactly that.

    ``up`` walks the steps in order and ``down`` walks them backwards, so what started last stops
    first. ``components`` names the processes the step starts (for ``status`` and ``down``).
    """

    #: Phase title printed around ``up``; None for a step that prints no phase.
    title: str | None = None
    #: Phase title printed around ``down``; None when ``down`` has nothing to undo.
    down_title: str | None = None

    def up_phase(self, ctx: Context) -> str | None:
        """The phase title printed around ``up`` (it may depend on the node count)."""
        return self.title

    def down_phase(self, ctx: Context) -> str | None:
        """The phase title printed around ``down``."""
        return self.down_title

    def up(self, ctx: Context) -> None:
        """Bring this part up, or converge it."""

    def down(self, ctx: Context) -> None:
        """Undo what ``up`` did (data stays)."""

    def components(self, ctx: Context) -> list[Component]:
        """The host processes this step starts."""
        return []


class NodeStep(Step):
    """A step that starts something on every node; ``stop_node`` undoes it for one node."""

    def node_components(self, ctx: Context, node: Node) -> list[Component]:
        """The host processes this step starts on ``node``."""
        return []

    def components(self, ctx: Context) -> list[Component]:
        """The host processes this step starts on the wanted nodes."""
        return [c for node in ctx.layout.nodes for c in self.node_components(ctx, node)]

    def stop_node(self, ctx: Context, node: Node) -> None:
        """Undo this step on ``node``."""

    def down(self, ctx: Context) -> None:
        """Undo this step on every node present (also those beyond the wanted count)."""
        for node in ctx.present_nodes():
            self.stop_node(ctx, node)

