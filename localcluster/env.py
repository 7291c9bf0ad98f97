"""Print the shell exports that give a user plain ``pulumi`` and ``kubectl`` for the local setup.

Usage: ``eval "$(make -s env)"`` (or ``eval "$(python3 -m localcluster.env)"``).
"""

from __future__ import annotations

import os
import shlex

from localcluster import paths

# The local stack's passphrase. It protects nothing of value: the local stack's secrets are
# development values for a cluster that only exists on this machine. Real stacks set their own
# passphrase or a cloud secrets provider.
LOCAL_PASSPHRASE = "local-stack-only"


def exports() -> dict[str, str]:
    """The environment the toolchain, the local cluster and the Pulumi project run with."""
    path = os.environ.get("PATH", "")
    bin_dir = str(paths.bin_dir())
    if bin_dir not in path.split(os.pathsep):
        path = os.pathsep.join([bin_dir, path]) if path else bin_dir
    return {
        "PATH": path,
        "KUBECONFIG": os.environ.get("KUBECONFIG") or str(paths.kubeconfig()),
        "PULUMI_HOME": str(paths.pulumi_home()),
        "PULUMI_BACKEND_URL": os.environ.get("PULUMI_BACKEND_URL") or f"file://{paths.backend_dir()}",
        "PULUMI_CONFIG_PASSPHRASE": os.environ.get("PULUMI_CONFIG_PASSPHRASE", LOCAL_PASSPHRASE),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_IGNORE_AMBIENT_PLUGINS": "true",
    }


def apply() -> None:
    """Set the exports in this process (for Python entry points and tests)."""
    os.environ.update(exports())
    paths.backend_dir().mkdir(parents=True, exist_ok=True)


def main() -> None:
    """Print ``export NAME=value`` lines."""
    for name, value in exports().items():
        print(f"export {name}={shlex.quote(value)}")


if __name__ == "__main__":
    main()
