"""The two ways to deploy the same objects: ours (``pulumi up`` of a scratch stack) and the peer's (``kubectl``).

Ours is a stack of the project with all three apps in namespaces of its own (``harness/scratch.py``
creates it, as the day-2 drills do), deployed and destroyed with the real ``pulumi up`` / ``destroy``
and the policy pack. The peer applies the very objects our deploy created, read back from the scratch
stack's state (``pulumi stack export``), with every namespace name swapped for one of its own, and
waits with ``kubectl rollout status`` on each StatefulSet: what a user without Pulumi would run.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto

from harness import scratch as scratch_stacks
from harness.stack import POLICY_PACKS

from .engine import EventClock
from .kube import Kube, delete_namespace
from .stack import REPO, STACK
from .waits import wait_for

APPS: tuple[str, ...] = scratch_stacks.APPS

#: A StatefulSet must be rolled out within this long (the stack's own rolloutTimeoutSeconds is 300).
ROLLOUT_S = 300


def project_name() -> str:
    """The Pulumi project's name (``Pulumi.yaml``)."""
    return str(yaml.safe_load((REPO / "Pulumi.yaml").read_text(encoding="utf-8"))["name"])


def stack_config_dir() -> Path:
    """Where the stacks' settings files live (the project's ``stackConfigDir``)."""
    project = yaml.safe_load((REPO / "Pulumi.yaml").read_text(encoding="utf-8")) or {}
    return REPO / str(project.get("stackConfigDir", "."))


def unwrap_secrets(value: Any) -> Any:
    """A ``stack export --show-secrets`` value with each secret envelope replaced by its plain value."""
    if isinstance(value, dict):
        if "plaintext" in value and len(value) == 2:  # {"<secret signature>": ..., "plaintext": "<json>"}
            return unwrap_secrets(json.loads(value["plaintext"]))
        return {k: unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v) for v in value]
    return value


