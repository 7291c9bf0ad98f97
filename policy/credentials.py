"""Secrets come only from secret config: every value a Kubernetes Secret carries is a secret config value.

The engine gives the pack the stack's configuration, decrypted, and the keys stored encrypted
(``pulumi config set --secret``); the language host passes them as ``PULUMI_CONFIG`` and
``PULUMI_CONFIG_SECRET_KEYS`` (with ``PULUMI_STACK``). A value found only in plain config, or nowhere in
the config (written into the program), fails. Without a stack (``pulumi policy analyze`` of a file) the
policy does not apply.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from policy.kube import describe, kind, mapping
from policy.model import ResourceArgs, ResourcePolicy


@dataclass(frozen=True)
class StackConfig:
    """The stack's configuration (full keys, raw values) and which keys are secrets."""

    values: Mapping[str, str]
    secret_keys: frozenset[str]

    def secret_strings(self) -> set[str]:
        """Every secret value, and every string inside a structured secret value."""
        return {text for key, value in self.values.items() if key in self.secret_keys for text in _strings(value)}

    def plain_key_of(self, text: str) -> str | None:
        """The plain (not secret) key whose value is, or contains, ``text``."""
        for key, value in self.values.items():
            if key not in self.secret_keys and text in _strings(value):
                return key
        return None


def _strings(value: str) -> set[str]:
    found = {value}
    try:
        parsed = json.loads(value)
    except ValueError:
        return found

    def walk(node: Any) -> None:
        if isinstance(node, str):
            found.add(node)
        elif isinstance(node, dict):
            for item in node.values():
                walk(item)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(parsed)
    return found


def stack_config(environ: Mapping[str, str] | None = None) -> StackConfig | None:
    """The configuration the engine gave the pack, or ``None`` when no stack configured it."""
    env = os.environ if environ is None else environ
    if not env.get("PULUMI_STACK"):
        return None
    values = json.loads(env.get("PULUMI_CONFIG") or "{}")
    keys = json.loads(env.get("PULUMI_CONFIG_SECRET_KEYS") or "[]")
    return StackConfig({str(k): str(v) for k, v in values.items()}, frozenset(str(key) for key in keys))


def _secret_items(props: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for key, value in mapping(props.get("stringData")).items():
        yield f"stringData.{key}", str(value)
    for key, value in mapping(props.get("data")).items():
        try:
            text = base64.b64decode(str(value), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            text = str(value)
        yield f"data.{key}", text


def check_secret_sources(args: ResourceArgs) -> Iterator[str]:
    """Each value of a Secret is the value of a config key stored as a secret."""
    if kind(args) != "Secret":
        return
    config = stack_config()
    if config is None:
        args.not_applicable("no stack configuration to compare with (analysis without a stack)")
        return
    secrets = config.secret_strings()
    for where, text in _secret_items(args.props):
        if text in secrets:
            continue
        plain = config.plain_key_of(text) if text else None
        if plain is not None:
            yield (
                f"{describe(args)}: {where} is the plain config value of {plain}; "
                f"store it encrypted: pulumi config set --secret {plain} <value>"
            )
        else:
            yield (
                f"{describe(args)}: {where} is not the value of any secret config key; "
                "take it from config set with `pulumi config set --secret`"
            )


POLICIES = (
    ResourcePolicy(
        "secrets-from-secret-config",
        "Every value of a Kubernetes Secret comes from a config key stored as a secret.",
        check_secret_sources,
    ),
)
