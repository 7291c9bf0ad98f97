"""The stack's one explicit Kubernetes provider; components inherit it and never build their own."""

from __future__ import annotations

import pulumi_kubernetes as k8s


def kubernetes_provider(name: str, context: str | None) -> k8s.Provider:
    """A provider for the kubeconfig's ``context`` (the current context when ``None``).

    Secrets and ConfigMaps are updated in place rather than replaced delete-first (the provider's
    default, with a fixed name), so no pod that starts during a change finds them missing. (Config files
    are immutable ConfigMaps named after their content: a change of files is a new ConfigMap anyway.)
    """
    return k8s.Provider(name, context=context, enable_secret_mutable=True, enable_config_map_mutable=True)
