"""The stack's one explicit Kubernetes provider; components inherit it and never build their own."""

from __future__ import annotations

import pulumi_kubernetes as k8s


def kubernetes_provider(name: str, context: str | None) -> k8s.Provider:
    """A provider for the kubeconfig's ``context`` (the current context when ``None``)."""
    return k8s.Provider(name, context=context)
