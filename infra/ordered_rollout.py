"""Rolling an ``OnDelete`` StatefulSet in an order the app chooses, as a step of ``pulumi up`` that waits.

A RollingUpdate restarts pods in reverse ordinal order whatever their roles, so a replicated app whose
leader is not the last pod pays for more than one failover per rollout. Under ``OnDelete`` the
controller restarts nothing; ``OrderedRollout`` (a Pulumi dynamic resource run after the StatefulSet,
so ``pulumi preview`` shows it and ``pulumi up`` waits for it) does instead, one pod at a time:

1. wait until the controller has observed the current generation and every pod is Ready;
2. of the pods not on the update revision, delete first one that the app's ``last`` command (run in the
   pod) does not name, and the ones it names (the leader) only when no other pod is left; the command is
   asked again before every deletion, so a leader that moved is still restarted last;
3. wait until the pod is back on the update revision and Ready, and until every other member resolves
   its stable DNS name to its new address (the cluster DNS caches the name's absence for a few seconds
   after the old pod went; a peer that cannot resolve it cannot reach it in the next election), then go
   on.

It fails, naming the pod and what it saw, when a step runs past ``timeout_seconds``; the next ``pulumi
up`` resumes with the pods still on the old revision. Its state is small and plain, and it runs again
whenever the StatefulSet's generation changes (a pod-template change); deleting it changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
from kubernetes import client, config
from kubernetes.stream import stream
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider, UpdateResult

REVISION_LABEL = "controller-revision-hash"
POLL_SECONDS = 0.5
EXEC_TIMEOUT_SECONDS = 10
_INPUTS = ("namespace", "statefulset", "generation", "last", "container", "context")


@dataclass(frozen=True)
class PodState:
    """What the rollout needs of one pod."""

    name: str
    uid: str
    revision: str
    ready: bool
    deleting: bool


def next_pod(stale: Sequence[str], goes_last: Callable[[str], bool]) -> str:
    """The stale pod to delete next: the highest ordinal that does not go last, else a pod that does."""
    ordered = sorted(stale, key=lambda name: int(name.rsplit("-", 1)[1]), reverse=True)
    for name in ordered:
        if not goes_last(name):
            return name
    return ordered[0]


class _Cluster:
    def __init__(self, props: dict[str, Any]) -> None:
        api = config.new_client_from_config(context=props.get("context") or None)  # type: ignore[no-untyped-call]
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.namespace = str(props["namespace"])
        self.name = str(props["statefulset"])
        self.last = [str(word) for word in props.get("last") or []]
        self.container = str(props.get("container") or "") or None
        self.deadline_s = float(props.get("timeout_seconds") or 300)

    def statefulset(self) -> Any:
        return self.apps.read_namespaced_stateful_set(self.name, self.namespace)

    def pods(self) -> dict[str, PodState]:
        sts = self.statefulset()
        selector = ",".join(f"{k}={v}" for k, v in sorted((sts.spec.selector.match_labels or {}).items()))
        found: dict[str, PodState] = {}
        for pod in self.core.list_namespaced_pod(self.namespace, label_selector=selector).items:
            meta: Any = pod.metadata
            conditions = (pod.status and pod.status.conditions) or []
            ready = any(c.type == "Ready" and c.status == "True" for c in conditions)
            found[str(meta.name)] = PodState(
                name=str(meta.name),
                uid=str(meta.uid),
                revision=(meta.labels or {}).get(REVISION_LABEL, ""),
                ready=ready,
                deleting=meta.deletion_timestamp is not None,
            )
        return found

    def run_in(self, pod: str, command: list[str]) -> tuple[int, str]:
        """Run ``command`` in the pod's container; its exit code and standard output."""
        kwargs: dict[str, Any] = {"command": command, "stderr": True, "stdin": False, "stdout": True,
                                  "tty": False, "_preload_content": False}
        if self.container:
            kwargs["container"] = self.container
        resp = stream(self.core.connect_get_namespaced_pod_exec, pod, self.namespace, **kwargs)
        try:
            resp.run_forever(timeout=EXEC_TIMEOUT_SECONDS)
            return int(resp.returncode if resp.returncode is not None else -1), str(resp.read_stdout() or "")
        finally:
            resp.close()

    def goes_last(self, pod: str) -> bool:
        if not self.last:
            return False
        code, _ = self.run_in(pod, self.last)
        return code == 0

    def unresolved_by(self, pod: str) -> list[str]:
        """The other Ready members that do not yet resolve ``pod``'s stable name to its current address."""
        live: Any = self.core.read_namespaced_pod(pod, self.namespace)
        address, domain = live.status.pod_ip, live.spec.subdomain
        if not address or not domain:
            return []
        name = f"{pod}.{domain}"  # completed by each peer's search path (<namespace>.svc.<cluster domain>)
        lagging = []
        for peer, state in sorted(self.pods().items()):
            if peer == pod or not state.ready or state.deleting:
                continue
            code, out = self.run_in(peer, ["getent", "ahostsv4", name])
            if code != 0 or address not in {line.split()[0] for line in out.splitlines() if line.strip()}:
                lagging.append(peer)
        return lagging

    def wait(self, what: str, check: Callable[[], str | None]) -> None:
        """Poll ``check`` (None when done, else what it saw) until done or the deadline."""
        deadline = time.monotonic() + self.deadline_s
        while (seen := check()) is not None:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"rollout of StatefulSet {self.namespace}/{self.name}: timed out after {self.deadline_s:.0f} s "
                    f"waiting for {what}; last seen: {seen}"
                )
            time.sleep(POLL_SECONDS)


