"""What a reviewer pastes into a pull request: the change and the policy report, for one stack.

Usage: ``python -m policy.review --stack dev [--offline] [--yaml FILE]`` (``make review STACK=dev``).

- Online, when the stack exists in the backend and its cluster answers: ``pulumi preview --diff
  --policy-pack policy``, the exact change with the pack's verdict on it.
- Offline otherwise (or with ``--offline``): the program is rendered under Pulumi's mocks (no cluster, no
  backend, no decryption: secret values are placeholders), written as a state file, and the same pack
  runs over it with ``pulumi policy analyze --file``. The report lists the objects the stack would hold;
  ``--yaml FILE`` also writes them as YAML. The secrets policy needs the stack's decrypted config and
  does not apply offline.

Exit status: the CLI's (non-zero when a mandatory policy fails), 2 when the program does not render.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from localcluster import env
from policy import PACK_DIR
from policy.pack import plain, urn
from policy.render import PROJECT, RenderedResource, render, stack_config

REPO = PACK_DIR.parent
STACKS = REPO / "stacks"
PASSWORDS = (f"{PROJECT}:mysqlRootPassword", f"{PROJECT}:mysqlReplicationPassword", f"{PROJECT}:mysqlAppPassword")
_SIG = "4dabf18193072939515e22adb298388d"
_SECRET = "1b47061264138c4ac30d75fd1eb44270"
_PROVIDER_ID = "rendered"


def state_value(value: Any) -> Any:
    """A rendered input in state-file form: secrets become ``plaintext`` secrets (nothing to decrypt)."""
    if isinstance(value, Mapping):
        if value.get(_SIG) == _SECRET:
            return {_SIG: _SECRET, "plaintext": json.dumps(state_value(value.get("value")))}
        return {key: state_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [state_value(item) for item in value]
    return value


def deployment(resources: Iterable[RenderedResource], stack: str) -> dict[str, Any]:
    """A ``pulumi stack export`` document holding the rendered Kubernetes objects (inputs = outputs)."""
    root = urn(stack, PROJECT, "pulumi:pulumi:Stack", f"{PROJECT}-{stack}")
    provider_urn = urn(stack, PROJECT, "pulumi:providers:kubernetes", "kubernetes")
    state: list[dict[str, Any]] = [{"urn": root, "custom": False, "type": "pulumi:pulumi:Stack"}]
    state.append({
        "urn": provider_urn, "custom": True, "id": _PROVIDER_ID, "type": "pulumi:providers:kubernetes",
        "inputs": {}, "outputs": {}, "parent": root,
    })
    for resource in resources:
        if not resource.type.startswith("kubernetes:"):
            continue  # the provider above, components and dynamic resources carry no Kubernetes object
        props = state_value(dict(resource.props))
        meta = resource.metadata
        state.append({
            "urn": urn(stack, PROJECT, resource.type, resource.name),
            "custom": True,
            "id": "/".join(str(part) for part in (meta.get("namespace"), meta.get("name")) if part),
            "type": resource.type,
            "inputs": props,
            "outputs": props,
            "parent": root,
            "provider": f"{provider_urn}::{_PROVIDER_ID}",
        })
    manifest = {"time": datetime.now(UTC).isoformat(), "magic": "", "version": ""}
    return {"version": 3, "deployment": {"manifest": manifest, "resources": state}}


def objects_summary(resources: Iterable[RenderedResource]) -> list[str]:
    """``+ Kind namespace/name`` for every Kubernetes object, as a preview of a new stack lists them."""
    lines = []
    for resource in resources:
        if resource.type.startswith("kubernetes:"):
            meta = resource.metadata
            where = f"{meta.get('namespace')}/{meta.get('name')}" if meta.get("namespace") else meta.get("name")
            lines.append(f"  + {resource.kind} {where}")
    return lines


def render_stack(stack: str) -> list[RenderedResource]:
    """Render the program for ``stacks/Pulumi.<stack>.yaml`` under mocks, passwords as placeholders."""
    config, secret_keys = stack_config(STACKS / f"Pulumi.{stack}.yaml")
    for key in PASSWORDS:
        if key not in config:
            config[key] = "placeholder"
            secret_keys.add(key)
    return render(config, secret_keys, stack=stack).resources


def offline(stack: str, reason: str, yaml_file: Path | None) -> int:
    """Render, then run the pack over the rendering with ``pulumi policy analyze --file``."""
    print(f"Offline review of stack {stack} ({reason}): the program rendered without a cluster.", flush=True)
    try:
        resources = render_stack(stack)
    except Exception as error:  # a bad config: show the program's own message
        print(f"the program does not render for stack {stack}: {error}", file=sys.stderr)
        return 2
    print(f"\nObjects the stack holds ({len(objects_summary(resources))}):")
    print("\n".join(objects_summary(resources)), flush=True)
    if yaml_file is not None:
        documents = [plain(dict(r.props)) for r in resources if r.type.startswith("kubernetes:")]
        yaml_file.write_text(yaml.safe_dump_all(documents, sort_keys=False))
        print(f"(written as YAML to {yaml_file})")
    with tempfile.TemporaryDirectory(prefix="policy-review-") as tmp:
        state = Path(tmp) / f"{stack}.json"
        state.write_text(json.dumps(deployment(resources, stack)))
        print("\nPolicy report:", flush=True)
        command = ["pulumi", "policy", "analyze", "--file", str(state), "--policy-pack", str(PACK_DIR)]
        return subprocess.run(command, cwd=tmp, check=False).returncode


def preview(stack: str) -> int:
    """``pulumi preview --diff`` of the stack with the pack."""
    print(f"Review of stack {stack}: pulumi preview --diff with the policy pack.", flush=True)
    command = ["pulumi", "preview", "--stack", stack, "--diff", "--non-interactive", "--policy-pack", str(PACK_DIR)]
    return subprocess.run(command, cwd=REPO, check=False).returncode


def why_offline(stack: str) -> str | None:
    """Why this stack cannot be previewed from here, or ``None`` when it can."""
    listed = subprocess.run(
        ["pulumi", "stack", "ls", "--json"], cwd=REPO, capture_output=True, text=True, check=False
    )
    names = {entry.get("name") for entry in json.loads(listed.stdout or "[]")} if listed.returncode == 0 else set()
    if stack not in names:
        return f"no stack {stack!r} in the backend {os.environ.get('PULUMI_BACKEND_URL', '(default)')}"
    config, _ = stack_config(STACKS / f"Pulumi.{stack}.yaml")
    context = config.get(f"{PROJECT}:kubeconfigContext")
    return cluster_problem(context)


def cluster_problem(context: str | None) -> str | None:
    """Why the stack's cluster does not answer (``None`` when it does)."""
    from kubernetes import client, config  # noqa: PLC0415 - only the online check needs the client

    try:
        api = config.new_client_from_config(context=context)  # type: ignore[no-untyped-call]
        client.VersionApi(api).get_code(_request_timeout=5)
    except Exception as error:
        return f"its cluster (context {context or 'current'}) does not answer: {type(error).__name__}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m policy.review", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="local", help="stack name: stacks/Pulumi.<stack>.yaml")
    parser.add_argument("--offline", action="store_true", help="render and analyze; never contact a cluster")
    parser.add_argument("--yaml", type=Path, help="offline: also write the rendered objects as YAML to this file")
    options = parser.parse_args(argv)
    if not (STACKS / f"Pulumi.{options.stack}.yaml").is_file():
        print(f"no stack file Pulumi.{options.stack}.yaml in {STACKS.name}/", file=sys.stderr)
        return 2
    env.apply()  # the local toolchain and backend, unless the environment names others
    reason = "--offline" if options.offline else why_offline(options.stack)
    return preview(options.stack) if reason is None else offline(options.stack, reason, options.yaml)


if __name__ == "__main__":
    sys.exit(main())
