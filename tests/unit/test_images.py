"""Pure tests of the image recipes and the OCI archive writer (no mmdebstrap, no containerd)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from localcluster.images import builder, catalog, debian, oci
from localcluster.images import recipe as recipe_spec
from localcluster.images.recipe import Account, File, Recipe
from localcluster.progress import StepError

BASE = Recipe(name="stateful.local/demo:1", packages=("bash", "coreutils"), script="true",
              files=(File(path="/etc/demo.conf", text="a=1\n"),), cmd=("bash",))


def make_rootfs_tar(tmp_path: Path) -> Path:
    """Tar a tiny rootfs tree as a layer."""
    tree = tmp_path / "tree"
    (tree / "bin").mkdir(parents=True)
    (tree / "bin" / "hello").write_text("#!/bin/sh\necho hello\n")
    (tree / "bin" / "hello").chmod(0o755)
    (tree / "etc").mkdir()
    (tree / "etc" / "hosts").write_text("127.0.0.1 localhost\n")
    layer = tmp_path / "layer.tar"
    oci.tar_tree(tree, layer)
    return layer


def write_demo_archive(tmp_path: Path) -> tuple[Path, oci.Descriptor]:
    """Write an archive for BASE around the tiny layer."""
    out = tmp_path / "demo.oci.tar"
    manifest = oci.write_archive(out, reference=BASE.name, layer=make_rootfs_tar(tmp_path),
                                 config=BASE.image_config(), history=["test"])
    return out, manifest


def members(archive: Path) -> dict[str, bytes]:
    """Return every regular file of a tar, by name."""
    with tarfile.open(archive) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def sha(data: bytes) -> str:
    """Return the OCI digest of some bytes."""
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def test_recipe_hash_changes_when_a_package_changes() -> None:
    changed = dataclasses.replace(BASE, packages=("bash", "coreutils", "procps"))
    assert changed.key != BASE.key


def test_recipe_hash_changes_when_a_file_or_the_script_changes() -> None:
    other_file = dataclasses.replace(BASE, files=(File(path="/etc/demo.conf", text="a=2\n"),))
    other_script = dataclasses.replace(BASE, script="false")
    assert len({BASE.key, other_file.key, other_script.key}) == 3


def test_recipe_hash_is_the_same_for_an_equal_recipe() -> None:
    assert dataclasses.replace(BASE).key == BASE.key


def test_an_image_name_without_a_tag_is_rejected() -> None:
    with pytest.raises(ValueError, match="explicit tag"):
        Recipe(name="stateful.local/demo", packages=("bash",))


def test_a_relative_path_in_a_recipe_is_rejected() -> None:
    with pytest.raises(ValueError, match="must be absolute"):
        Recipe(name="stateful.local/demo:1", packages=("bash",), files=(File(path="etc/x", text=""),))


def test_every_image_has_its_own_short_name_and_a_tag() -> None:
    shorts = [recipe.short for recipe in catalog.RECIPES]
    assert len(set(shorts)) == len(shorts) == len(catalog.IMAGES)
    assert all(name.startswith(f"{recipe_spec.REGISTRY}/") and ":" in name for name in catalog.IMAGES)


def test_manifest_and_config_digests_match_the_blobs_in_the_archive(tmp_path: Path) -> None:
    archive, manifest_desc = write_demo_archive(tmp_path)
    files = members(archive)
    index = json.loads(files["index.json"])
    entry = index["manifests"][0]
    assert entry["digest"] == manifest_desc.digest
    manifest_blob = files[f"blobs/sha256/{entry['digest'].removeprefix('sha256:')}"]
    assert sha(manifest_blob) == entry["digest"]
    assert len(manifest_blob) == entry["size"]
    manifest = json.loads(manifest_blob)
    for desc in [manifest["config"], *manifest["layers"]]:
        blob = files[f"blobs/sha256/{desc['digest'].removeprefix('sha256:')}"]
        assert sha(blob) == desc["digest"]
        assert len(blob) == desc["size"]


def test_the_uncompressed_layer_digest_is_the_config_diff_id(tmp_path: Path) -> None:
    archive, _ = write_demo_archive(tmp_path)
    files = members(archive)
    manifest = json.loads(files[f"blobs/sha256/{json.loads(files['index.json'])['manifests'][0]['digest'][7:]}"])
    config = json.loads(files[f"blobs/sha256/{manifest['config']['digest'][7:]}"])
    assert manifest["layers"][0]["mediaType"] == oci.MEDIA_LAYER
    assert config["rootfs"] == {"type": "layers", "diff_ids": [manifest["layers"][0]["digest"]]}


def test_the_layer_blob_is_the_rootfs_tar_unchanged(tmp_path: Path) -> None:
    archive, _ = write_demo_archive(tmp_path)
    layer = (tmp_path / "layer.tar").read_bytes()
    assert sha(layer) in {sha(blob) for blob in members(archive).values()}
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        hello = tar.getmember("bin/hello")
    assert (hello.uid, hello.mode, hello.mtime) == (0, 0o755, 0)


def test_the_index_names_the_image_for_containerd_and_by_tag(tmp_path: Path) -> None:
    archive, _ = write_demo_archive(tmp_path)
    files = members(archive)
    entry = json.loads(files["index.json"])["manifests"][0]
    assert entry["annotations"] == {oci.ANNOTATION_CONTAINERD_NAME: "stateful.local/demo:1",
                                    oci.ANNOTATION_REF_NAME: "1"}
    assert entry["platform"]["os"] == "linux"
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}


def test_the_config_carries_user_path_entrypoint_cmd_and_workdir() -> None:
    recipe = dataclasses.replace(BASE, user="101:101", env=("A=b",), entrypoint=("/e",), workdir="/w")
    config = json.loads(oci.config_json(recipe.image_config(), ["sha256:00"]))["config"]
    assert config["User"] == "101:101"
    assert config["WorkingDir"] == "/w"
    assert config["Env"] == [recipe_spec.PATH_ENV, "A=b"]
    assert (config["Entrypoint"], config["Cmd"]) == (["/e"], ["bash"])


def test_the_same_layer_and_recipe_give_the_same_manifest_digest(tmp_path: Path) -> None:
    digests = []
    for build in ("first", "second"):
        (tmp_path / build).mkdir()
        digests.append(write_demo_archive(tmp_path / build)[1].digest)
    assert digests[0] == digests[1]


def test_host_sources_keep_only_the_release_entries_renamed_to_the_image_suite() -> None:
    deb822 = ("Types: deb\nURIs: http://mirror.example/debian\nSuites: trixie trixie-updates\n"
              "Components: main contrib\n\nTypes: deb\nURIs: http://mirror.example/debian-security\n"
              "Suites: trixie-security\nComponents: main\n")
    one_line = ("deb [signed-by=/k.gpg] https://vendor.example/apt trixie-vendor main\n"
                "deb http://mirror.example/debian trixie main  # duplicate\n")
    found = debian.debian_sources([("debian.sources", deb822), ("vendor.list", one_line)], "trixie", "bookworm")
    assert found == ["deb http://mirror.example/debian bookworm main",
                     "deb http://mirror.example/debian bookworm-updates main",
                     "deb http://mirror.example/debian-security bookworm-security main"]


def test_accounts_get_fixed_ids_before_any_package_is_installed() -> None:
    script = debian.accounts_script([Account(name="mysql", uid=999)])
    assert "mysql:x:999:999::/nonexistent:/usr/sbin/nologin" in script
    assert "mysql:x:999:" in script
    assert "already taken" in script
    argv = debian.mmdebstrap_argv(catalog.MARIADB, work=Path("/w"), out=Path("/o.tar"), sources=["deb u s main"])
    assert any(arg.startswith("--essential-hook=") for arg in argv)


def test_a_cached_archive_is_returned_without_building(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATEFUL_CACHE", str(tmp_path))
    archive = builder.archive_path(catalog.TOOLBOX)
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"")
    archive.with_name(archive.name.removesuffix(".tar") + ".json").write_text('{"digest": "sha256:ab"}')

    def no_build(recipe: Recipe) -> builder.ImageArchive:
        raise AssertionError(f"rebuilt {recipe.name}")

    monkeypatch.setattr(builder, "build_one", no_build)
    assert builder.build_images(["toolbox"]) == [
        builder.ImageArchive(name=catalog.TOOLBOX.name, path=archive, digest="sha256:ab")]


def test_an_unknown_image_name_is_rejected() -> None:
    with pytest.raises(StepError, match="unknown image"):
        catalog.select(["redis"])


def test_run_is_emptied_before_the_recipe_dirs_are_created() -> None:
    script = debian.customize_script(catalog.MARIADB, Path("/overlay"))
    assert "--skip=cleanup/run" in recipe_spec.MMDEBSTRAP_OPTIONS
    assert script.index('find "$root/run"') < script.index("run/mysqld")


def test_the_pause_image_key_ignores_the_debian_build_options(monkeypatch: pytest.MonkeyPatch) -> None:
    before = (catalog.PAUSE.key, catalog.NGINX.key)
    monkeypatch.setattr(recipe_spec, "MMDEBSTRAP_OPTIONS", (*recipe_spec.MMDEBSTRAP_OPTIONS, "--verbose"))
    assert catalog.PAUSE.key == before[0]
    assert catalog.NGINX.key != before[1]
