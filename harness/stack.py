"""The deployed stack as the smoke tests see it: its outputs, and changing its config for a while.

Names of everything (namespaces, StatefulSets, Services, DNS names, ports, Secrets) come from the
stack outputs only, so the tests run against any stack on any cluster.

Config changes never touch the stack's config file in the repository: ``StackDriver`` writes the
changed config to a temporary copy and runs ``pulumi up --config-file <copy>``; restoring is a plain
``up`` with the stack's own file. A test run that dies half-way therefore leaves the repository
clean, and the next ``make up`` (which refreshes first, so kubectl changes are read back) puts the cluster back.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml
from pulumi import automation as auto

from policy import PACK_DIR

#: Every ``pulumi up`` and preview of the smoke tests runs the policy pack, as ``make up`` does.
POLICY_PACKS: Final = [str(PACK_DIR)]


@dataclass(frozen=True)
class App:
    """One workload's stack output (``nginx``, ``zookeeper`` or ``mysql``)."""

    key: str
    namespace: str
    statefulset: str
    headless_service: str
    services: dict[str, dict[str, int]]
    replicas: int
    ports: dict[str, int]
    pod_dns: list[str]
    selector: dict[str, str]
    update_strategy: dict[str, Any]
    cluster_domain: str
    extra: dict[str, Any]

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, Any], key: str) -> App:
        """Parse ``outputs[key]``; fail with a clear message if the stack does not export it."""
        if key not in outputs:
            raise AssertionError(f"the stack exports no {key!r} output (outputs: {sorted(outputs)})")
        out = dict(outputs[key])
        known = {"namespace", "statefulset", "headless_service", "services", "replicas", "ports",
                 "pod_dns", "selector", "update_strategy"}
        missing = sorted(known - set(out))
        if missing:
            raise AssertionError(f"stack output {key!r} lacks {', '.join(missing)}")
        return cls(
            key=key,
            namespace=str(out["namespace"]),
            statefulset=str(out["statefulset"]),
            headless_service=str(out["headless_service"]),
            services={str(k): {str(n): int(p) for n, p in v.items()} for k, v in out["services"].items()},
            replicas=int(out["replicas"]),
            ports={str(k): int(v) for k, v in out["ports"].items()},
            pod_dns=[str(d) for d in out["pod_dns"]],
            selector={str(k): str(v) for k, v in out["selector"].items()},
            update_strategy=dict(out["update_strategy"]),
            cluster_domain=str(outputs.get("cluster_domain", "cluster.local")),
            extra={k: v for k, v in out.items() if k not in known},
        )

    @property
    def ordinals(self) -> list[int]:
        """The ordinals of the deployed pods, from their DNS names (they start at ``ordinals.start``)."""
        return [int(dns.split(".", 1)[0].rsplit("-", 1)[1]) for dns in self.pod_dns]

    @property
    def first(self) -> int:
        """The lowest ordinal (0 unless the stack sets ``ordinals.start``)."""
        return self.ordinals[0] if self.pod_dns else 0

    def pod(self, ordinal: int) -> str:
        """The pod name of an ordinal."""
        return f"{self.statefulset}-{ordinal}"

    def pods(self, count: int | None = None) -> list[str]:
        """Names of the first ``count`` pods by ordinal (default: the deployed replicas)."""
        return [self.pod(self.first + i) for i in range(self.replicas if count is None else count)]

    def dns(self, ordinal: int) -> str:
        """The stable DNS name of an ordinal's pod (also for ordinals beyond the deployed replicas)."""
        for dns in self.pod_dns:
            if dns.split(".", 1)[0] == self.pod(ordinal):
                return dns
        return f"{self.pod(ordinal)}.{self.headless_service}.{self.namespace}.svc.{self.cluster_domain}"

    def port(self, *names: str) -> int:
        """The first of the named ports the stack exports; fail naming what it does export."""
        for name in names:
            if name in self.ports:
                return self.ports[name]
        raise AssertionError(f"{self.key} exports no port named {' or '.join(names)} (ports: {self.ports})")


def outputs_of(stack: auto.Stack) -> dict[str, Any]:
    """Plain values of the stack outputs (secrets included, as plain values)."""
    return {k: v.value for k, v in stack.outputs().items()}


class _Remove:
    def __repr__(self) -> str:
        return "REMOVE"


#: A value in ``merge`` changes that deletes the key from the config.
REMOVE: Final = _Remove()


