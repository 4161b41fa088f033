"""compress_image: media types, Docker → OCI conversion for zstd, diff_ids preserved, the cache path.

Pushes go through the real engine into an in-memory transport that verifies digests like the real
ones do, so the contract between compress_image and the engine is what is tested.
"""
from __future__ import annotations

import dataclasses
import io
import json
from collections import Counter
from typing import Dict, List, Sequence, Set

import pytest

from conftest import FIXTURES
from imagegen import random_bytes, tar_layer
from pypush.transform import convert
from pypush.transform.compress import decompressing_reader
from pypush.transform.convert import OCI_ND_LAYER, compress_image
from pypush.image.digest import VerifyingReader
from pypush.engine.transfer import push
from pypush.errors import DigestMismatchError, UsageError
from pypush.transform.layer_cache import LayerCache
from pypush.image.model import DOCKER_CONFIG, DOCKER_LAYER, DOCKER_LAYER_GZIP, DOCKER_LIST, DOCKER_MANIFEST, OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD, OCI_MANIFEST, Blob, Descriptor, ImageIndex, ImageManifest, sha256_digest
from pypush.sources import open_source

DOCKER_SAVE = f"docker-archive:{FIXTURES / 'small.docker-archive.tar'}"


class MemoryTransport:
    """A registry in a dict: verifies every upload as the real transports do; counts what it did."""

    repository = "test/repo"

    def __init__(self) -> None:
        self.blobs: Dict[str, bytes] = {}
        self.manifests: Dict[str, bytes] = {}
        self.tags: Dict[str, str] = {}
        self.uploads: List[str] = []
        self.stats: Counter = Counter()

    def prepare(self, create_repository: bool = False) -> None:
        pass

    def missing(self, digests: Sequence[str]) -> Set[str]:
        return {d for d in digests if d not in self.blobs}

    def upload(self, blob: Blob, progress) -> Descriptor:
        d = blob.descriptor
        with VerifyingReader(blob.open(), d.digest, d.size or None, blob.name) as r:
            data = r.read()
            digest = r.digest
        self.blobs[digest] = data
        self.uploads.append(digest)
        self.stats["uploaded"] += 1
        self.stats["bytes"] += len(data)
        progress(len(data))
        return Descriptor(d.media_type, digest, len(data), d.annotations)

    def put_manifest(self, raw: bytes, media_type: str, digest: str, tags: Sequence[str]) -> None:
        assert sha256_digest(raw) == digest
        self.manifests[digest] = raw
        for t in tags:
            self.tags[t] = digest

    def close(self) -> None:
        pass

    def check_image(self, digest: str) -> List[dict]:
        """Every manifest below ``digest`` resolves; layers decompress to the config's diff_ids."""
        doc = json.loads(self.manifests[digest])
        if "manifests" in doc:
            return [m for child in doc["manifests"] for m in self.check_image(child["digest"])]
        config = json.loads(self.blobs[doc["config"]["digest"]])
        got = []
        for layer in doc["layers"]:
            data = self.blobs[layer["digest"]]
            assert len(data) == layer["size"]
            mt = layer["mediaType"]
            algo = "gzip" if mt.endswith("gzip") else "zstd" if mt.endswith("zstd") else None
            plain = decompressing_reader(io.BytesIO(data), algo).read() if algo else data
            got.append(sha256_digest(plain))
        assert got == config["rootfs"]["diff_ids"]
        return [doc]


def engine_push(node, transport=None) -> tuple:
    transport = transport or MemoryTransport()
    result = push(node, transport, ["t"])
    return transport, result


def layer_types(doc: dict) -> List[str]:
    return [layer["mediaType"] for layer in doc["layers"]]


def test_gzip_compresses_docker_plain_layers_and_keeps_the_config():
    src = open_source(DOCKER_SAVE)
    node = compress_image(src.root, "gzip")
    assert node.descriptor == src.root.descriptor and node.raw == src.root.raw
    assert all(b.original is not None and b.descriptor.digest == "" for b in node.layers)
    t, result = engine_push(node)
    (doc,) = t.check_image(result.digest)
    assert doc["mediaType"] == DOCKER_MANIFEST and doc["config"]["digest"] == src.root.config.descriptor.digest
    assert layer_types(doc) == [DOCKER_LAYER_GZIP] * 3
    assert all(t.blobs[x["digest"]][:2] == b"\x1f\x8b" for x in doc["layers"])


