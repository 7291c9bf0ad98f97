"""Kubernetes API helpers for the smoke tests: pods, StatefulSets, exec, and a pod-event recorder.

Everything goes through the official client; nothing parses kubectl output. Names come from the
stack outputs (see ``stack.App``); this module only knows generic StatefulSet behaviour.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream

from .waits import wait_until

#: How long one pod may take to be recreated and become Ready (image present, volume attached).
POD_READY_S = 300.0


@dataclass(frozen=True)
class Kube:
    """The API groups the smoke tests use."""

    core: Any  # kubernetes.client.CoreV1Api (the client ships no type information)
    apps: Any  # kubernetes.client.AppsV1Api
    policy: Any = None  # kubernetes.client.PolicyV1Api


def connect(context: str | None) -> Kube:
    """Clients for the kubeconfig in ``$KUBECONFIG`` and the given context (its current one if None).

    ``$KUBECONFIG`` is read now, not when the client was imported (its default is fixed at import).
    """
    load: Any = config.load_kube_config  # the client's loaders are untyped
    load(config_file=os.environ.get("KUBECONFIG") or None, context=context)
    return Kube(core=client.CoreV1Api(), apps=client.AppsV1Api(), policy=client.PolicyV1Api())


def label_selector(labels: Mapping[str, str]) -> str:
    """``k=v,k2=v2`` for a label query."""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def ordinal(pod_name: str) -> int:
    """The ordinal at the end of a StatefulSet pod's name."""
    return int(pod_name.rsplit("-", 1)[1])


def is_ready(pod: Any) -> bool:
    """Whether the pod is Ready and not being deleted."""
    if pod.metadata.deletion_timestamp is not None:
        return False
    for cond in pod.status.conditions or ():
        if cond.type == "Ready":
            return bool(cond.status == "True")
    return False


def ready_since(pod: Any) -> datetime | None:
    """When the pod last became Ready, or None if it is not Ready."""
    for cond in pod.status.conditions or ():
        if cond.type == "Ready" and cond.status == "True":
            return cast(datetime, cond.last_transition_time)
    return None


def restarts(pod: Any) -> int:
    """How often the kubelet restarted the pod's containers, all together."""
    return sum(s.restart_count for s in pod.status.container_statuses or ())


def revision(pod: Any) -> str:
    """The StatefulSet revision the pod was created from (its controller-revision-hash label)."""
    return str((pod.metadata.labels or {}).get("controller-revision-hash", ""))


def describe(pod: Any) -> str:
    """One line of the state that matters when a wait times out."""
    if pod is None:
        return "absent"
    deleting = " deleting" if pod.metadata.deletion_timestamp else ""
    return (f"{pod.metadata.name} uid={pod.metadata.uid[:8]} phase={pod.status.phase} "
            f"ready={is_ready(pod)} ip={pod.status.pod_ip} rev={revision(pod)}{deleting}")


def get_pod(kube: Kube, namespace: str, name: str) -> Any:
    """The pod, or None if it does not exist."""
    try:
        return kube.core.read_namespaced_pod(name, namespace)
    except ApiException as err:
        if err.status == 404:
            return None
        raise


def pod_uids(kube: Kube, namespace: str, names: Iterable[str]) -> dict[str, str]:
    """Name to UID of the named pods that exist now."""
    found: dict[str, str] = {}
    for name in names:
        pod = get_pod(kube, namespace, name)
        if pod is not None:
            found[name] = str(pod.metadata.uid)
    return found


def wait_ready(
    kube: Kube,
    namespace: str,
    names: Iterable[str],
    *,
    not_uids: Mapping[str, str] | None = None,
    timeout: float = POD_READY_S,
) -> dict[str, Any]:
    """Wait until every named pod is Ready (and, if ``not_uids`` is given, is a new pod); return them."""
    wanted = list(names)
    replaced = not_uids or {}

    def observe() -> dict[str, Any]:
        return {name: get_pod(kube, namespace, name) for name in wanted}

    def done(pods: dict[str, Any]) -> bool:
        return all(p is not None and is_ready(p) and p.metadata.uid != replaced.get(n)
                   for n, p in pods.items())

    what = f"pods {', '.join(wanted)} to be Ready" + (" as new pods" if replaced else "")
    try:
        return wait_until(observe, timeout, what, until=done)
    except AssertionError:
        state = "; ".join(describe(p) if p is not None else f"{n} absent" for n, p in observe().items())
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; now: {state}") from None


def delete_pods(kube: Kube, namespace: str, names: Iterable[str]) -> None:
    """Delete the named pods (graceful, as ``kubectl delete pod`` does)."""
    for name in names:
        kube.core.delete_namespaced_pod(name, namespace)


