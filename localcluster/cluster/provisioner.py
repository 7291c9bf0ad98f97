"""Dynamic host-path volumes for StorageClasses whose provisioner is ``stateful.local/hostpath``.

Run by ``localcluster.cluster up`` as a host process (``python -m localcluster.cluster.provisioner``).

- A Pending PVC of such a class gets a directory ``<volumes>/<namespace>/<claim>-<uid8>`` (mode
  0777, so non-root pods can write without knowing their uid) and a ``hostPath`` PV
  (``DirectoryOrCreate``) pre-bound to it through ``claimRef``; the PV controller completes the
  binding. The PV has no node affinity: every node of this cluster shares the machine's disk, so
  the data follows a pod to whichever node it lands on.
- A Released PV of ours with reclaim policy ``Delete`` loses its directory, then the PV is deleted.
  ``Retain`` keeps both.
- A bound claim whose request grew beyond its capacity (the StorageClass allows expansion) is
  resized: a directory has no size of its own, so expanding means reporting the new capacity, on
  the PV first and then in the claim's status, as a CSI resizer does once the volume has grown.
  Shrinking is refused by the API server before it gets here.

The loop is level-triggered: PVC and PV watches only wake it, and every pass reconciles from a
full list, so nothing is missed across restarts or dropped watches.
"""

from __future__ import annotations

import argparse
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch
from kubernetes.utils import parse_quantity as _parse_quantity

PROVISIONER = "stateful.local/hostpath"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
RESYNC_S = 10.0


def log(message: str) -> None:
    """One line to the provisioner's log (stdout)."""
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


def volume_dir(volumes: Path, namespace: str, claim: str, uid: str) -> Path:
    """Directory of a claim's volume."""
    return volumes / namespace / f"{claim}-{uid[:8]}"


def inside(path: Path, root: Path) -> bool:
    """True when ``path`` is strictly below ``root`` (after resolving links)."""
    real, base = Path(os.path.realpath(path)), Path(os.path.realpath(root))
    return base in real.parents


def persistent_volume(pvc: Any, path: Path, reclaim: str) -> client.V1PersistentVolume:
    """The PV for a claim: host path, same size/modes, pre-bound via claimRef."""
    meta = pvc.metadata
    return client.V1PersistentVolume(
        metadata=client.V1ObjectMeta(
            name=f"pvc-{meta.uid}",
            annotations={PROVISIONED_BY: PROVISIONER},
            labels={"stateful.local/claim-namespace": meta.namespace},
        ),
        spec=client.V1PersistentVolumeSpec(
            capacity={"storage": pvc.spec.resources.requests["storage"]},
            access_modes=pvc.spec.access_modes,
            volume_mode=pvc.spec.volume_mode or "Filesystem",
            persistent_volume_reclaim_policy=reclaim,
            storage_class_name=pvc.spec.storage_class_name,
            host_path=client.V1HostPathVolumeSource(path=str(path), type="DirectoryOrCreate"),
            claim_ref=client.V1ObjectReference(
                api_version="v1", kind="PersistentVolumeClaim", namespace=meta.namespace,
                name=meta.name, uid=meta.uid,
            ),
        ),
    )


def parse_quantity(text: str) -> float:
    """A Kubernetes quantity in base units."""
    return float(_parse_quantity(text))  # type: ignore[no-untyped-call]


def needs_resize(pvc: Any, pv: Any) -> bool:
    """True when a bound claim of ours requests more than it reports having."""
    if (pv.metadata.annotations or {}).get(PROVISIONED_BY) != PROVISIONER or pvc.status.phase != "Bound":
        return False
    requested = (pvc.spec.resources.requests or {}).get("storage")
    capacity = (pvc.status.capacity or {}).get("storage")
    return requested is not None and capacity is not None and parse_quantity(requested) > parse_quantity(capacity)


