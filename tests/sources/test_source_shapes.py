"""Odd but valid image shapes and what the readers make of them, without servers: index graphs that list one
manifest many times, non-distributable layers (left to their urls, as docker, skopeo and crane do), a blob used
twice, zero layers, docker saves by ID or from before Docker 1.10, an index.json with members nobody knows."""
from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from conftest import oci_blob_path
from imagegen import DOCKER_MANIFEST, OCI_MANIFEST, LayoutWriter, docker_save, named, random_bytes, tar_layer, write_tar
from pypush.engine.walked import walk_image
from pypush.errors import SourceError
from pypush.image.model import ImageIndex, ImageManifest, walk
from pypush.image.platforms import parse_platform
from pypush.sources import open_source

LAYERS = [tar_layer([("a.txt", b"a\n" * 50)]), tar_layer([("b.bin", random_bytes(3000, 5))])]
FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
NONDIST = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"


def _fan(w: LayoutWriter, width: int, levels: int) -> dict:
    """An index tree ``levels`` deep whose every index lists the one below ``width`` times."""
    x = named(w.image(LAYERS[:1]), platform=("amd64", "linux"))
    for _ in range(levels):
        x = w.index([x] * width)
    return x


def test_index_listing_one_child_many_times_is_walked_once_per_manifest(tmp_path):
    w = LayoutWriter(tmp_path / "fan.oci")
    w.write_index([named(_fan(w, 3, 3), ref="1")])
    with open_source(str(w.layout)) as src:
        nodes = walk(src.root)
        assert [type(n).__name__ for n in nodes] == ["ImageManifest", "ImageIndex", "ImageIndex", "ImageIndex"]
        assert len(walk_image(src.root).blobs) == 2
    with open_source(str(w.layout), platforms=[parse_platform("linux/amd64")]) as src:
        assert isinstance(src.root, ImageManifest)


def test_index_graph_that_expands_beyond_reason_is_refused_at_once(tmp_path):
    """30 x 30 x ... six levels down is 7e8 paths to 7 manifests: refused, not walked (it used to hang), and
    looking for a digest that is not there visits each index once."""
    w = LayoutWriter(tmp_path / "dag.oci")
    w.write_index([named(_fan(w, 30, 6), ref="1")])
    with pytest.raises(SourceError, match=r"dag.oci: index sha256:\w+ lists 754137931 manifests counting repeats"):
        open_source(str(w.layout))
    with pytest.raises(SourceError, match="no manifest sha256:0000"):
        open_source(f"{w.layout}:sha256:{'0' * 64}")


def _with_layer0(w: LayoutWriter, base: dict, change: dict, drop_blob: bool = False) -> dict:
    doc = json.loads(oci_blob_path(w.layout, base["digest"]).read_bytes())
    doc["layers"][0].update(change)
    if drop_blob:
        oci_blob_path(w.layout, doc["layers"][0]["digest"]).unlink()
    return w.put(json.dumps(doc).encode(), doc["mediaType"])


@pytest.mark.parametrize("case, change, drop, carried", [
    ("foreign-with-urls-present", {"mediaType": FOREIGN, "urls": ["https://example.com/l"]}, False, False),
    ("nondistributable-with-urls-present", {"mediaType": NONDIST, "urls": ["https://example.com/l"]}, False, False),
    ("urls-on-an-ordinary-layer", {"urls": ["https://example.com/l"]}, False, False),
    ("nondistributable-absent", {"mediaType": NONDIST}, True, False),
    ("nondistributable-present-without-urls", {"mediaType": NONDIST}, False, True),
])
def test_non_distributable_layers_are_left_to_their_urls_and_named(tmp_path, caplog, case, change, drop, carried):
    w = LayoutWriter(tmp_path / case)
    base = w.image(LAYERS, docker=change.get("mediaType") == FOREIGN)
    m = _with_layer0(w, base, change, drop)
    w.write_index([named(m, ref="1")])
    layer0 = json.loads(oci_blob_path(w.layout, m["digest"]).read_bytes())["layers"][0]["digest"]
    with caplog.at_level(logging.WARNING, logger="pypush"), open_source(str(w.layout)) as src:
        assert src.root.descriptor.digest == m["digest"]
        assert (layer0 in [b.descriptor.digest for b in src.root.layers]) == carried
        assert len(src.root.layers) == 2 - (not carried)
    said = [r.getMessage() for r in caplog.records if "not copied" in r.getMessage()]
    assert len(said) == (not carried) and all(layer0 in line and "layers[0]" in line for line in said), said
    with open_source(str(w.layout), nondistributable=True) as src:  # --allow-nondistributable-artifacts
        assert (layer0 in [b.descriptor.digest for b in src.root.layers]) == (not drop)


