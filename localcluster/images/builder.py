"""Turn a recipe into an OCI image-layout tar under ``<cache>/images/``, named by the recipe's hash.

1. stage the recipe's files (C sources are compiled with ``gcc -static``);
2. make a one-layer rootfs tar: mmdebstrap (:mod:`.debian`), or, for an image without packages,
   just the staged files;
3. wrap the layer in an OCI layout (:mod:`.oci`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from localcluster import paths
from localcluster.images import catalog, debian, oci
from localcluster.images.recipe import SUITE, Recipe
from localcluster.progress import StepError, phase, run, say


@dataclass(frozen=True, kw_only=True)
class ImageArchive:
    """A built image: its full reference, the OCI archive to import, and its manifest digest."""

    name: str
    path: Path
    digest: str


def images_dir() -> Path:
    """Where built archives are cached."""
    return paths.cache_root() / "images"


def archive_path(recipe: Recipe) -> Path:
    """Return where the archive of this exact recipe is kept."""
    tag = oci.split_reference(recipe.name)[1]
    return images_dir() / f"{recipe.short}-{tag}-{recipe.key}.oci.tar"


def _sidecar(archive: Path) -> Path:
    return archive.with_name(archive.name.removesuffix(".tar") + ".json")


def cached(recipe: Recipe) -> ImageArchive | None:
    """Return the archive of this recipe if it is complete (its sidecar is written last)."""
    archive = archive_path(recipe)
    try:
        meta = json.loads(_sidecar(archive).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if not archive.is_file():
        return None
    return ImageArchive(name=recipe.name, path=archive, digest=str(meta["digest"]))


def stage_files(recipe: Recipe, overlay: Path, log: Path) -> None:
    """Write the recipe's files under ``overlay`` (compiling C sources), with their modes."""
    for f in recipe.files:
        target = overlay / f.path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if f.compile_c:
            source = target.with_name(target.name + ".c")
            source.write_text(f.text)
            run(["gcc", "-Os", "-static", "-s", "-Wall", "-Werror", "-o", target, source], log=log,
                step=f"{recipe.name}: compile {f.path}")
            source.unlink()
        else:
            target.write_text(f.text)
        target.chmod(f.mode)


def remove_tree(path: Path) -> None:
    """Delete a work tree, but never while something is mounted below it (a crashed mmdebstrap)."""
    prefix = f"{path.resolve()}/"
    with Path("/proc/self/mountinfo").open() as mountinfo:
        mounted = [f.split()[4] for f in mountinfo if f"{f.split()[4]}/".startswith(prefix)]
    if mounted:
        raise StepError(f"still mounted under {path}: {', '.join(mounted[:3])}; run `umount -R` on them and retry")
    shutil.rmtree(path, ignore_errors=True)


def build_one(recipe: Recipe) -> ImageArchive:
    """Build one image's archive (unconditionally) and record it in the cache."""
    log = paths.cache_root() / "logs" / f"image-{recipe.short}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"# {recipe.name} (recipe {recipe.key})\n")
    work = paths.cache_root() / "work" / "images" / recipe.short
    remove_tree(work)
    (work / "overlay").mkdir(parents=True)
    layer = work / "layer.tar"
    stage_files(recipe, work / "overlay", log)
    if recipe.packages:
        debian.debian_layer(recipe, work=work, overlay=work / "overlay", out=layer, log=log)
        history = f"mmdebstrap {SUITE} --include={','.join(recipe.packages)} (recipe {recipe.key})"
    else:
        oci.tar_tree(work / "overlay", layer)
        history = f"static files {', '.join(f.path for f in recipe.files)} (recipe {recipe.key})"
    archive = archive_path(recipe)
    archive.parent.mkdir(parents=True, exist_ok=True)
    manifest = oci.write_archive(archive, reference=recipe.name, layer=layer,
                                 config=recipe.image_config(), history=[history])
    meta = {"name": recipe.name, "digest": manifest.digest, "recipe": recipe.key}
    _sidecar(archive).write_text(json.dumps(meta, indent=2) + "\n")
    remove_tree(work)
    prune(recipe)
    say(f"{recipe.name}: {archive.stat().st_size / 1e6:.0f} MB, {manifest.digest[:19]}")
    return ImageArchive(name=recipe.name, path=archive, digest=manifest.digest)


def prune(recipe: Recipe) -> None:
    """Delete archives of older recipes of the same image."""
    current = archive_path(recipe)
    for sidecar in images_dir().glob(f"{recipe.short}-*.oci.json"):
        archive = sidecar.with_name(sidecar.name.removesuffix(".json") + ".tar")
        if archive == current:
            continue
        with contextlib.suppress(FileNotFoundError, json.JSONDecodeError, KeyError):
            if json.loads(sidecar.read_text())["name"] == recipe.name:
                archive.unlink(missing_ok=True)
                sidecar.unlink()


@contextlib.contextmanager
def build_lock() -> Iterator[None]:
    """Serialize builds across processes (a second caller waits, then finds the cache filled)."""
    images_dir().mkdir(parents=True, exist_ok=True)
    with (images_dir() / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def build_images(only: Sequence[str] = (), *, force: bool = False) -> list[ImageArchive]:
    """Build every missing image (or those named in ``only``) and return all their archives."""
    recipes = catalog.select(only)
    done = {r.name: a for r in recipes if not force and (a := cached(r)) is not None}
    if len(done) == len(recipes):
        return [done[r.name] for r in recipes]
    with build_lock():
        for recipe in recipes:
            archive = None if force else cached(recipe)
            if archive is None:
                with phase(f"image {recipe.name}"):
                    archive = build_one(recipe)
            done[recipe.name] = archive
    return [done[r.name] for r in recipes]
