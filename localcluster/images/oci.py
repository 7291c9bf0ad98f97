"""Write a one-layer OCI image-layout archive in pure Python (no umoci, skopeo or docker).

The archive is a tar of an OCI image layout (``oci-layout``, ``index.json``, ``blobs/sha256/…``)
that ``ctr images import`` reads. The layer is the uncompressed rootfs tar, so its digest is also
its diff ID. ``index.json`` names the image twice, the way BuildKit's OCI exporter does:
``io.containerd.image.name`` carries the full reference (``ctr`` uses it as is) and
``org.opencontainers.image.ref.name`` the tag (for ``ctr images import --base-name <repo>``).
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar"
ANNOTATION_CONTAINERD_NAME = "io.containerd.image.name"
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
_CHUNK = 1 << 20


@dataclass(frozen=True, kw_only=True)
class Descriptor:
    """A content descriptor: media type, ``sha256:`` digest and size in bytes."""

    media_type: str
    digest: str
    size: int

    def to_json(self, **extra: object) -> dict[str, object]:
        """Render the descriptor as OCI JSON, with optional extra fields (platform, annotations)."""
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size, **extra}


@dataclass(frozen=True, kw_only=True)
class ImageConfig:
    """The runtime part of an image config (what ``docker inspect`` shows under ``Config``)."""

    user: str = ""
    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    workdir: str = "/"
    stop_signal: str = ""
    ports: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    architecture: str = "amd64"
    os: str = "linux"


def canonical_json(value: object) -> bytes:
    """Deterministic JSON bytes (sorted keys, no whitespace): same content, same digest."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def describe_bytes(media_type: str, data: bytes) -> Descriptor:
    """Descriptor of an in-memory blob."""
    return Descriptor(media_type=media_type, digest=f"sha256:{hashlib.sha256(data).hexdigest()}", size=len(data))


def describe_file(media_type: str, path: Path) -> Descriptor:
    """Descriptor of a blob on disk, hashed in chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as blob:
        while chunk := blob.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return Descriptor(media_type=media_type, digest=f"sha256:{digest.hexdigest()}", size=size)


def _optional(values: Mapping[str, object]) -> dict[str, object]:
    """Drop empty values, so an unset field is absent rather than empty."""
    return {key: value for key, value in values.items() if value}


def config_json(config: ImageConfig, diff_ids: Sequence[str], history: Sequence[str] = ()) -> bytes:
    """Render the image config blob for the given layers (diff IDs, bottom first)."""
    runtime = _optional({
        "User": config.user,
        "Env": list(config.env),
        "Entrypoint": list(config.entrypoint),
        "Cmd": list(config.cmd),
        "WorkingDir": config.workdir,
        "StopSignal": config.stop_signal,
        "ExposedPorts": {port: {} for port in config.ports},
        "Labels": dict(config.labels),
    })
    return canonical_json({
        "architecture": config.architecture,
        "os": config.os,
        "config": runtime,
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "history": [{"created_by": step} for step in history],
    })


def manifest_json(config: Descriptor, layers: Sequence[Descriptor]) -> bytes:
    """Render the image manifest blob."""
    return canonical_json({
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": config.to_json(),
        "layers": [layer.to_json() for layer in layers],
    })


def split_reference(reference: str) -> tuple[str, str]:
    """Split ``registry/repo:tag`` into repository and tag (the tag is required)."""
    repository, sep, tag = reference.rpartition(":")
    if not sep or not repository or "/" in tag:
        raise ValueError(f"image reference {reference!r} needs an explicit tag (name:tag)")
    return repository, tag


def index_json(manifest: Descriptor, reference: str, config: ImageConfig) -> bytes:
    """``index.json`` pointing at the one manifest, with its platform and both name annotations."""
    _, tag = split_reference(reference)
    entry = manifest.to_json(
        platform={"architecture": config.architecture, "os": config.os},
        annotations={ANNOTATION_CONTAINERD_NAME: reference, ANNOTATION_REF_NAME: tag},
    )
    return canonical_json({"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": [entry]})


def _tar_info(name: str, size: int = 0, *, directory: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.mode = 0o755 if directory else 0o644
    info.size = size
    info.mtime = 0
    return info


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    archive.addfile(_tar_info(name, len(data)), io.BytesIO(data))


def blob_name(descriptor: Descriptor) -> str:
    """Path of a blob inside the layout."""
    algorithm, _, hexdigest = descriptor.digest.partition(":")
    return f"blobs/{algorithm}/{hexdigest}"


def write_archive(out: Path, *, reference: str, layer: Path, config: ImageConfig,
                  history: Sequence[str] = ()) -> Descriptor:
    """Write the OCI layout tar for a one-layer image to ``out`` atomically; return the manifest."""
    layer_desc = describe_file(MEDIA_LAYER, layer)
    config_blob = config_json(config, [layer_desc.digest], history)
    config_desc = describe_bytes(MEDIA_CONFIG, config_blob)
    manifest_blob = manifest_json(config_desc, [layer_desc])
    manifest_desc = describe_bytes(MEDIA_MANIFEST, manifest_blob)
    partial = out.with_name(out.name + ".partial")
    with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as archive:
        _add_bytes(archive, "oci-layout", canonical_json({"imageLayoutVersion": "1.0.0"}))
        archive.addfile(_tar_info("blobs", directory=True))
        archive.addfile(_tar_info("blobs/sha256", directory=True))
        with layer.open("rb") as layer_file:
            archive.addfile(_tar_info(blob_name(layer_desc), layer_desc.size), layer_file)
        _add_bytes(archive, blob_name(config_desc), config_blob)
        _add_bytes(archive, blob_name(manifest_desc), manifest_blob)
        _add_bytes(archive, "index.json", index_json(manifest_desc, reference, config))
    partial.replace(out)
    return manifest_desc


def tar_tree(root: Path, out: Path) -> None:
    """Tar a small staged tree as a layer: owned by root, fixed mtimes, sorted (reproducible)."""
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as layer:
        for path in sorted(root.rglob("*")):
            info = layer.gettarinfo(str(path), arcname=path.relative_to(root).as_posix())
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            if info.isreg():
                with path.open("rb") as data:
                    layer.addfile(info, data)
            else:
                layer.addfile(info)