def kubernetes_objects(deployment: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The Kubernetes objects of a stack's state (their inputs), Namespaces first."""
    objects = [unwrap_secrets(r["inputs"]) for r in deployment.get("resources", ())
               if str(r.get("type", "")).startswith("kubernetes:") and r.get("inputs") and not r.get("delete")]
    return sorted(objects, key=lambda o: o.get("kind") != "Namespace")


def renamed(objects: list[dict[str, Any]], names: Mapping[str, str]) -> list[dict[str, Any]]:
    """``objects`` with every occurrence of each namespace name replaced (metadata, DNS names in configs)."""
    text = json.dumps(objects)
    for old, new in names.items():
        text = text.replace(old, new)
    result: list[dict[str, Any]] = json.loads(text)
    return result


@dataclass(frozen=True)
class StatefulSetRef:
    """A StatefulSet of a side, with its pod management policy."""

    app: str
    namespace: str
    name: str
    policy: str


def statefulsets(objects: list[dict[str, Any]], namespaces: Mapping[str, str]) -> list[StatefulSetRef]:
    """The StatefulSets among ``objects``, each with the app whose namespace it is in."""
    app_of = {ns: app for app, ns in namespaces.items()}
    return [
        StatefulSetRef(app=app_of.get(o["metadata"]["namespace"], "?"), namespace=o["metadata"]["namespace"],
                       name=o["metadata"]["name"], policy=o["spec"].get("podManagementPolicy", "OrderedReady"))
        for o in objects if o.get("kind") == "StatefulSet"
    ]


def kubectl(
    args: list[str], *, timeout: float, check: bool = True, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``kubectl ARGS``; fail with its output unless ``check`` is off."""
    proc = subprocess.run(["kubectl", *args], capture_output=True, text=True, timeout=timeout, input=stdin,
                          check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args[:3])} exited {proc.returncode}: {proc.stderr.strip()[-400:]}")
    return proc


@dataclass
class Ours:
    """The scratch stack: ``pulumi up`` of all three apps in namespaces ``<prefix>-<app>``."""

    run_id: str
    log: Callable[[str], None]
    apps: tuple[str, ...] = APPS
    namespaces: dict[str, str] = field(init=False)
    scratch: scratch_stacks.ScratchStack = field(init=False)

    def __post_init__(self) -> None:
        """Prepare (not create) the scratch stack, with the local stack's settings and fresh passwords."""
        self.namespaces = {app: f"bo{self.run_id}-{app}" for app in self.apps}
        project = project_name()
        settings = yaml.safe_load((stack_config_dir() / f"Pulumi.{STACK}.yaml").read_text(encoding="utf-8")) or {}
        self.scratch = scratch_stacks.ScratchStack(
            work_dir=REPO, config_dir=stack_config_dir(), project=project, name=f"bench-{self.run_id}",
            base=scratch_stacks.base_config(settings, project, {app: self.namespaces.get(app) for app in APPS}),
            passwords={key: secrets.token_hex(12) for key in scratch_stacks.SECRET_KEYS},
            emit=self.log,  # its own create/destroy output goes to the log too, not to the table
        )

    @property
    def stack(self) -> auto.Stack:
        """The Automation API stack (after ``create``)."""
        stack: auto.Stack | None = self.scratch.stack
        if stack is None:
            raise RuntimeError(f"scratch stack {self.scratch.name} was not created")
        return stack

    def create(self) -> None:
        """Create the stack and its settings file; nothing is deployed."""
        self.scratch.create()

    def up(self, clock: EventClock | None = None) -> auto.UpResult:
        """``pulumi up`` with the policy pack, as ``make up`` runs it; ``clock`` receives the engine's events."""
        result = self.stack.up(on_output=self.log, on_event=clock, color="never", policy_packs=POLICY_PACKS)
        if clock is not None:
            clock.done()
        return result

    def preview(self) -> auto.PreviewResult:
        """``pulumi preview`` with the policy pack."""
        return self.stack.preview(on_output=self.log, color="never", policy_packs=POLICY_PACKS)

    def destroy(self, kube: Kube) -> None:
        """``pulumi destroy``; then wait until the namespaces and their volumes are gone."""
        self.stack.destroy(on_output=self.log, color="never")
        for namespace in self.namespaces.values():
            delete_namespace(kube, namespace, timeout=180.0)

    def objects(self) -> list[dict[str, Any]]:
        """The Kubernetes objects the deployed stack holds, read back from its state."""
        return kubernetes_objects(self.stack.export_stack().deployment or {})

    def remove(self) -> None:
        """Destroy the stack, remove it and its settings file."""
        self.scratch.remove()


def rolling(obj: dict[str, Any]) -> dict[str, Any]:
    """An ``OnDelete`` StatefulSet as a kubectl user runs it: with ``RollingUpdate``.

    Ours rolls ZooKeeper with the program's leader-last step, which ``kubectl`` has not, and ``kubectl
    rollout status`` and ``restart`` work with RollingUpdate only.
    """
    spec = obj.get("spec") or {}
    if obj.get("kind") == "StatefulSet" and (spec.get("updateStrategy") or {}).get("type") == "OnDelete":
        return {**obj, "spec": {**spec, "updateStrategy": {"type": "RollingUpdate"}}}
    return obj


@dataclass
class Peer:
    """``kubectl apply`` of the same objects into namespaces ``<prefix>-<app>`` and ``rollout status``."""

    run_id: str
    objects: list[dict[str, Any]]
    sets: list[StatefulSetRef]
    namespaces: dict[str, str]
    manifest: Path

    @classmethod
    def of(cls, ours: Ours, objects: list[dict[str, Any]], manifest: Path) -> Peer:
        """The peer of ``ours``: its objects with the namespaces renamed, written to ``manifest``."""
        namespaces = {app: f"bp{ours.run_id}-{app}" for app in ours.apps}
        mine = [rolling(o) for o in renamed(objects, {ours.namespaces[app]: namespaces[app] for app in ours.apps})]
        manifest.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": mine}, indent=1),
                            encoding="utf-8")
        return cls(run_id=ours.run_id, objects=mine, sets=statefulsets(mine, namespaces), namespaces=namespaces,
                   manifest=manifest)

    def apply(self) -> None:
        """``kubectl apply -f`` of the objects."""
        kubectl(["apply", "-f", str(self.manifest)], timeout=120)

    def rollout_status(self, sts: StatefulSetRef) -> None:
        """``kubectl rollout status`` of one StatefulSet."""
        kubectl(["rollout", "status", f"statefulset/{sts.name}", "-n", sts.namespace, f"--timeout={ROLLOUT_S}s"],
                timeout=ROLLOUT_S + 30)

    def deploy(self) -> None:
        """Apply, then wait for each StatefulSet's rollout in turn."""
        self.apply()
        for sts in self.sets:
            self.rollout_status(sts)

    def diff(self) -> bool:
        """``kubectl diff``: whether it found differences (exit 1); any other failure raises."""
        proc = kubectl(["diff", "-f", str(self.manifest)], timeout=120, check=False)
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"kubectl diff exited {proc.returncode}: {proc.stderr.strip()[-400:]}")
        return proc.returncode == 1

    def restart(self, sts: StatefulSetRef) -> None:
        """``kubectl rollout restart`` of one StatefulSet, then its ``rollout status``."""
        kubectl(["rollout", "restart", f"statefulset/{sts.name}", "-n", sts.namespace], timeout=60)
        self.rollout_status(sts)

    def delete(self, kube: Kube) -> None:
        """Delete the namespaces; wait until they and their volumes are gone."""
        for namespace in self.namespaces.values():
            delete_namespace(kube, namespace, timeout=180.0)


def timed(action: Callable[[], Any]) -> tuple[float, float, Any]:
    """Run ``action``; return (wall-clock start, seconds, its result)."""
    start = time.time()
    began = time.perf_counter()
    result = action()
    return start, time.perf_counter() - began, result


def wait_gone(kube: Kube, namespaces: list[str], timeout: float) -> None:
    """Wait until none of ``namespaces`` exists (a teardown that was interrupted)."""
    def gone() -> bool | None:
        names = {ns.metadata.name for ns in kube.core.list_namespace(_request_timeout=10).items}
        return None if names & set(namespaces) else True

    wait_for(gone, timeout, f"namespaces {', '.join(namespaces)} gone", interval=0.5)