def merge(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` merged in: mappings recursively, ``REMOVE`` deletes, anything else replaces."""
    merged = copy.deepcopy(dict(base))
    for key, value in changes.items():
        old = merged.get(key)
        if value is REMOVE:
            merged.pop(key, None)
        elif isinstance(value, Mapping):
            merged[key] = merge(old if isinstance(old, Mapping) else {}, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def project_file(work_dir: Path) -> dict[str, Any]:
    """The project's ``Pulumi.yaml``, parsed."""
    return dict(yaml.safe_load((work_dir / "Pulumi.yaml").read_text(encoding="utf-8")) or {})


def stack_config_file(work_dir: Path, stack_name: str) -> Path:
    """The stack's settings file: ``Pulumi.<stack>.yaml`` in the project's ``stackConfigDir``."""
    return work_dir / str(project_file(work_dir).get("stackConfigDir", ".")) / f"Pulumi.{stack_name}.yaml"


class StackDriver:
    """Runs ``pulumi up`` with temporarily changed config, and back with the stack's own config."""

    def __init__(self, stack: auto.Stack, config_file: Path, project: str) -> None:
        """Drive ``stack``, whose own settings are ``config_file``, of the Pulumi project ``project``."""
        self.stack = stack
        self.config_file = config_file
        self.project = project
        self.changed = False

    def settings(self) -> dict[str, Any]:
        """The stack's own settings file, parsed (``config`` holds the structured app objects)."""
        if not self.config_file.exists():
            return {}
        return dict(yaml.safe_load(self.config_file.read_text(encoding="utf-8")) or {})

    def key(self, app: App) -> str:
        """The structured config key of an app, e.g. ``stateful:nginx``."""
        return f"{self.project}:{app.key}"

    def template_change(self, app: App, grace_period_s: int, **more: Any) -> dict[str, Any]:
        """Config changes that alter the pod template without altering behaviour, plus ``more``.

        The settings have no free-form pod annotations, so the change is one more second of
        ``terminationGracePeriodSeconds`` than the StatefulSet has now (``grace_period_s``).
        """
        return {self.key(app): {"terminationGracePeriodSeconds": grace_period_s + 1, **more}}

    @staticmethod
    def _emit(line: str) -> None:
        print(line.rstrip("\n"), flush=True)  # captured by pytest, shown with a failing test

    def _up(self, config_file: Path | None, *, refresh: bool = False) -> dict[str, Any]:
        self._emit(f"--- pulumi up{' --refresh' if refresh else ''} "
                   f"({'changed config' if config_file else 'stack config'})")
        result = self.stack.up(
            on_output=self._emit,
            color="never",
            config_file=str(config_file) if config_file else None,
            policy_packs=POLICY_PACKS,
            refresh=refresh or None,
        )
        return {k: v.value for k, v in result.outputs.items()}

    def up_with(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """``pulumi up`` with ``changes`` (e.g. ``{"stateful:nginx": {"replicas": 5}}``) merged into the config."""
        settings = self.settings()
        settings["config"] = merge(settings.get("config") or {}, changes)
        with tempfile.TemporaryDirectory(prefix="smoke-config-") as tmp:
            changed_file = Path(tmp) / self.config_file.name
            changed_file.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
            self.changed = True
            return self._up(changed_file)

    def preview_with(self, changes: Mapping[str, Any]) -> auto.PreviewResult:
        """``pulumi preview`` with ``changes`` merged into a temporary copy of the config."""
        settings = self.settings()
        settings["config"] = merge(settings.get("config") or {}, changes)
        with tempfile.TemporaryDirectory(prefix="smoke-config-") as tmp:
            changed_file = Path(tmp) / self.config_file.name
            changed_file.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
            self._emit("--- pulumi preview (changed config)")
            return self.stack.preview(
                on_output=self._emit, color="never", config_file=str(changed_file), policy_packs=POLICY_PACKS
            )

    def restore(self, *, refresh: bool = False) -> dict[str, Any]:
        """``pulumi up`` with the stack's own config; with ``refresh``, changes made with kubectl are taken back too."""
        outputs = self._up(None, refresh=refresh)
        self.changed = False
        return outputs

    @contextmanager
    def changed_config(self, changes: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """Deploy with ``changes`` for the duration of the block, then deploy the stack's config again.

        The block may call ``restore()`` itself to observe the way back; the restore on exit then
        only runs if something changed the stack since.
        """
        try:
            yield self.up_with(changes)
        finally:
            if self.changed:
                self.restore()
