"""Command line: ``python3 -m localcluster.deploy up|preview|destroy|endpoints --stack NAME``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pulumi import automation as auto

from localcluster.deploy.stack import POLICY_PACKS, endpoint_lines, outputs, stack, wait_ready
from localcluster.progress import phase, say
from policy import install


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: ``python -m localcluster.deploy up|preview|destroy|endpoints --stack NAME``."""
    ap = argparse.ArgumentParser(prog="python3 -m localcluster.deploy", description="Up, preview or destroy a stack.")
    ap.add_argument("action", choices=("up", "preview", "destroy", "endpoints"))
    ap.add_argument("--stack", default="local")
    args = ap.parse_args(argv)
    st = stack(args.stack)
    if args.action in ("up", "preview"):
        install.ensure()  # the pack's own virtualenv (policy/.venv)
    printer = lambda line: print(line, flush=True)  # noqa: E731
    if args.action == "up":
        # --refresh: a change made with kubectl since the last up (a partition, a scale, an interrupted
        # drill) is read back first, so this up takes it back instead of finding "no changes".
        with phase(f"pulumi up --refresh --stack {args.stack}"):
            st.up(on_output=printer, color="never", policy_packs=POLICY_PACKS, refresh=True)
    elif args.action == "preview":
        with phase(f"pulumi preview --refresh --stack {args.stack}"):
            st.preview(on_output=printer, color="never", policy_packs=POLICY_PACKS, refresh=True)
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
