"""Step: the cluster answers as workloads expect (default ServiceAccount, DNS), then the host's view.

Last of ``up``: the guard rules are re-asserted after kube-proxy wrote its chains, and the
resolv.conf that ``localcluster.incluster`` binds over /etc/resolv.conf is written.
"""

from __future__ import annotations

from localcluster.cluster.host import api, certs, network, probes
from localcluster.cluster.runner import Context, Step
from localcluster.cluster.spec import layout as lay
from localcluster.cluster.spec import render


class ClusterChecks(Step):
    """Wait until the cluster serves; nothing to undo (``down`` of the host network removes the guard)."""

    title = "cluster checks"

    def up(self, ctx: Context) -> None:
        """Wait for the default ServiceAccount and CoreDNS; guard the host; write the host resolv.conf."""
        client = ctx.api()
        probes.wait_for(lambda: api.default_service_account(client), timeout=60, what="default ServiceAccount")
        probes.wait_for(lambda: probes.dns_answers(
            str(lay.COREDNS_IP), f"kube-dns.kube-system.svc.{lay.CLUSTER_DOMAIN}", str(lay.CLUSTER_DNS_IP)),
            timeout=30, what="CoreDNS answering for kube-dns")
        network.ensure_guard()
        layout = ctx.layout
        certs.write_private(layout.host_resolv_conf, render.host_resolv_conf())
        layout.host_resolv_conf.chmod(0o644)


STEP = ClusterChecks()
