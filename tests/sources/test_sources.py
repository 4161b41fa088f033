"""The image readers on the committed fixtures, checked against skopeo's independent reading."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import threading
from pathlib import Path
from typing import Dict, List

import pytest

from conftest import FIXTURES, oci_blob_path, oci_manifests
from pypush.image.digest import VerifyingReader
from pypush.errors import SourceError
from pypush.image.model import DOCKER_CONFIG, DOCKER_LAYER, DOCKER_LAYER_GZIP, DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST, Blob, ImageIndex, ImageManifest, walk
from pypush.sources import open_source, parse_spec
from pypush.sources.tarfs import TarTree

ALL_SPECS = [
    "fixtures/small.oci", "oci:fixtures/small.oci:1", "fixtures/small.oci-archive.tar",
    "oci-archive:fixtures/small.oci-archive.tar:1", "fixtures/small.docker-archive.tar",
    "docker-archive:fixtures/small.docker-archive.tar:fixtures/small:1", "fixtures/small.oci-uncompressed",
    "fixtures/small.oci-zstd", "oci:fixtures/multiarch.oci:1", "oci:fixtures/multiarch.oci:nested",
    "fixtures/docker-list.oci", "fixtures/artifact.oci", "fixtures/docker25.tar", "fixtures/docker25-containerd.tar",
    "docker-archive:fixtures/docker-legacy-multi.tar:fixture/a:1",
    "docker-archive:fixtures/docker-legacy-multi.tar:fixture/b:latest",
]


def _spec(spec: str) -> str:
    """``spec`` with its fixtures/ path made absolute (tests may run from anywhere)."""
    return spec.replace("fixtures/", str(FIXTURES) + "/", 1)


def _read(blob: Blob) -> bytes:
    with blob.open() as f:
        reader = VerifyingReader(f, blob.descriptor.digest, blob.descriptor.size, blob.name)
        data = reader.read()
        assert reader.at_eof() or reader.read(1) == b""
        return data


def _manifests(node) -> List[ImageManifest]:
    return [n for n in walk(node) if isinstance(n, ImageManifest)]


@pytest.mark.parametrize("spec", ALL_SPECS)
def test_every_blob_streams_and_verifies(spec: str) -> None:
    with open_source(_spec(spec)) as src:
        assert src.name == _spec(spec)
        for node in walk(src.root):
            assert hashlib.sha256(node.raw).hexdigest() == node.descriptor.digest.split(":")[1]
            assert len(node.raw) == node.descriptor.size
            assert node.descriptor.media_type == json.loads(node.raw).get("mediaType", node.descriptor.media_type)
            if isinstance(node, ImageManifest):
                for blob in node.blobs:
                    assert blob.name and len(_read(blob)) == blob.descriptor.size


@pytest.mark.parametrize("spec", ["oci:fixtures/small.oci:1", "oci-archive:fixtures/small.oci-archive.tar:1",
                                  "oci:fixtures/small.oci-zstd:1", "oci:fixtures/small.oci-uncompressed:1",
                                  "oci:fixtures/multiarch.oci:1", "oci:fixtures/artifact.oci:1"])
def test_oci_manifest_bytes_equal_skopeos(skopeo, spec: str) -> None:
    with open_source(_spec(spec)) as src:
        assert src.root.raw == subprocess.run(
            ["skopeo", "--policy", str(skopeo.policy), "inspect", "--raw", _spec(spec)],
            capture_output=True, check=True, timeout=60).stdout


def test_umoci_manifest_takes_media_type_from_index() -> None:
    with open_source(_spec("fixtures/small.oci")) as src:
        assert "mediaType" not in json.loads(src.root.raw)
        assert src.root.descriptor.media_type == OCI_MANIFEST
        assert src.tags == ["1"] and src.format == "oci"
        layer = src.root.layers[0]
        assert layer.name == f"{FIXTURES}/small.oci/blobs/sha256/{layer.descriptor.digest[7:]}"


@pytest.mark.parametrize("spec,ref", [("fixtures/small.docker-archive.tar", "fixtures/small:1"),
                                      ("fixtures/docker-legacy-multi.tar", "fixture/a:1"),
                                      ("fixtures/docker-legacy-multi.tar", "fixture/b:1"),
                                      ("fixtures/docker25-containerd.tar", "")])
def test_docker_archive_agrees_with_skopeo(skopeo, spec: str, ref: str) -> None:
    """Config digest and layer diff_ids equal skopeo's reading of the same archive."""
    target = f"docker-archive:{_spec(spec)}" + (f":{ref}" if ref else "")
    run = ["skopeo", "--policy", str(skopeo.policy), "inspect"]
    theirs = json.loads(subprocess.run([*run, "--raw", target], capture_output=True, check=True, timeout=60).stdout)
    config = json.loads(subprocess.run([*run, "--config", "--raw", target], capture_output=True, check=True,
                                       timeout=60).stdout)
    with open_source(target) as src:
        ours = json.loads(src.root.raw)
        assert src.root.descriptor.media_type in (DOCKER_MANIFEST, OCI_MANIFEST)
        assert ours["config"]["digest"] == theirs["config"]["digest"] == src.root.config.descriptor.digest
        assert json.loads(_read(src.root.config)) == config
        diff_ids = []
        for blob in src.root.layers:
            data = _read(blob)
            if blob.descriptor.media_type in (DOCKER_LAYER_GZIP, OCI_LAYER_GZIP):
                data = gzip.decompress(data)
            else:
                assert blob.descriptor.media_type == DOCKER_LAYER
            diff_ids.append("sha256:" + hashlib.sha256(data).hexdigest())
        assert diff_ids == config["rootfs"]["diff_ids"]


