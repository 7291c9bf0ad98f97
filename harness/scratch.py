"""Stacks of their own for the day-2 drills: the base stack's settings, each app in a namespace of its own.

A drill that grows a volume cannot be undone on the stack it ran on (volumes do not shrink), and a
password rotation should not touch the stack other tests use. ``ScratchStack`` creates a stack of the
same project, writes its settings file (the base stack's config with every app moved into a namespace
named after the run, the passwords set as secrets), deploys it with the real ``pulumi up``, and
destroys and removes it afterwards, settings file included (the file is git-ignored while it exists).
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto

from .stack import POLICY_PACKS, merge, outputs_of

SECRET_KEYS = ("mysqlRootPassword", "mysqlReplicationPassword", "mysqlAppPassword")
APPS = ("nginx", "zookeeper", "mysql")


def _print_line(line: str) -> None:
    print(line.rstrip("\n"), flush=True)  # captured by pytest, shown with a failing test


class ScratchStack:
    """A throw-away stack of the project in ``work_dir``; its config persists between ``up`` calls."""

    def __init__(
        self,
        *,
        work_dir: Path,
        config_dir: Path,
        project: str,
        name: str,
        base: Mapping[str, Any],
        passwords: Mapping[str, str],
        emit: Callable[[str], None] | None = None,
    ) -> None:
        """Prepare stack ``name`` with ``base`` (the ``config`` mapping, plain values) and the passwords.

        ``emit`` receives the engine's output lines (default: printed, so pytest shows them with a failure).
        """
        self._emit = emit or _print_line
        self.work_dir = work_dir
        self.project = project
        self.name = name
        self.config_file = config_dir / f"Pulumi.{name}.yaml"
        self.base = copy.deepcopy(dict(base))
        self.passwords = dict(passwords)
        self.stack: auto.Stack | None = None

    def key(self, short: str) -> str:
        """``nginx`` -> ``stateful:nginx``."""
        return f"{self.project}:{short}"

    def _document(self) -> dict[str, Any]:
        return dict(yaml.safe_load(self.config_file.read_text(encoding="utf-8")) or {})

    def _write(self, document: Mapping[str, Any]) -> None:
        self.config_file.write_text(yaml.safe_dump(dict(document), sort_keys=False), encoding="utf-8")

    def create(self) -> auto.Stack:
        """Create the stack, write its settings and secrets; nothing is deployed yet."""
        self.stack = auto.create_stack(stack_name=self.name, work_dir=str(self.work_dir))
        document = self._document() if self.config_file.exists() else {}
        document["config"] = {**(document.get("config") or {}), **self.base}
        self._write(document)
        self.set_passwords(self.passwords)
        return self.stack

    def set_passwords(self, passwords: Mapping[str, str]) -> None:
        """Store the passwords as secrets in the stack's settings file (``pulumi config set --secret``)."""
        stack = self._require()
        for short, value in passwords.items():
            stack.set_config(self.key(short), auto.ConfigValue(value=value, secret=True))
        self.passwords.update(passwords)

    def set(self, changes: Mapping[str, Any]) -> None:
        """Merge ``changes`` (full keys) into the stack's settings file; the next ``up`` applies them."""
        document = self._document()
        document["config"] = merge(document.get("config") or {}, changes)
        self._write(document)

    def settings(self) -> dict[str, Any]:
        """The ``config`` mapping of the stack's settings file."""
        return dict(self._document().get("config") or {})

    def _require(self) -> auto.Stack:
        if self.stack is None:
            raise AssertionError(f"scratch stack {self.name} was not created")
        return self.stack

    def up(self) -> dict[str, Any]:
        """``pulumi up`` with the stack's settings; return the outputs."""
        self._emit(f"--- pulumi up --stack {self.name}")
        result = self._require().up(on_output=self._emit, color="never", policy_packs=POLICY_PACKS)
        return {k: v.value for k, v in result.outputs.items()}

    def preview(self, changes: Mapping[str, Any] | None = None) -> auto.PreviewResult:
        """``pulumi preview``, with ``changes`` applied to a temporary copy of the settings when given."""
        if not changes:
            return self._require().preview(on_output=self._emit, color="never", policy_packs=POLICY_PACKS)
        result: auto.PreviewResult = self._with_changes("preview", changes)
        return result

    def up_with(self, changes: Mapping[str, Any]) -> Any:
        """``pulumi up`` with ``changes`` on a temporary copy of the settings (the file stays as it is)."""
        return self._with_changes("up", changes)

    def _with_changes(self, action: str, changes: Mapping[str, Any]) -> Any:
        document = self._document()
        document["config"] = merge(document.get("config") or {}, changes)
        with tempfile.TemporaryDirectory(prefix="scratch-config-") as tmp:
            changed = Path(tmp) / self.config_file.name
            changed.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
            self._emit(f"--- pulumi {action} --stack {self.name} (changed config)")
            run = getattr(self._require(), action)
            return run(on_output=self._emit, color="never", config_file=str(changed), policy_packs=POLICY_PACKS)

    def outputs(self) -> dict[str, Any]:
        """The stack outputs."""
        return outputs_of(self._require())

    def remove(self) -> None:
        """Destroy everything the stack deployed, remove the stack and its settings file."""
        if self.stack is not None:
            try:
                self.stack.destroy(on_output=self._emit, color="never")
            finally:
                self.stack.workspace.remove_stack(self.name, force=True)
        self.config_file.unlink(missing_ok=True)


def base_config(
    stack_settings: Mapping[str, Any], project: str, namespaces: Mapping[str, str | None]
) -> dict[str, Any]:
    """The base stack's ``config`` with each app of ``namespaces`` moved there (None disables the app).

    Secure values (the passwords) are dropped: the scratch stack sets its own.
    """
    config = {
        key: copy.deepcopy(value)
        for key, value in (stack_settings.get("config") or {}).items()
        if not (isinstance(value, dict) and set(value) == {"secure"})
    }
    for app in APPS:
        key = f"{project}:{app}"
        section = dict(config.get(key) or {})
        namespace = namespaces.get(app)
        if namespace is None:
            section = {"enabled": False}
        else:
            section["namespace"] = namespace
        config[key] = section
    return config
