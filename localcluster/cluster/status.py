"""``status``: every component's process, the nodes as the API sees them, and where things are."""

from __future__ import annotations

import subprocess

from localcluster.cluster.runner import Context
from localcluster.cluster.spec import components
from localcluster.cluster.spec import layout as lay
from localcluster.cluster.steps import STEPS


def expected(ctx: Context) -> list[str]:
    """The components ``up`` starts, in start order."""
    return [c.name for step in STEPS for c in step.components(ctx)]


def status(ctx: Context) -> int:
    """Print processes, nodes and endpoints; return 0 when everything expected runs."""
    layout = ctx.layout
    wanted = expected(ctx)
    names = wanted + [n for n in ctx.registry.names() if n not in wanted]
    healthy = True
    print(f"{'COMPONENT':28} {'PID':>8}  STATE")
    for name in names:
        tracked = ctx.registry.get(name)
        alive = tracked is not None and tracked.alive()
        healthy &= alive or name not in wanted
        pid = str(tracked.pid) if tracked else "-"
        print(f"{name:28} {pid:>8}  {'running' if alive else 'stopped'}")
    print()
    if ctx.registry.running("kube-apiserver"):
        kubectl = [components.binary("kubectl"), f"--kubeconfig={layout.admin_kubeconfig}",
                   "get", "nodes", "-o", "wide", "--request-timeout=5s"]
        subprocess.run(kubectl, check=False, stdin=subprocess.DEVNULL)
        print()
    print(f"API server   {layout.apiserver_url}")
    print(f"kubeconfig   {layout.admin_kubeconfig}")
    print(f"CoreDNS      {lay.COREDNS_IP}:53 (Service kube-dns {lay.CLUSTER_DNS_IP})")
    print(f"host DNS     {layout.host_resolv_conf} (python3 -m localcluster.incluster -- CMD)")
    for node in layout.nodes:
        print(f"{node.name:12} ip {node.ip}  pods {node.pod_cidr} on {node.bridge}  cgroup {node.cgroup}")
    print(f"state        {layout.root}")
    print(f"volumes      {layout.volumes}")
    print(f"logs         {layout.logs}")
    return 0 if healthy else 1