def test_generated_docker_manifest_format() -> None:
    spec = _spec("fixtures/small.docker-archive.tar")
    with open_source(spec) as a, open_source(spec) as b:
        assert a.root.raw == b.root.raw
        doc = json.loads(a.root.raw)
        assert a.root.raw == json.dumps(doc, indent=3).encode()
        assert list(doc) == ["schemaVersion", "mediaType", "config", "layers"]
        assert doc["config"]["mediaType"] == DOCKER_CONFIG
        assert all(list(layer) == ["mediaType", "size", "digest"] for layer in doc["layers"])
        assert a.tags == ["1"] and a.format == "docker-archive"


def test_legacy_multi_image_tarball() -> None:
    spec = _spec("docker-archive:fixtures/docker-legacy-multi.tar")
    with pytest.raises(SourceError, match="fixture/a:1, fixture/b:1, fixture/b:latest"):
        open_source(spec)
    a = open_source(spec + ":fixture/a:1").root
    b = open_source(spec + ":docker.io/fixture/b:latest")
    assert b.tags == ["latest"]
    assert open_source(spec + ":@1").root.raw == b.root.raw
    alone = open_source(spec + ":fixture/b")  # a name alone means :latest, as docker and skopeo take it
    assert (alone.root.raw, alone.tags) == (b.root.raw, ["latest"])
    with pytest.raises(SourceError, match="no image named 'fixture/a'"):  # a has no :latest
        open_source(spec + ":fixture/a")
    assert sorted(open_source(spec + ":@1").tags) == ["1", "latest"]
    # b's base layer.tar is a symlink to a's: same bytes, same descriptor
    assert a.layers[0].descriptor == b.root.layers[0].descriptor
    assert _read(a.layers[0]) == _read(b.root.layers[0])
    gz = b.root.layers[1]
    assert gz.descriptor.media_type == DOCKER_LAYER_GZIP and gz.name.endswith(".tar.gz")


def test_docker25_prefers_oci_manifest_bytes() -> None:
    layout = FIXTURES / "small.oci-uncompressed"
    entry = oci_manifests(layout)[0]
    for spec in ("fixtures/docker25.tar", "docker-archive:fixtures/docker25.tar:fixture-small:1",
                 "docker-archive:fixtures/docker25.tar:docker.io/library/fixture-small:1",
                 "oci-archive:fixtures/docker25.tar:1", "docker-archive:fixtures/docker25.tar:@0"):
        with open_source(_spec(spec)) as src:
            assert src.root.descriptor.digest == entry["digest"], spec
            assert src.root.raw == oci_blob_path(layout, entry["digest"]).read_bytes()
            assert src.tags == ["1"]