class Provisioner:
    """One reconcile pass over StorageClasses, PVCs and PVs."""

    def __init__(self, core: client.CoreV1Api, storage: client.StorageV1Api, volumes: Path) -> None:
        """Use these API clients; keep volumes under ``volumes``."""
        self.core = core
        self.storage = storage
        self.volumes = volumes

    def reconcile(self) -> None:
        """Provision every pending claim of our classes; reclaim every released volume of ours."""
        # Server responses always carry metadata/spec/status: read them as plain objects.
        storage_classes: list[Any] = self.storage.list_storage_class().items
        pvs: list[Any] = self.core.list_persistent_volume().items
        pvcs: list[Any] = self.core.list_persistent_volume_claim_for_all_namespaces().items
        classes = {sc.metadata.name: sc.reclaim_policy or "Delete"
                   for sc in storage_classes if sc.provisioner == PROVISIONER}
        claimed = {pv.spec.claim_ref.uid for pv in pvs if pv.spec.claim_ref is not None}
        for pvc in pvcs:
            if (
                pvc.spec.storage_class_name in classes
                and not pvc.spec.volume_name
                and pvc.metadata.deletion_timestamp is None
                and (pvc.status.phase or "Pending") == "Pending"
                and pvc.metadata.uid not in claimed
            ):
                self.provision(pvc, classes[pvc.spec.storage_class_name])
        by_name = {pv.metadata.name: pv for pv in pvs}
        for pvc in pvcs:
            pv = by_name.get(pvc.spec.volume_name or "")
            if pvc.spec.storage_class_name in classes and pv is not None and needs_resize(pvc, pv):
                self.resize(pvc, pv)
        for pv in pvs:
            mine = (pv.metadata.annotations or {}).get(PROVISIONED_BY) == PROVISIONER
            if mine and pv.status.phase in ("Released", "Failed") and (
                pv.spec.persistent_volume_reclaim_policy == "Delete"
            ):
                self.reclaim(pv)

    def provision(self, pvc: Any, reclaim: str) -> None:
        """Create the directory and the pre-bound PV of one claim."""
        meta = pvc.metadata
        if (pvc.spec.volume_mode or "Filesystem") != "Filesystem":
            log(f"skip {meta.namespace}/{meta.name}: only volumeMode Filesystem is supported")
            return
        path = volume_dir(self.volumes, meta.namespace, meta.name, meta.uid)
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o777)  # any pod user may write; see the module docstring
        try:
            self.core.create_persistent_volume(persistent_volume(pvc, path, reclaim))
        except client.ApiException as err:
            if err.status != 409:
                raise
        log(f"provisioned pvc-{meta.uid} for {meta.namespace}/{meta.name} at {path}")

    def resize(self, pvc: Any, pv: Any) -> None:
        """Report a grown claim's new capacity: on its PV, then in the claim's status."""
        meta = pvc.metadata
        size = pvc.spec.resources.requests["storage"]
        if parse_quantity(pv.spec.capacity["storage"]) < parse_quantity(size):
            self.core.patch_persistent_volume(pv.metadata.name, {"spec": {"capacity": {"storage": size}}})
        status = {
            "capacity": {"storage": size},
            "allocatedResources": {"storage": size},
            "allocatedResourceStatuses": None,
            "conditions": None,
        }
        self.core.patch_namespaced_persistent_volume_claim_status(meta.name, meta.namespace, {"status": status})
        log(f"resized {meta.namespace}/{meta.name} ({pv.metadata.name}) to {size}")

    def reclaim(self, pv: Any) -> None:
        """Delete a released volume's directory, then its PV."""
        path = Path(pv.spec.host_path.path) if pv.spec.host_path else None
        if path is not None and path.exists():
            if not inside(path, self.volumes):
                log(f"refusing to delete {path} of {pv.metadata.name}: not under {self.volumes}")
                return
            shutil.rmtree(path)
            parent = path.parent
            if parent != self.volumes and inside(parent, self.volumes) and not any(parent.iterdir()):
                parent.rmdir()
        try:
            self.core.delete_persistent_volume(pv.metadata.name)
        except client.ApiException as err:
            if err.status != 404:
                raise
        log(f"deleted {pv.metadata.name} and {path}")


def _watch_forever(list_fn: Callable[..., Any], wake: threading.Event) -> None:
    """Wake the reconcile loop on every change of one kind (restarting the watch forever)."""
    while True:
        try:
            for _event in watch.Watch().stream(list_fn, timeout_seconds=300):  # type: ignore[no-untyped-call]
                wake.set()
        except Exception as err:
            log(f"watch {getattr(list_fn, '__name__', list_fn)} restarted: {err}")
            time.sleep(1)
        wake.set()


def main() -> None:
    """Parse arguments and reconcile until killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--volumes", required=True, type=Path)
    parser.add_argument("--heartbeat", required=True, type=Path)
    args = parser.parse_args()
    config.load_kube_config(config_file=args.kubeconfig)  # type: ignore[no-untyped-call]
    args.volumes.mkdir(parents=True, exist_ok=True)
    core, storage = client.CoreV1Api(), client.StorageV1Api()
    provisioner = Provisioner(core, storage, args.volumes)
    wake = threading.Event()
    for list_fn in (core.list_persistent_volume_claim_for_all_namespaces, core.list_persistent_volume):
        threading.Thread(target=_watch_forever, args=(list_fn, wake), daemon=True).start()
    log(f"provisioner {PROVISIONER} started; volumes under {args.volumes}")
    while True:
        wake.clear()
        try:
            provisioner.reconcile()
            args.heartbeat.touch()
        except Exception as err:
            log(f"reconcile failed: {type(err).__name__}: {err}")
        wake.wait(RESYNC_S)


if __name__ == "__main__":
    main()
