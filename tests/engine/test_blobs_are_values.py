"""The engine treats the image it is given as a value: a push leaves every manifest, index and blob as it was,
even one that resumes hashes taken ahead of the upload and recomputes a digest the layer cache predicted wrong."""
from __future__ import annotations

import dataclasses
import json
from typing import Any, List, Tuple

import pytest

from conftest import FIXTURES

from pypush.engine.copy import send_image
from pypush.engine.options import PushOptions
from pypush.image.model import Blob, ImageIndex, ImageManifest, Node, walk
from pypush.sources import open_source
from pypush.transform.convert import compress_image
from pypush.transform.layer_cache import LayerCache
from pypush.transports.distribution.tag_probe import tag_digests

DOCKER_SAVE = f"docker-archive:{FIXTURES / 'small.docker-archive.tar'}"


def _blob_state(blob: Blob) -> Tuple[Any, ...]:
    """Everything a blob holds, by value or (openers, hash states, callbacks) by identity."""
    return (blob.descriptor, blob.original, blob.name, blob.open, blob.hashed, blob.on_stored, blob.derive,
            None if blob.source is None else _blob_state(blob.source))


def _state(root: Node) -> List[Tuple[Any, ...]]:
    """The image tree as values: each node's descriptor and bytes, and its blobs' or children's state."""
    return [(type(n), n.descriptor, n.raw, tuple(id(c) for c in n.children) if isinstance(n, ImageIndex)
             else tuple(_blob_state(b) for b in n.blobs)) for n in walk(root)]


def _poison(cache_dir) -> int:
    """Give every layer-cache entry a well-formed but wrong digest (a stale prediction); how many there were."""
    entries = sorted(cache_dir.rglob("*.json"))
    for i, path in enumerate(entries):
        doc = json.loads(path.read_text())
        doc["digest"] = "sha256:" + str(i) * 64
        path.write_text(json.dumps(doc))
    return len(entries)


def test_model_values_refuse_assignment():
    with open_source(f"oci:{FIXTURES / 'multiarch.oci'}:1") as src:
        root = src.root
        assert isinstance(root, ImageIndex)
        child = root.children[0]
        assert isinstance(child, ImageManifest)
        for obj, name in ((root, "raw"), (child, "layers"), (child.config, "descriptor"), (child.config, "hashed")):
            with pytest.raises(dataclasses.FrozenInstanceError):
                setattr(obj, name, None)


def test_a_push_leaves_the_image_it_was_given_unchanged(docker_registry, tmp_path):
    """Compressed layers with a verify-ahead of their plain input, and a cache whose predictions are all stale:
    both paths that once wrote into a Blob (the resumed hash, the reset digest) run, and nothing changes."""
    cache_dir = tmp_path / "cache"
    options = PushOptions(insecure=True)
    host = docker_registry.host
    with open_source(DOCKER_SAVE) as src:
        first = compress_image(src.root, "gzip", cache=LayerCache(cache_dir))
        before = _state(first)
        fresh = send_image(first, f"{host}/fresh:1", options=options)
        assert _state(first) == before
    assert _poison(cache_dir) == 3
    with open_source(DOCKER_SAVE) as src:
        stale = compress_image(src.root, "gzip", cache=LayerCache(cache_dir))
        assert isinstance(stale, ImageManifest)
        assert all(b.descriptor.digest.startswith("sha256:") and b.source is not None for b in stale.layers)
        before = _state(stale)
        again = send_image(stale, f"{host}/stale:1", options=options)
        assert _state(stale) == before
        assert all(b.source is not None and b.source.hashed is None for b in stale.layers)
    assert again.digest == fresh.digest and again.blobs_pushed == 4
    assert tag_digests(host, "stale", ["1"]) == {"1": fresh.digest}