def test_zstd_converts_a_docker_manifest_to_oci():
    notes: List[str] = []
    src = open_source(DOCKER_SAVE)
    node = compress_image(src.root, "zstd", notify=notes.append)
    assert notes and "OCI" in notes[0]
    template = json.loads(node.raw)
    assert node.descriptor.media_type == OCI_MANIFEST == template["mediaType"]
    assert node.descriptor.digest == sha256_digest(node.raw) and node.descriptor.size == len(node.raw)
    assert template["config"] == dict(json.loads(src.root.raw)["config"], mediaType=OCI_CONFIG)
    assert [x["digest"] for x in template["layers"]] == [b.descriptor.digest for b in src.root.layers]
    assert node.config.descriptor.media_type == OCI_CONFIG
    t, result = engine_push(node)
    (doc,) = t.check_image(result.digest)
    assert doc["mediaType"] == OCI_MANIFEST and doc["config"]["mediaType"] == OCI_CONFIG
    assert layer_types(doc) == [OCI_LAYER_ZSTD] * 3
    assert t.blobs[doc["config"]["digest"]] == src.root.config.open().read()


def test_already_compressed_layers_are_kept_and_none_decompresses_them():
    src = open_source(f"oci:{FIXTURES / 'small.oci'}:1")
    for algo in ("gzip", "zstd", "keep"):
        node = compress_image(src.root, algo)
        assert [b.descriptor for b in node.layers] == [b.descriptor for b in src.root.layers]
        assert node.raw == src.root.raw
    assert compress_image(src.root, "keep") is src.root
    node = compress_image(src.root, "none")
    t, result = engine_push(node)
    (doc,) = t.check_image(result.digest)
    config = json.loads(src.root.config.open().read())
    assert layer_types(doc) == [OCI_LAYER] * 3
    assert [x["digest"] for x in doc["layers"]] == config["rootfs"]["diff_ids"]


def test_zstd_layers_decompress_under_none_and_plain_oci_layers_compress():
    zst = open_source(f"oci:{FIXTURES / 'small.oci-zstd'}:1").root
    t, result = engine_push(compress_image(zst, "none"))
    assert layer_types(t.check_image(result.digest)[0]) == [OCI_LAYER] * 3
    plain = open_source(f"oci:{FIXTURES / 'small.oci-uncompressed'}:1").root
    for algo, want in (("gzip", OCI_LAYER_GZIP), ("zstd", OCI_LAYER_ZSTD)):
        node = compress_image(plain, algo, notify=pytest.fail)  # OCI already: no conversion note
        t, result = engine_push(node)
        assert layer_types(t.check_image(result.digest)[0]) == [want] * 3


def _docker_image(seed: int, plain: bool = True) -> ImageManifest:
    layer = tar_layer([(f"f{seed}", random_bytes(5000, seed) + b"text " * 3000)])
    diff_id = sha256_digest(layer)
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    cdesc = Descriptor(DOCKER_CONFIG, sha256_digest(config), len(config))
    ldesc = Descriptor(DOCKER_LAYER, diff_id, len(layer))
    raw = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "config": cdesc.to_json(),
                      "layers": [ldesc.to_json()]}, indent=3).encode()
    return ImageManifest(Descriptor(DOCKER_MANIFEST, sha256_digest(raw), len(raw)), raw,
                         Blob(cdesc, lambda: io.BytesIO(config)), [Blob(ldesc, lambda: io.BytesIO(layer))])


def _docker_list(children: List[ImageManifest]) -> ImageIndex:
    descs = [dict(c.descriptor.to_json(), platform={"os": "linux", "architecture": a})
             for c, a in zip(children, ("amd64", "arm64"))]
    raw = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": descs}).encode()
    return ImageIndex(Descriptor(DOCKER_LIST, sha256_digest(raw), len(raw)), raw, children)


