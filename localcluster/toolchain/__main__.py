"""Command line: ``python3 -m localcluster.toolchain [--only NAME ...] [--skip-apt]`` (make toolchain)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from localcluster.progress import StepError, fail, phase, say
from localcluster.toolchain import install
from localcluster.toolchain.components import COMPONENTS


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: ``python -m localcluster.toolchain [--only NAME ...]``."""
    ap = argparse.ArgumentParser(prog="python3 -m localcluster.toolchain",
                                 description="Build the toolchain components that are missing.")
    ap.add_argument("--only", action="append", default=[], help="build only these components")
    ap.add_argument("--skip-apt", action="store_true", help="do not install Debian packages")
    args = ap.parse_args(argv)
    with phase("toolchain"):
        if not args.skip_apt:
            install.ensure_apt()
        install.check_go()
        chosen = [c for c in COMPONENTS if not args.only or c.name in args.only]
        for c in chosen:
            state = "cached" if c.is_built() else "to build"
            say(f"    {c.name:28} {c.version:10} {state}")
        try:
            for c in chosen:
                install.build_component(c)
            if all(c.is_built() for c in COMPONENTS if c.name.startswith("pulumi")):
                install.link_language_host_beside_cli()
                install.install_provider_plugin()
        except StepError as err:
            fail(str(err))


if __name__ == "__main__":
    main()
