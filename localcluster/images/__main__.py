"""Command line: ``python3 -m localcluster.images [--only NAME] [--force]`` (make images)."""

from __future__ import annotations

import argparse
import subprocess
from collections.abc import Sequence

from localcluster.images.builder import build_images
from localcluster.progress import StepError, fail, phase, say


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: build the missing images and list the archives."""
    parser = argparse.ArgumentParser(prog="python3 -m localcluster.images",
                                     description="Build the cluster's container images that are missing.")
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help="build only this image (short name or full reference); repeatable")
    parser.add_argument("--force", action="store_true", help="rebuild even if the archive is cached")
    args = parser.parse_args(argv)
    try:
        with phase("images"):
            archives = build_images(args.only, force=args.force)
    except (StepError, subprocess.SubprocessError, OSError) as error:
        fail(str(error))
        return
    for archive in archives:
        say(f"{archive.name:32} {archive.path}")


if __name__ == "__main__":
    main()