def test_docker_save_layer_sources_keep_the_foreign_descriptor(tmp_path, caplog):
    """A Windows image's docker save names its foreign base layers in LayerSources: the manifest carries their
    descriptors (urls included) as docker push writes it, and their blobs stay behind."""
    w = LayoutWriter(tmp_path / "src.oci")
    m = w.image(LAYERS, compression=None)
    w.write_index([m])
    archive = docker_save(w.layout, tmp_path / "win.tar", [(m, ["win:1"])], oci=False)
    with tarfile.open(archive) as tar:
        files = [(i.name, tar.extractfile(i).read()) for i in tar.getmembers() if i.isfile()]
    items = json.loads(dict(files)["manifest.json"])
    gz = gzip.compress(dict(files)[items[0]["Layers"][0]], mtime=0)
    foreign = {"mediaType": FOREIGN, "size": len(gz), "digest": "sha256:" + hashlib.sha256(gz).hexdigest(),
               "urls": ["https://mcr.example/base"]}
    diff_id = "sha256:" + hashlib.sha256(LAYERS[0]).hexdigest()
    items[0]["LayerSources"] = {diff_id: foreign}
    write_tar(archive, [(n, json.dumps(items).encode() if n == "manifest.json" else d) for n, d in files])
    with caplog.at_level(logging.WARNING, logger="pypush"), open_source(str(archive)) as src:
        doc = json.loads(src.root.raw)
        assert doc["mediaType"] == DOCKER_MANIFEST and doc["layers"][0] == foreign
        assert [b.descriptor.digest for b in src.root.layers] == [doc["layers"][1]["digest"]]
    assert any(foreign["digest"] in r.getMessage() for r in caplog.records)
    with open_source(str(archive), nondistributable=True) as src:  # pushed from the archive, as a plain layer
        assert [b.descriptor.digest for b in src.root.layers][0] == diff_id
    items[0]["LayerSources"] = {diff_id: {"mediaType": FOREIGN}}
    write_tar(archive, [(n, json.dumps(items).encode() if n == "manifest.json" else d) for n, d in files])
    with pytest.raises(SourceError, match=r"manifest.json\[0\].LayerSources\[sha256:\w+\].digest: invalid digest"):
        open_source(str(archive))


def test_same_blob_twice_and_zero_layers(tmp_path):
    w = LayoutWriter(tmp_path / "l.oci")
    twice, empty = w.image([LAYERS[0], LAYERS[0], LAYERS[1]], seed="twice"), w.image([], seed="none")
    w.write_index([named(twice, ref="twice"), named(empty, ref="empty")])
    with open_source(f"{w.layout}:twice") as src:
        assert len(src.root.layers) == 3 and len(walk_image(src.root).blobs) == 3  # config + 2 distinct layers
    with open_source(f"{w.layout}:empty") as src:
        assert src.root.layers == [] and src.root.descriptor.digest == empty["digest"]


def test_index_json_with_unknown_members_and_annotations(tmp_path):
    w = LayoutWriter(tmp_path / "extra.oci")
    m = w.image(LAYERS[:1])
    (w.layout / "index.json").write_text(json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "x-vendor": {"any": [1, None]},
        "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
        "manifests": [dict(named(m, ref="1"), **{"x-member": True})]}))
    with open_source(str(w.layout)) as src:
        assert src.root.descriptor.digest == m["digest"] and src.tags == ["1"]
    (w.layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [m], "mediaType": None}))
    assert open_source(str(w.layout)).root.descriptor.digest == m["digest"]  # null reads as absent, as Go's JSON does
    (w.layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [m], "annotations": ["x"]}))
    with pytest.raises(SourceError, match=r"index.json.annotations: not a map of strings"):
        open_source(str(w.layout))
    (w.layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [m], "mediaType": OCI_MANIFEST}))
    with pytest.raises(SourceError, match=r"index.json: mediaType is 'application/vnd.oci.image.manifest.v1\+json'"):
        open_source(str(w.layout))