def test_zstd_converts_a_docker_manifest_list_to_an_oci_index():
    index = _docker_list([_docker_image(1), _docker_image(2)])
    node = compress_image(index, "zstd", notify=lambda _: None)
    assert isinstance(node, ImageIndex) and node.descriptor.media_type == OCI_INDEX
    template = json.loads(node.raw)
    assert template["mediaType"] == OCI_INDEX
    assert [m["digest"] for m in template["manifests"]] == [c.descriptor.digest for c in node.children]
    assert [m["mediaType"] for m in template["manifests"]] == [OCI_MANIFEST] * 2
    assert [m["platform"]["architecture"] for m in template["manifests"]] == ["amd64", "arm64"]
    t, result = engine_push(node)
    docs = t.check_image(result.digest)
    assert json.loads(t.manifests[result.digest])["mediaType"] == OCI_INDEX
    assert [layer_types(d) for d in docs] == [[OCI_LAYER_ZSTD]] * 2
    # gzip needs no conversion: the list keeps its type and bytes until the engine renders it
    gz = compress_image(index, "gzip", notify=pytest.fail)
    assert gz.raw == index.raw and gz.descriptor == index.descriptor
    t, result = engine_push(gz)
    assert json.loads(t.manifests[result.digest])["mediaType"] == DOCKER_LIST
    assert [layer_types(d) for d in t.check_image(result.digest)] == [[DOCKER_LAYER_GZIP]] * 2


@pytest.mark.zstd
def test_nondistributable_plain_layers_get_the_matching_compressed_type():
    image = _docker_image(3)
    layer = image.layers[0]
    oci = Blob(Descriptor(OCI_ND_LAYER, layer.descriptor.digest, layer.descriptor.size), layer.open)
    node = compress_image(ImageManifest(image.descriptor, image.raw, image.config, [oci]), "zstd")
    assert node.layers[0].descriptor.media_type == OCI_ND_LAYER + "+zstd"


class CountingOpens:
    """Counts opens of an image's layers: ``counted(node)`` is ``node`` with every layer's opener counted."""

    def __init__(self) -> None:
        self.count = 0

    def counted(self, node):
        if isinstance(node, ImageManifest):
            return dataclasses.replace(node, layers=[dataclasses.replace(b, open=self.wrap(b.open))
                                                     for b in node.layers])
        return dataclasses.replace(node, children=[self.counted(c) for c in node.children])

    def wrap(self, opener):
        def counted():
            self.count += 1
            return opener()
        return counted


@pytest.mark.parametrize("algorithm", ["gzip", "zstd", "none"])
def test_cache_predicts_digests_so_a_second_push_compresses_and_uploads_nothing(tmp_path, algorithm):
    cache = LayerCache(tmp_path / "cache")
    spec = f"oci:{FIXTURES / 'small.oci'}:1" if algorithm == "none" else DOCKER_SAVE
    first = compress_image(open_source(spec).root, algorithm, cache=cache, notify=lambda _: None)
    assert all(b.descriptor.digest == "" for b in first.layers)
    transport, result = engine_push(first)
    stored = json.loads(transport.manifests[result.digest])["layers"]

    opens = CountingOpens()
    again = opens.counted(open_source(spec).root)
    second = compress_image(again, algorithm, cache=cache, notify=lambda _: None)
    assert [(b.descriptor.digest, b.descriptor.size) for b in second.layers] == [(x["digest"], x["size"])
                                                                                 for x in stored]
    uploads_before = list(transport.uploads)
    _, result2 = engine_push(second, transport)
    assert result2.digest == result.digest
    assert (result2.blobs_pushed, opens.count, transport.uploads) == (0, 0, uploads_before)


@pytest.mark.zstd
def test_a_warm_cache_and_an_empty_registry_upload_once_with_the_predicted_digest(tmp_path):
    cache = LayerCache(tmp_path / "cache")
    _, result = engine_push(compress_image(open_source(DOCKER_SAVE).root, "zstd", cache=cache, notify=print))
    fresh = MemoryTransport()
    node = compress_image(open_source(DOCKER_SAVE).root, "zstd", cache=cache, notify=print)
    assert all(b.descriptor.digest for b in node.layers)
    _, again = engine_push(node, fresh)
    assert again.digest == result.digest and len(fresh.uploads) == 4  # config + 3 layers, no retry
    fresh.check_image(again.digest)


