"""Render the Pulumi program under mocks: every resource's inputs as the Kubernetes API spells them.

No engine, CLI or cluster is involved: the program runs with Pulumi's mock monitor, which records
what each resource was given. Config comes in the shape the language host passes it (full keys,
objects as JSON strings), and so do the secret keys.
"""

from __future__ import annotations

import json
import os
import runpy
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime
import pulumi.runtime.settings
import yaml

PROGRAM = Path(__file__).resolve().parent.parent / "__main__.py"
PROJECT = "stateful"
LIVE_CHECKS = "STATEFUL_LIVE_CHECKS"


@dataclass(frozen=True)
class RenderedResource:
    """One registered resource: its type token, Pulumi name and inputs (camelCase, as the API spells them)."""

    type: str
    name: str
    props: Mapping[str, Any]

    @property
    def kind(self) -> str:
        """The Kubernetes kind (``StatefulSet``) or the full token for non-Kubernetes resources."""
        return self.type.rsplit(":", 1)[-1]

    @property
    def metadata(self) -> Mapping[str, Any]:
        """``metadata`` of a Kubernetes object (empty when absent)."""
        value = self.props.get("metadata")
        return value if isinstance(value, Mapping) else {}

    @property
    def spec(self) -> Mapping[str, Any]:
        """``spec`` of a Kubernetes object (empty when absent)."""
        value = self.props.get("spec")
        return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True)
class Rendering:
    """What one run of the program registered and exported."""

    resources: list[RenderedResource]
    outputs: dict[str, Any] = field(default_factory=dict)

    def of_kind(self, kind: str) -> list[RenderedResource]:
        """Resources whose kind is ``kind``."""
        return [resource for resource in self.resources if resource.kind == kind]

    def of_type(self, token: str) -> list[RenderedResource]:
        """Resources whose type token is ``token`` (``pulumi:providers:kubernetes``)."""
        return [resource for resource in self.resources if resource.type == token]

    def named(self, kind: str, name: str) -> RenderedResource:
        """The resource of ``kind`` whose ``metadata.name`` is ``name``."""
        matches = [resource for resource in self.of_kind(kind) if resource.metadata.get("name") == name]
        if len(matches) != 1:
            raise KeyError(f"expected one {kind} named {name!r}, found {len(matches)}")
        return matches[0]


    def config_files(self, base: str) -> RenderedResource:
        """The one ConfigMap of config files named ``<base>-<digest>`` (its name follows its content)."""
        matches = [
            resource
            for resource in self.of_kind("ConfigMap")
            if str(resource.metadata.get("name", "")).rsplit("-", 1)[0] == base
        ]
        if len(matches) != 1:
            raise KeyError(f"expected one ConfigMap named {base}-<digest>, found {len(matches)}")
        return matches[0]


class _RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self, resources: list[RenderedResource] | None) -> None:
        self.resources: list[RenderedResource] = [] if resources is None else resources

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        self.resources.append(RenderedResource(args.typ, args.name, dict(args.inputs)))
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        return {}, None


@contextmanager
def _config_environment(config: Mapping[str, str], secret_keys: Collection[str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in ("PULUMI_CONFIG", "PULUMI_CONFIG_SECRET_KEYS", LIVE_CHECKS)}
    os.environ[LIVE_CHECKS] = "off"  # no cluster here to compare the config with
    os.environ["PULUMI_CONFIG"] = json.dumps(dict(config))
    os.environ["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps(sorted(secret_keys))
    pulumi.runtime.set_all_config(dict(config), sorted(secret_keys))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        pulumi.runtime.set_all_config({}, [])


def render(
    config: Mapping[str, str],
    secret_keys: Collection[str] = (),
    stack: str = "unit",
    registered: list[RenderedResource] | None = None,
) -> Rendering:
    """Run the program with ``config`` (full keys, raw values) under mocks and return what it registered.

    Errors the program raises (a bad config) propagate unchanged; pass ``registered`` to see what was
    registered before the error.
    """
    mocks = _RecordingMocks(registered)
    pulumi.runtime.settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False)
    exported: dict[str, Any] = {}

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def run() -> pulumi.Output[None]:
        runpy.run_path(str(PROGRAM), run_name="__main__")
        root = pulumi.runtime.get_root_resource()
        outputs: dict[str, Any] = getattr(root, "outputs", {})
        return pulumi.Output.from_input(outputs).apply(exported.update)

    with _config_environment(config, secret_keys):
        run()
    return Rendering(resources=mocks.resources, outputs=exported)


def stack_config(path: Path) -> tuple[dict[str, str], set[str]]:
    """Read ``Pulumi.<stack>.yaml`` into (full key -> raw value, secret keys); secure values become placeholders.

    The placeholder stands in for a value only the CLI can decrypt; rendering needs its presence, not its text.
    """
    document = yaml.safe_load(path.read_text()) or {}
    config: dict[str, str] = {}
    secrets: set[str] = set()
    for key, value in (document.get("config") or {}).items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            config[key] = "rendered-without-decryption"
            secrets.add(key)
        elif isinstance(value, dict | list):
            config[key] = json.dumps(value)
        elif isinstance(value, bool):
            config[key] = "true" if value else "false"
        else:
            config[key] = str(value)
    return config, secrets
