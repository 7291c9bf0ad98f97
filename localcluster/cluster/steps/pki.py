"""Step: certificates, service-account keys and kubeconfigs (kept while still valid)."""

from __future__ import annotations

from localcluster.cluster.host import certs
from localcluster.cluster.runner import Context, Step
from localcluster.cluster.spec import pki
from localcluster.progress import say


class Pki(Step):
    """The cluster's CA, every certificate of :func:`pki.cert_specs`, and the kubeconfigs."""

    title = "certificates and kubeconfigs"

    def up(self, ctx: Context) -> None:
        """Issue what is missing or stale; write every kubeconfig."""
        layout = ctx.layout
        ca = certs.Authority(layout.pki)
        certs.ensure_service_account_keys(layout.pki)
        issued = [s.stem for s in pki.cert_specs(layout) if ca.ensure(s)]
        if issued:
            say(f"    issued: {', '.join(issued)}")

        def kubeconfig(stem: str, user: str) -> str:
            cert, key = ca.paths(stem)
            return certs.kubeconfig(layout.apiserver_url, ca.cert_path, cert, key, user)

        certs.write_private(layout.admin_kubeconfig, kubeconfig("admin", "admin"))
        for stem, user in pki.SERVICE_KUBECONFIGS:
            certs.write_private(layout.kubeconfigs / f"{stem}.kubeconfig", kubeconfig(stem, user))
        for node in layout.nodes:
            certs.write_private(node.kubelet_kubeconfig,
                                kubeconfig(f"{node.name}-client", f"system:node:{node.name}"))


STEP = Pki()
