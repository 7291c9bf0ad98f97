"""Drive the Pulumi project with the Automation API: up, preview, destroy, and print endpoints.

The same commands work for any stack; the local stack additionally needs ``make cluster``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kubernetes import client, config
from pulumi import automation as auto

from localcluster import env
from localcluster.progress import phase, say
from policy import PACK_DIR, install

# Every preview and update runs the repository's CrossGuard policy pack: a mandatory violation stops it.
POLICY_PACKS = [str(PACK_DIR)]

REPO = Path(__file__).resolve().parent.parent
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


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: ``python -m localcluster.deploy up|preview|destroy|endpoints --stack NAME``."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("action", choices=("up", "preview", "destroy", "endpoints"))
    ap.add_argument("--stack", default="local")
    args = ap.parse_args(argv)
    st = stack(args.stack)
    if args.action in ("up", "preview"):
        install.ensure()  # the pack's own virtualenv (policy/.venv)
    printer = lambda line: print(line, flush=True)  # noqa: E731
    if args.action == "up":
        with phase(f"pulumi up --stack {args.stack}"):
            st.up(on_output=printer, color="never", policy_packs=POLICY_PACKS)
    elif args.action == "preview":
        with phase(f"pulumi preview --stack {args.stack}"):
            st.preview(on_output=printer, color="never", policy_packs=POLICY_PACKS)
    elif args.action == "destroy":
        with phase(f"pulumi destroy --stack {args.stack}"):
            st.destroy(on_output=printer, color="never")
        return
    if args.action in ("up", "endpoints"):
        with phase("every StatefulSet ready"):
            wait_ready(outputs(st))
        say("stable endpoints:")
        for line in endpoint_lines(outputs(st)):
            print(line, flush=True)


if __name__ == "__main__":
    try:
        main()
    except auto.errors.CommandError as err:
        print(f"ERROR: {err}", file=sys.stderr)
        sys.exit(1)