def test_several_unnamed_images_list_their_digests(tmp_path):
    w = LayoutWriter(tmp_path / "two.oci")
    a, b = w.image(LAYERS[:1], seed="a"), w.image(LAYERS[1:], seed="b")
    w.write_index([a, b])
    with pytest.raises(SourceError, match=f"holds 2 images; name one as PATH:REF \\(choices: @0 {a['digest']}, "
                                          f"@1 {b['digest']}\\)"):
        open_source(str(w.layout))
    assert open_source(f"oci:{w.layout}:@1").root.descriptor.digest == b["digest"]


def test_docker_save_by_id_lists_positions_and_image_ids(tmp_path):
    """`docker save ID1 ID2`: no RepoTags; the error names each image's position and ID, tagged or not."""
    w = LayoutWriter(tmp_path / "src.oci")
    a, b = w.image(LAYERS[:1], compression=None, seed="a"), w.image(LAYERS[1:], compression=None, seed="b")
    w.write_index([a, b])
    ids = [json.loads(oci_blob_path(w.layout, d["digest"]).read_bytes())["config"]["digest"][7:19] for d in (a, b)]
    for oci in (True, False):
        archive = docker_save(w.layout, tmp_path / f"byid-{oci}.tar", [(a, []), (b, ["app:2"])], oci=oci)
        with pytest.raises(SourceError, match=f"holds 2 images.*choices: @0 \\(image ID {ids[0]}\\), app:2\\)"):
            open_source(str(archive))
        assert open_source(f"{archive}:@0").root.config.descriptor.digest[7:19] == ids[0]


def test_docker_save_from_before_docker_1_10_is_named(tmp_path):
    lay = tmp_path / "layer"
    archive = write_tar(tmp_path / "old.tar", [("repositories", b'{"app": {"1": "' + b"ab" * 32 + b'"}}'),
                                               ("ab" * 32 + "/json", b"{}"), ("ab" * 32 + "/layer.tar", LAYERS[0])])
    with pytest.raises(SourceError, match="a docker save of Docker before 1.10: a repositories file but no manifest"):
        open_source(str(archive))
    assert not lay.exists()


@pytest.mark.parametrize("media_type", ["application/vnd.docker.distribution.manifest.v1+prettyjws",
                                        "application/vnd.docker.distribution.manifest.v1+json"])
def test_docker_schema_1_in_a_layout_is_named_with_the_way_out(tmp_path, media_type):
    w = LayoutWriter(tmp_path / "s1.oci")
    doc = {"schemaVersion": 1, "name": "app", "tag": "1", "architecture": "amd64", "fsLayers": [], "history": []}
    w.write_index([named(w.put(json.dumps(doc).encode(), media_type), ref="1")])
    with pytest.raises(SourceError, match=r"s1.oci/blobs/sha256/\w+: a Docker schema 1 manifest .* --format v2s2"):
        open_source(str(w.layout))


def test_docker_names_match_with_or_without_the_implied_library_namespace(tmp_path):
    w = LayoutWriter(tmp_path / "src.oci")
    a = w.image(LAYERS[:1], compression=None)
    w.write_index([a])
    archive = docker_save(w.layout, tmp_path / "lib.tar", [(a, ["docker.io/library/app:1"])], oci=False)
    for ref in ("app:1", "library/app:1", "docker.io/library/app:1", "index.docker.io/library/app:1"):
        assert open_source(f"{archive}:{ref}").tags == ["1"], ref