def statefulset(kube: Kube, namespace: str, name: str) -> Any:
    """The StatefulSet object."""
    return kube.apps.read_namespaced_stateful_set(name, namespace)


def grace_period(kube: Kube, namespace: str, name: str) -> int:
    """The pod template's terminationGracePeriodSeconds (30 when unset)."""
    value = statefulset(kube, namespace, name).spec.template.spec.termination_grace_period_seconds
    return 30 if value is None else int(value)


def wait_rolled_out(kube: Kube, namespace: str, name: str, timeout: float = POD_READY_S) -> Any:
    """Wait until the controller has seen the latest spec and every replica is Ready on the update revision.

    Under OnDelete the controller never moves ``currentRevision`` on to the update revision once every
    pod is on it, so there ``updatedReplicas`` alone says so.
    """

    def done(sts: Any) -> bool:
        st = sts.status
        on_delete = sts.spec.update_strategy is not None and sts.spec.update_strategy.type == "OnDelete"
        return bool(
            (st.observed_generation or 0) >= sts.metadata.generation
            and (st.ready_replicas or 0) == sts.spec.replicas
            and (st.replicas or 0) == sts.spec.replicas
            and (st.updated_replicas or 0) == sts.spec.replicas
            and (on_delete or st.current_revision == st.update_revision)
        )

    def observe() -> Any:
        return statefulset(kube, namespace, name)

    try:
        return wait_until(observe, timeout, f"StatefulSet {name} to finish rolling out", until=done)
    except AssertionError:
        sts = observe()
        st, strategy = sts.status, sts.spec.update_strategy
        held = ""
        partition = strategy.rolling_update.partition if strategy and strategy.rolling_update else None
        if partition:
            held = (f"; the live partition is {partition}, so pods below ordinal {partition} stay on the old "
                    "revision (changed outside the stack? `make up` refreshes and takes it back)")
        raise AssertionError(
            f"timed out after {timeout:.0f} s waiting for StatefulSet {name} to finish rolling out; "
            f"replicas={st.replicas} ready={st.ready_replicas} updated={st.updated_replicas} "
            f"current={st.current_revision} update={st.update_revision}"
            f" strategy={strategy.type if strategy else None}{held}") from None


def pvc_names(kube: Kube, namespace: str) -> set[str]:
    """Names of the PersistentVolumeClaims in the namespace."""
    return {p.metadata.name for p in kube.core.list_namespaced_persistent_volume_claim(namespace).items}


def claim_names(kube: Kube, namespace: str, sts_name: str, ordinals: Iterable[int]) -> list[str]:
    """Names of the claims the StatefulSet's volumeClaimTemplates give the pods with these ordinals."""
    sts = statefulset(kube, namespace, sts_name)
    templates = [t.metadata.name for t in sts.spec.volume_claim_templates or ()]
    return [f"{t}-{sts_name}-{i}" for i in ordinals for t in templates]


def delete_pvcs(kube: Kube, namespace: str, names: Iterable[str]) -> None:
    """Delete the named claims, ignoring those already gone."""
    for name in names:
        try:
            kube.core.delete_namespaced_persistent_volume_claim(name, namespace)
        except ApiException as err:
            if err.status != 404:
                raise


def exec_in_pod(
    kube: Kube,
    namespace: str,
    pod: str,
    command: list[str],
    *,
    container: str | None = None,
    timeout: float = 30.0,
) -> str:
    """Run a command in a pod through the API and return its stdout; fail on a non-zero exit."""
    kwargs: dict[str, Any] = {"command": command, "stderr": True, "stdin": False, "stdout": True,
                              "tty": False, "_preload_content": False}
    if container:
        kwargs["container"] = container
    resp = stream(kube.core.connect_get_namespaced_pod_exec, pod, namespace, **kwargs)
    try:
        resp.run_forever(timeout=timeout)
        out = str(resp.read_stdout() or "")
        err = str(resp.read_stderr() or "")
        code = resp.returncode
    finally:
        resp.close()
    if code != 0:
        raise AssertionError(f"{' '.join(command)!r} in {pod} exited {code}: {err.strip() or out.strip()}")
    return out


def container_mount(kube: Kube, namespace: str, sts_name: str) -> tuple[str, str]:
    """(container, mount path) of the first container that mounts the first volumeClaimTemplate."""
    sts = statefulset(kube, namespace, sts_name)
    claim = sts.spec.volume_claim_templates[0].metadata.name
    for c in sts.spec.template.spec.containers:
        for m in c.volume_mounts or ():
            if m.name == claim:
                return str(c.name), str(m.mount_path)
    raise AssertionError(f"no container of StatefulSet {sts_name} mounts its volume claim {claim!r}")


