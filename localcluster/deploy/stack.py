"""The project's stacks through the Automation API, their outputs, and waiting for the apps to serve."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kubernetes import client, config
from pulumi import automation as auto

from localcluster import env
from policy import PACK_DIR

# Every preview and update runs the repository's CrossGuard policy pack: a mandatory violation stops it.
POLICY_PACKS = [str(PACK_DIR)]

REPO = Path(__file__).resolve().parents[2]
APPS = ("nginx", "zookeeper", "mysql")


def stack(name: str) -> auto.Stack:
    """Create or select a stack of the project in this repository."""
    env.apply()
    return auto.create_or_select_stack(stack_name=name, work_dir=str(REPO))


def outputs(st: auto.Stack) -> dict[str, Any]:
    """Plain values of the stack outputs."""
    return {k: v.value for k, v in st.outputs().items()}


def endpoint_lines(outs: Mapping[str, Any]) -> list[str]:
    """Human-readable stable endpoints from the stack outputs."""
    lines: list[str] = []
    for app in APPS:
        o = outs.get(app)
        if not o:
            continue
        lines.append(f"{app}: namespace {o['namespace']}, StatefulSet {o['statefulset']} "
                     f"({o['replicas']} replicas, {o['update_strategy']['type']})")
        ports = ", ".join(f"{n}={p}" for n, p in o["ports"].items())
        for dns in o["pod_dns"]:
            lines.append(f"    {dns}  [{ports}]")
        for svc, svc_ports in o["services"].items():
            sp = ", ".join(f"{n}={p}" for n, p in svc_ports.items())
            domain = outs.get("cluster_domain", "cluster.local")
            lines.append(f"    service {svc}.{o['namespace']}.svc.{domain}  [{sp}]")
    return lines


def wait_ready(outs: Mapping[str, Any], timeout_s: float = 300.0) -> None:
    """Wait until every app's StatefulSet has all its replicas ready, e.g. after the cluster restarted.

    ``pulumi up`` with no changes does not wait for pods; the endpoints are printed only once they serve.
    """
    api = config.new_client_from_config(config_file=os.environ.get("KUBECONFIG"))  # type: ignore[no-untyped-call]
    apps = client.AppsV1Api(api)
    deadline = time.monotonic() + timeout_s
    for app in APPS:
        o = outs.get(app)
        if not o:
            continue
        ready: int | None = 0
        while time.monotonic() < deadline:
            sts = apps.read_namespaced_stateful_set(o["statefulset"], o["namespace"])
            ready = (sts.status.ready_replicas if sts.status else 0) or 0
            if ready >= o["replicas"]:
                break
            time.sleep(1)
        else:
            raise SystemExit(f"ERROR: {app}: StatefulSet {o['namespace']}/{o['statefulset']} has {ready} of "
                             f"{o['replicas']} replicas ready after {timeout_s:.0f} s")