def test_docker25_containerd_partial_index_yields_the_saved_platform() -> None:
    """A containerd-store save of one platform of a multi-platform image: that platform's exact manifest."""
    with open_source(_spec("fixtures/docker25-containerd.tar")) as src:
        amd64 = open_source(_spec("oci:fixtures/multiarch.oci:1")).root.children[0]
        assert isinstance(src.root, ImageManifest)
        assert src.root.raw == amd64.raw and src.root.descriptor == amd64.descriptor
        assert [b.descriptor for b in src.root.layers] == [b.descriptor for b in amd64.layers]
        assert src.tags == ["1"]


def test_multiarch_and_nested_indexes() -> None:
    spec = _spec("oci:fixtures/multiarch.oci")
    with pytest.raises(SourceError, match=r"holds 2 images.*choices: 1, nested"):
        open_source(spec)
    root = open_source(spec + ":1").root
    assert isinstance(root, ImageIndex) and root.descriptor.media_type == OCI_INDEX
    assert [c.descriptor.platform["architecture"] for c in root.children] == ["amd64", "arm64"]
    nested = open_source(spec + ":nested").root
    assert isinstance(nested.children[0], ImageIndex) and nested.children[0].raw == root.raw
    assert open_source(spec + ":@1").root.raw == nested.raw
    assert open_source(f"{spec}:{root.descriptor.digest}").root.raw == root.raw
    child = open_source(f"{spec}:{root.children[1].descriptor.digest}")  # a manifest below an index
    assert child.root.raw == root.children[1].raw and child.tags == []
    with pytest.raises(SourceError, match="no manifest sha256:0000"):
        open_source(f"{spec}:sha256:{'0' * 64}")


def test_docker_manifest_list() -> None:
    with open_source(_spec("fixtures/docker-list.oci")) as src:
        assert src.root.descriptor.media_type == DOCKER_LIST
        assert [c.descriptor.media_type for c in src.root.children] == [DOCKER_MANIFEST] * 2
        assert all(c.config.descriptor.media_type == DOCKER_CONFIG for c in src.root.children)


def test_artifact_with_subject() -> None:
    with open_source(_spec("fixtures/artifact.oci")) as src:
        doc = json.loads(src.root.raw)
        assert "subject" in doc and doc["artifactType"] == "application/spdx+json"
        assert src.root.config.descriptor.media_type == "application/vnd.oci.empty.v1+json"
        assert _read(src.root.config) == b"{}"
        assert src.root.layers[0].descriptor.media_type == "application/spdx+json"
        assert src.root.layers[0].descriptor.annotations == {"org.opencontainers.image.title": "sbom.spdx.json"}


def test_paths_with_colons(tmp_path: Path) -> None:
    layout = tmp_path / "a:b" / "x:1.oci"
    shutil.copytree(FIXTURES / "small.oci", layout)
    archive = tmp_path / "a:b" / "img:2.tar"
    shutil.copy(FIXTURES / "docker-legacy-multi.tar", archive)
    assert parse_spec(f"oci:{layout}:1") == ("oci", str(layout), "1")
    assert parse_spec(str(layout)) == (None, str(layout), None)
    assert parse_spec(f"docker-archive:{archive}:fixture/b:1") == ("docker-archive", str(archive), "fixture/b:1")
    assert parse_spec(f"{archive}:sha256:{'a' * 64}") == (None, str(archive), f"sha256:{'a' * 64}")
    assert open_source(f"oci:{layout}:1").root.descriptor.digest == oci_manifests(FIXTURES / "small.oci")[0]["digest"]
    assert open_source(f"{archive}:fixture/b:1").tags == ["1"]
    with pytest.raises(SourceError, match="no such file"):
        parse_spec(f"oci:{tmp_path}/nope:1")