def _settled(cluster: _Cluster) -> tuple[str, dict[str, PodState]]:
    """Wait for the current generation to be observed and every pod to be Ready; the update revision."""
    state: dict[str, Any] = {}

    def check() -> str | None:
        sts = cluster.statefulset()
        status = sts.status
        if status.observed_generation != sts.metadata.generation:
            return f"observedGeneration {status.observed_generation} of {sts.metadata.generation}"
        pods = cluster.pods()
        replicas = sts.spec.replicas
        not_ready = sorted(name for name, pod in pods.items() if not pod.ready or pod.deleting)
        if len(pods) != replicas or not_ready:
            return f"{len(pods)} of {replicas} pods, not Ready: {not_ready}"
        state["revision"], state["pods"] = str(status.update_revision), pods
        return None

    cluster.wait("every pod to be Ready", check)
    return state["revision"], state["pods"]


def roll(props: dict[str, Any]) -> list[str]:
    """Restart every pod not on the update revision, those the ``last`` command names last; the order used."""
    cluster = _Cluster(props)
    order: list[str] = []
    while True:
        revision, pods = _settled(cluster)
        stale = [name for name, pod in pods.items() if pod.revision != revision]
        if not stale:
            return order
        name = next_pod(stale, cluster.goes_last)
        old_uid = pods[name].uid
        pulumi.log.info(f"rollout of {cluster.namespace}/{cluster.name}: restarting {name} ({len(stale)} to go)")
        cluster.core.delete_namespaced_pod(name, cluster.namespace)
        order.append(name)

        def back(name: str = name, old_uid: str = old_uid, revision: str = revision) -> str | None:
            pod = cluster.pods().get(name)
            if pod is None or pod.uid == old_uid:
                return "the old pod" if pod else "no pod yet"
            if pod.revision != revision or not pod.ready:
                return f"revision {pod.revision or '?'} (want {revision}), ready={pod.ready}"
            return None

        cluster.wait(f"{name} to be back on revision {revision} and Ready", back)

        def resolved(name: str = name) -> str | None:
            lagging = cluster.unresolved_by(name)
            return f"not resolved to its new address yet by {lagging}" if lagging else None

        cluster.wait(f"every other member to resolve {name} to its new address", resolved)


class OrderedRolloutProvider(ResourceProvider):
    """Create and update roll the stale pods; delete changes nothing."""

    serialize_as_secret_always = False

    def create(self, props: dict[str, Any]) -> CreateResult:
        """Roll whatever is stale (nothing on a fresh StatefulSet)."""
        roll(props)
        return CreateResult(id_=f"{props['namespace']}/{props['statefulset']}", outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        """Changed when the generation (a spec change) or how to roll changed."""
        changed = [key for key in _INPUTS if olds.get(key) != news.get(key)]
        return DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Roll the pods the new generation left on the old revision."""
        roll(news)
        return UpdateResult(outs=news)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Nothing to undo."""


class OrderedRollout(Resource, module="stateful", name="OrderedRollout"):
    """Every pod of an ``OnDelete`` StatefulSet on its update revision, the ``last`` ones restarted last."""

    def __init__(
        self,
        name: str,
        *,
        namespace: pulumi.Input[str],
        statefulset: str,
        generation: pulumi.Input[int],
        last: Sequence[str],
        container: str,
        context: str | None,
        timeout_seconds: int,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """Register the rollout (after the StatefulSet: pass ``depends_on`` in ``opts``).

        ``last`` is a command run in each pod that exits 0 when the pod must be restarted last.
        """
        props = {
            "namespace": namespace,
            "statefulset": statefulset,
            "generation": generation,
            "last": list(last),
            "container": container,
            "context": context or "",
            "timeout_seconds": timeout_seconds,
        }
        super().__init__(OrderedRolloutProvider(), name, props, opts)