def test_a_stale_prediction_is_detected_and_the_cache_corrected(tmp_path):
    cache = LayerCache(tmp_path / "cache")
    t, result = engine_push(compress_image(open_source(DOCKER_SAVE).root, "gzip", cache=cache))
    # Poison every entry with a well-formed but wrong digest of a blob the registry lacks.
    for i, path in enumerate(sorted((tmp_path / "cache").rglob("*.json"))):
        doc = json.loads(path.read_text())
        doc["digest"] = "sha256:" + str(i) * 64
        path.write_text(json.dumps(doc))
    fresh = MemoryTransport()
    node = compress_image(open_source(DOCKER_SAVE).root, "gzip", cache=cache)
    assert {b.descriptor.digest for b in node.layers} == {"sha256:" + str(i) * 64 for i in range(3)}
    _, result2 = engine_push(node, fresh)
    assert result2.digest == result.digest
    fresh.check_image(result2.digest)
    repaired = compress_image(open_source(DOCKER_SAVE).root, "gzip", cache=cache)
    assert [b.descriptor.digest for b in repaired.layers] == [x["digest"] for x in
                                                             json.loads(t.manifests[result.digest])["layers"]]


def test_corrupt_source_layer_fails_before_the_blob_is_committed():
    image = _docker_image(4)
    good = image.layers[0]
    data = bytearray(good.open().read())
    data[600] ^= 1
    bad = Blob(good.descriptor, lambda: io.BytesIO(bytes(data)), name="layer.tar")
    node = compress_image(ImageManifest(image.descriptor, image.raw, image.config, [bad]), "gzip")
    transport = MemoryTransport()
    with pytest.raises(DigestMismatchError, match="layer.tar"):
        engine_push(node, transport)
    assert transport.manifests == {} and len(transport.blobs) <= 1  # the config at most


def test_same_input_gives_the_same_compressed_digests_every_time():
    digests = []
    for _ in range(2):
        t, result = engine_push(compress_image(open_source(DOCKER_SAVE).root, "gzip", threads=1 + len(digests)))
        digests.append(result.digest)
    assert digests[0] == digests[1]


@pytest.mark.parametrize("algorithm,level", [("brotli", None), ("gzip", 11), ("zstd", 0), ("zstd", 23)])
def test_bad_algorithm_or_level(algorithm, level):
    with pytest.raises(UsageError):
        compress_image(_docker_image(1), algorithm, level)


def test_levels_pass_through(tmp_path):
    image = _docker_image(5)
    sizes = []
    for level in (1, 9):
        t, result = engine_push(compress_image(image, "gzip", level))
        sizes.append(json.loads(t.manifests[result.digest])["layers"][0]["size"])
    assert sizes[0] != sizes[1]
    assert convert.ALGORITHMS == ("gzip", "zstd", "none", "keep")


def test_attestations_follow_the_image_manifest_compression_rewrote(tmp_path, docker_registry, skopeo):
    """buildx attestations name their image by digest in an annotation; compressing the image's plain
    layers changes that digest, so the index must name the new one (checked on what the registry serves)."""
    from conftest import run_pypush
    from imagegen import LayoutWriter, named

    w = LayoutWriter(tmp_path / "attest.oci")
    image = w.image([tar_layer([("app/data", random_bytes(5000, 7))])], compression=None, seed="img")
    att = w.image([b'{"predicateType": "https://slsa.dev/provenance/v0.2"}'], compression=None, seed="att")
    index = w.index([named(image, platform=("amd64", "linux")),
                     dict(named(att, platform=("unknown", "unknown")),
                          annotations={"vnd.docker.reference.type": "attestation-manifest",
                                       "vnd.docker.reference.digest": image["digest"]})])
    w.write_index([named(index, ref="1")])
    proc = run_pypush("push", "--insecure", f"oci:{w.layout}:1", f"{docker_registry.host}/attest/app:1")
    assert proc.returncode == 0, proc.stderr
    served = json.loads(skopeo.inspect_raw(f"{docker_registry.host}/attest/app:1"))
    pushed_image, pushed_att = served["manifests"]
    assert pushed_image["digest"] != image["digest"]  # its layer was gzip-compressed
    assert pushed_att["annotations"]["vnd.docker.reference.digest"] == pushed_image["digest"]
    for desc in served["manifests"]:  # both children are there under the digests the index names
        skopeo.inspect_raw(f"{docker_registry.host}/attest/app@{desc['digest']}")