def test_unpacked_docker_save_directory(tmp_path: Path) -> None:
    with tarfile.open(FIXTURES / "small.docker-archive.tar") as tar:
        tar.extractall(tmp_path / "unpacked", **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    packed = open_source(_spec("fixtures/small.docker-archive.tar")).root
    unpacked = open_source(str(tmp_path / "unpacked")).root
    assert unpacked.raw == packed.raw
    assert [_read(b) for b in unpacked.layers] == [_read(b) for b in packed.layers]


def test_tar_members_read_concurrently_and_seek() -> None:
    tree = TarTree(str(FIXTURES / "small.docker-archive.tar"))
    name = next(n for n in tree.names if n.endswith("/layer.tar"))  # a symlink to a member
    opener = tree.opener(name)
    with opener() as f:
        whole = f.read()
    assert len(whole) == tree.size(name) > 0
    results: Dict[int, str] = {}

    def worker(i: int) -> None:
        h = hashlib.sha256()
        with opener() as f:
            for chunk in iter(lambda: f.read(997 + i), b""):
                h.update(chunk)
        results[i] = h.hexdigest()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert set(results.values()) == {hashlib.sha256(whole).hexdigest()} and len(results) == 8
    with opener() as f:
        f.seek(1000)
        assert f.read(50) == whole[1000:1050] and f.tell() == 1050
        f.seek(-10, 2)
        assert f.read() == whole[-10:] and f.read(10) == b""


def test_blob_open_gives_fresh_streams() -> None:
    with open_source(_spec("fixtures/small.oci-archive.tar")) as src:
        blob = src.root.layers[0]
        f1, f2 = blob.open(), blob.open()
        try:
            assert f1.read(100) == f2.read(100)
            assert f1.read() == f2.read()
        finally:
            f1.close()
            f2.close()


def test_gnu_tar_of_a_layout_with_dot_slash_names(tmp_path: Path) -> None:
    """`tar -C layout -cf x.tar .` names members ./index.json ...; still an OCI archive."""
    archive = tmp_path / "x.tar"
    subprocess.run(["tar", "-C", str(FIXTURES / "small.oci"), "-cf", str(archive), "."], check=True, timeout=60)
    with open_source(str(archive)) as src:
        assert src.format == "oci-archive"
        assert src.root.raw == open_source(_spec("fixtures/small.oci")).root.raw
        assert len(_read(src.root.layers[1])) == src.root.layers[1].descriptor.size


def test_index_entry_without_media_type_is_refused(tmp_path: Path) -> None:
    layout = tmp_path / "l.oci"
    shutil.copytree(FIXTURES / "small.oci", layout)
    index = json.loads((layout / "index.json").read_text())
    del index["manifests"][0]["mediaType"]
    (layout / "index.json").write_text(json.dumps(index))
    with pytest.raises(SourceError, match=r"index.json.manifests\[0\].mediaType: missing"):
        open_source(str(layout))


def _rewrite_docker25(out: Path, change) -> Path:
    """docker25.tar with its OCI manifest / index.json passed through ``change(manifest, index)``."""
    with tarfile.open(FIXTURES / "docker25.tar") as tar:
        members = {m.name: (m, tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()}
    index = json.loads(members["index.json"][1])
    old = index["manifests"][0]["digest"]
    manifest = json.loads(members["blobs/sha256/" + old[7:]][1])
    change(manifest, index)
    raw = json.dumps(manifest).encode()
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    if index.get("manifests"):
        index["manifests"][0].update(digest=digest, size=len(raw))
    with tarfile.open(out, "w") as tar:
        for name, (info, data) in members.items():
            data = json.dumps(index).encode() if name == "index.json" else data
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
        info = tarfile.TarInfo("blobs/sha256/" + digest[7:])
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    return out


@pytest.mark.parametrize("case", ["docker-25.0.0-manifest-without-layers", "save-by-digest-manifests-null",
                                  "rc-wrong-layer-size"])
def test_docker25_faulty_oci_part_falls_back_to_manifest_json(tmp_path: Path, case: str) -> None:
    """Docker 25.0.0 and its release candidates wrote OCI parts that must not be pushed as they are."""
    def change(manifest, index):
        if case == "docker-25.0.0-manifest-without-layers":
            manifest["layers"] = []
        elif case == "save-by-digest-manifests-null":
            index["manifests"] = None
        else:
            manifest["layers"][0]["size"] += 512

    archive = _rewrite_docker25(tmp_path / "d.tar", change)
    reference = open_source(_spec("fixtures/docker25.tar")).root
    with open_source(str(archive)) as src:
        assert src.root.descriptor.media_type == DOCKER_MANIFEST and src.tags == ["1"]
        assert src.root.config.descriptor.digest == reference.config.descriptor.digest
        assert [b.descriptor.digest for b in src.root.layers] == [b.descriptor.digest for b in reference.layers]
        assert all(b.descriptor.media_type == DOCKER_LAYER for b in src.root.layers)
        for blob in src.root.layers:
            _read(blob)


def test_fixture_script_rebuilds_every_fixture(tmp_path: Path) -> None:
    """fixtures/make.sh (umoci, skopeo, make_extra.py; no network) rebuilds fixtures like the committed ones."""
    out = tmp_path / "fx"
    proc = subprocess.run(["bash", str(FIXTURES / "make.sh"), str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for spec in ALL_SPECS:
        rebuilt = spec.replace("fixtures/", f"{out}/", 1)
        with open_source(rebuilt) as new, open_source(_spec(spec)) as old:
            assert [type(n) for n in walk(new.root)] == [type(n) for n in walk(old.root)], spec
            assert new.tags == old.tags and new.format == old.format
            types = [n.descriptor.media_type for n in walk(new.root)]
            assert types == [n.descriptor.media_type for n in walk(old.root)]
            for node in _manifests(new.root):
                for blob in node.blobs:
                    _read(blob)


def test_blob_vanishing_after_open_is_a_source_error(tmp_path: Path) -> None:
    layout = tmp_path / "l.oci"
    shutil.copytree(FIXTURES / "small.oci", layout)
    with open_source(str(layout)) as src:
        blob = src.root.layers[0]
        oci_blob_path(layout, blob.descriptor.digest).unlink()
        with pytest.raises(SourceError, match=f"{blob.descriptor.digest[7:]}: cannot open"):
            blob.open()


def test_tar_links_resolve_inside_the_archive(tmp_path: Path) -> None:
    """Hard links, symlinked directories and ./-prefixed names all lead to the member's bytes."""
    archive = tmp_path / "links.tar"
    with tarfile.open(archive, "w", format=tarfile.GNU_FORMAT) as tar:
        long_name = "a/" + "x" * 150  # needs a GNU long-name header
        for name, data in (("./a/real", b"payload"), (long_name, b"long")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, kind, target in (("b/hard", tarfile.LNKTYPE, "./a/real"), ("c", tarfile.SYMTYPE, "a"),
                                   ("d/e", tarfile.SYMTYPE, "../c/real")):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            tar.addfile(info)
    tree = TarTree(str(archive))
    for name in ("a/real", "b/hard", "c/real", "d/e", "./d/e"):
        with tree.opener(name)() as f:
            assert f.read() == b"payload", name
    assert tree.size(long_name) == 4 and tree.size("c/" + "x" * 150) == 4
    assert tree.size("a/missing") is None and tree.size("c/missing") is None


def test_go_containerregistry_tarball(tmp_path: Path) -> None:
    """crane/ggcr tarballs: config named sha256:<hex>, gzip layers named <hex>.tar.gz at the top."""
    plain = io.BytesIO()
    with tarfile.open(fileobj=plain, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"hello"))
    layer = gzip.compress(plain.getvalue(), mtime=0)
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {
        "type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(plain.getvalue()).hexdigest()]}}).encode()
    config_name = "sha256:" + hashlib.sha256(config).hexdigest()
    layer_name = hashlib.sha256(layer).hexdigest() + ".tar.gz"
    files = {config_name: config, layer_name: layer, "manifest.json": json.dumps(
        [{"Config": config_name, "RepoTags": ["ubuntu:latest"], "Layers": [layer_name]}]).encode()}
    with tarfile.open(tmp_path / "ggcr.tar", "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with open_source(f"docker-archive:{tmp_path}/ggcr.tar:ubuntu:latest") as src:
        assert src.tags == ["latest"]
        assert src.root.config.descriptor.digest == config_name
        (blob,) = src.root.layers
        assert blob.descriptor.media_type == DOCKER_LAYER_GZIP
        assert blob.descriptor.digest == "sha256:" + layer_name[:64] and _read(blob) == layer


def test_symlinks_inside_a_layout_are_followed(tmp_path: Path) -> None:
    layout = tmp_path / "l.oci"
    shutil.copytree(FIXTURES / "small.oci", layout)
    digest = oci_manifests(layout)[0]["digest"]
    manifest = json.loads(oci_blob_path(layout, digest).read_bytes())
    victim = oci_blob_path(layout, manifest["layers"][0]["digest"])
    (layout / "store").mkdir()
    victim.rename(layout / "store" / "layer")
    victim.symlink_to("../../store/layer")
    with open_source(str(layout)) as src:
        assert _read(src.root.layers[0]) == (layout / "store" / "layer").read_bytes()
