"""Where the toolchain cache and the cluster state live (outside the repository)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """Root of the built-toolchain cache: ``$STATEFUL_CACHE`` or ``$XDG_CACHE_HOME/stateful-clusters``."""
    explicit = os.environ.get("STATEFUL_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stateful-clusters"


def state_root() -> Path:
    """Root of the local cluster's state: ``$STATEFUL_STATE`` or ``$XDG_STATE_HOME/stateful-clusters``."""
    explicit = os.environ.get("STATEFUL_STATE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "stateful-clusters"


def bin_dir() -> Path:
    """Directory that holds a link to every built binary (put it on PATH)."""
    return cache_root() / "bin"


def pulumi_home() -> Path:
    """PULUMI_HOME holding the locally installed provider plugin."""
    return cache_root() / "pulumi-home"


def backend_dir() -> Path:
    """Directory of the local file backend for Pulumi state."""
    return state_root() / "pulumi-backend"


def kubeconfig() -> Path:
    """Admin kubeconfig of the local cluster."""
    return state_root() / "cluster" / "admin.kubeconfig"
