"""Render the program for one stack under mocks and print policy violations; exit 1 if there are any.

Usage: ``python -m policy --stack local`` (reads ``stacks/Pulumi.local.yaml``). Encrypted values are
not decrypted: the passwords are replaced by placeholders, which the checks never read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from policy.checks import run_checks
from policy.render import PROJECT, render, stack_config

STACKS = Path(__file__).resolve().parent.parent / "stacks"
PASSWORDS = (f"{PROJECT}:mysqlRootPassword", f"{PROJECT}:mysqlReplicationPassword")


def main(argv: list[str] | None = None) -> int:
    """Run the checks for ``--stack``; 0 when clean, 1 on violations, 2 when the program cannot render."""
    parser = argparse.ArgumentParser(prog="python -m policy", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="local", help="stack name: reads stacks/Pulumi.<stack>.yaml")
    options = parser.parse_args(argv)
    path = STACKS / f"Pulumi.{options.stack}.yaml"
    if not path.is_file():
        print(f"no stack file {path.name} in {STACKS.name}/", file=sys.stderr)
        return 2
    config, secret_keys = stack_config(path)
    for key in PASSWORDS:
        if key not in config:
            print(f"note: {key} is not set yet; rendering with a placeholder", file=sys.stderr)
            config[key] = "placeholder"
            secret_keys.add(key)
    try:
        rendering = render(config, secret_keys, stack=options.stack)
    except Exception as error:  # a bad config: show the program's own message
        print(f"the program does not render for stack {options.stack}: {error}", file=sys.stderr)
        return 2
    violations = run_checks(rendering.resources)
    for violation in violations:
        print(violation)
    print(f"{len(violations)} violation(s) in {len(rendering.resources)} resources of stack {options.stack}")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