def test_many_choices_are_cut_at_a_whole_name_and_counted(tmp_path):
    w = LayoutWriter(tmp_path / "many.oci")
    images = [w.image([], seed=str(i)) for i in range(60)]
    w.write_index([named(m, ref=f"release-{i:02d}") for i, m in enumerate(images)])
    with pytest.raises(SourceError) as err:
        open_source(str(w.layout))
    shown = str(err.value).split("choices: ")[1].rstrip(")")
    names, _, rest = shown.partition(" and ")
    assert names.split(", ") == [f"release-{i:02d}" for i in range(len(names.split(", ")))]
    assert rest == f"{60 - len(names.split(', '))} more"


def test_a_broken_index_json_entry_does_not_block_the_image_beside_it(tmp_path):
    """As skopeo does: choosing an image by name or digest passes over an entry that is not a valid descriptor;
    naming that entry, naming nothing, or a position still reports it."""
    w = LayoutWriter(tmp_path / "l.oci")
    good = w.image(LAYERS[:1])
    w.write_index([named(dict(good, digest="sha256:XYZ"), ref="bad"), named(good, ref="good")])
    assert open_source(f"{w.layout}:good").root.descriptor.digest == good["digest"]
    assert open_source(f"{w.layout}:{good['digest']}").tags == ["good"]
    for spec in (f"{w.layout}:bad", str(w.layout), f"{w.layout}:@1"):
        with pytest.raises(SourceError, match=r"index.json.manifests\[0\].digest: invalid digest 'sha256:XYZ'"):
            open_source(spec)


@pytest.mark.parametrize("compress", [False, True])
def test_an_archive_piped_in_is_read_from_dev_stdin(tmp_path, compress):
    """`docker save app | pypush push /dev/stdin …` (and `<(…)`): the stream is copied once into a private
    temporary directory, removed when the copy ends; a stream cut short is the usual one-line error."""
    w = LayoutWriter(tmp_path / "src.oci")
    a = w.image(LAYERS, compression=None)
    w.write_index([a])
    archive = docker_save(w.layout, tmp_path / "app.tar", [(a, ["app:1"])], oci=False)
    (tmp_path / "tmp").mkdir()
    feed = f"gzip -c {archive}" if compress else f"cat {archive}"
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp")}
    run = lambda feed: subprocess.run(["bash", "-c", f"{feed} | {sys.executable} -m pypush copy /dev/stdin "
                                                     f"oci:{tmp_path / 'out'}:1"], capture_output=True, text=True,
                                      env=env, timeout=120)
    proc = run(feed)
    assert proc.returncode == 0, proc.stderr
    want = open_source(str(archive)).root.descriptor.digest
    assert proc.stdout.strip().endswith(want) and list((tmp_path / "tmp").iterdir()) == []
    proc = run(f"head -c 3000 {archive}")
    assert proc.returncode == 3 and proc.stderr.startswith("pypush: error: /dev/stdin: truncated tar"), proc.stderr
    assert list((tmp_path / "tmp").iterdir()) == []


@pytest.mark.parametrize("symlink", [False, True])
def test_oci_archive_whose_blob_is_a_link_with_dot_slash_names(tmp_path, symlink):
    """GNU tar keeps a hard-linked blob as a link member; some tools store blobs once and link them (symlinks
    relative to the link): either resolves inside the archive, names prefixed with ./ or not."""
    w = LayoutWriter(tmp_path / "src.oci")
    m = w.image(LAYERS)
    w.write_index([named(m, ref="1")])
    layer = "blobs/sha256/" + json.loads(oci_blob_path(w.layout, m["digest"]).read_bytes())["layers"][0]["digest"][7:]
    files = [(p.relative_to(w.layout).as_posix(), p.read_bytes()) for p in sorted(w.layout.rglob("*")) if p.is_file()]
    kept = [(n, d) for n, d in files if n != layer] + [("store/blob", dict(files)[layer])]
    for prefix in ("", "./"):
        archive = write_tar(tmp_path / f"linked{prefix and '-dot'}.tar", kept,
                            [(layer, "../../store/blob" if symlink else "store/blob", symlink)], prefix=prefix)
        with open_source(f"oci-archive:{archive}:1") as src:
            assert src.root.descriptor.digest == m["digest"]
            with src.root.layers[0].open() as f:
                assert f.read() == dict(files)[layer]