def _new_watch() -> Any:
    make: Any = watch.Watch  # untyped in the client
    return make()


# --- recording pod events ----------------------------------------------------------------------


@dataclass(frozen=True)
class PodSeen:
    """One pod event as the watch delivered it; ``seq`` orders events exactly (resourceVersion order)."""

    seq: int
    event: str
    name: str
    uid: str
    created: datetime
    ready: bool
    ready_since: datetime | None
    deleting: bool
    revision: str


def _seen(seq: int, event: str, pod: Any) -> PodSeen:
    return PodSeen(
        seq=seq,
        event=event,
        name=str(pod.metadata.name),
        uid=str(pod.metadata.uid),
        created=pod.metadata.creation_timestamp,
        ready=is_ready(pod),
        ready_since=ready_since(pod),
        deleting=event == "DELETED" or pod.metadata.deletion_timestamp is not None,
        revision=revision(pod),
    )


@dataclass
class PodRecorder:
    """Watches a StatefulSet's pods in a thread and keeps every event, in order.

    Use as a context manager around the action (``pulumi up``, a pod deletion) whose effect on pods
    you want to check. The watch starts from the resourceVersion of an initial list, so no event
    between the list and the action is missed; it reconnects every few seconds so that leaving the
    block returns promptly.
    """

    kube: Kube
    namespace: str
    labels: Mapping[str, str]
    initial: dict[str, PodSeen] = field(default_factory=dict)  # by uid
    events: list[PodSeen] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None
    _rv: str = ""

    def __enter__(self) -> PodRecorder:
        """List the pods, then start watching from that list's resourceVersion."""
        listing = self.kube.core.list_namespaced_pod(self.namespace,
                                                     label_selector=label_selector(self.labels))
        for pod in listing.items:
            seen = _seen(0, "INITIAL", pod)
            self.initial[seen.uid] = seen
        self._rv = str(listing.metadata.resource_version)
        self._thread = threading.Thread(target=self._run, name="pod-recorder", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop watching (within the watch's few-second reconnect interval)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        rv = self._rv
        while not self._stop.is_set():
            w = _new_watch()
            try:
                for ev in w.stream(self.kube.core.list_namespaced_pod, self.namespace,
                                   label_selector=label_selector(self.labels),
                                   resource_version=rv, timeout_seconds=5):
                    pod = ev["object"]
                    rv = str(pod.metadata.resource_version)
                    with self._lock:
                        self.events.append(_seen(len(self.events) + 1, str(ev["type"]), pod))
                    if self._stop.is_set():
                        w.stop()
            except ApiException as err:
                # A 410 means events were lost: the recorded order can no longer be trusted.
                with self._lock:
                    self.errors.append(f"watch failed: {err.status} {err.reason}")
                if err.status == 410:
                    return
                self._stop.wait(1.0)
            except Exception as err:  # a dropped connection: resume from rv
                with self._lock:
                    self.errors.append(f"watch interrupted: {type(err).__name__}: {err}")
                self._stop.wait(1.0)

    def snapshot(self) -> list[PodSeen]:
        """The events recorded so far."""
        with self._lock:
            return list(self.events)

    def wait_for(self, check: Callable[[list[PodSeen]], bool], timeout: float, what: str) -> list[PodSeen]:
        """Wait until ``check`` holds on the recorded events."""
        return wait_until(self.snapshot, timeout, what, until=check, interval=0.5)

    # The questions the tests ask of a recording.

    def created(self) -> list[PodSeen]:
        """First event of every pod that did not exist when recording started, in creation order."""
        firsts: dict[str, PodSeen] = {}
        for ev in self.snapshot():
            if ev.uid not in self.initial and ev.uid not in firsts:
                firsts[ev.uid] = ev
        return sorted(firsts.values(), key=lambda e: e.seq)

    def first_ready(self, uid: str) -> PodSeen | None:
        """The first observation of the pod as Ready (the initial list counts)."""
        if uid in self.initial and self.initial[uid].ready:
            return self.initial[uid]
        return next((e for e in self.snapshot() if e.uid == uid and e.ready), None)

    def deletions(self) -> list[PodSeen]:
        """First event showing each pod being deleted, in the order deletion began."""
        firsts: dict[str, PodSeen] = {}
        for ev in self.snapshot():
            if ev.deleting and ev.uid not in firsts:
                firsts[ev.uid] = ev
        return sorted(firsts.values(), key=lambda e: e.seq)

    def gone(self) -> set[str]:
        """UIDs of the pods whose removal the watch reported."""
        return {e.uid for e in self.snapshot() if e.event == "DELETED"}

