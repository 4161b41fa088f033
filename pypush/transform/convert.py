"""Image transformation before a push: layer (de)compression and Docker → OCI conversion for zstd.

``compress_image(node, algorithm, level, cache)`` returns a node of the same shape whose layer blobs
stream transformed bytes. The modes:

- ``gzip`` (default): plain tar layers are gzipped (Docker ``…diff.tar`` → ``…diff.tar.gzip``, OCI
  ``…tar`` → ``…tar+gzip``); already-compressed layers are pushed as stored.
- ``zstd``: plain tar layers become ``…tar+zstd``; compressed layers are pushed as stored. zstd
  needs an OCI manifest, so when any layer is zstd-compressed every Docker schema 2 manifest becomes
  an OCI manifest (config ``…oci.image.config.v1+json``, layers the OCI types) and every Docker
  manifest list an OCI index; a note says so. The config blob's bytes do not change.
- ``none``: every layer is pushed uncompressed: gzip and zstd layers are decompressed (their digest
  becomes the diff_id), plain layers stay plain.
- ``keep``: every layer exactly as stored; the node is returned unchanged.

The config (and its diff_ids) never changes. A transformed blob has ``original`` set to the
descriptor the manifest names and a descriptor whose digest/size are ``""``/``0`` unless the layer
cache predicts them; the engine uploads it and renders the manifest with
``render_manifest(raw, {original.digest: stored descriptor})``. A converted manifest's ``raw`` is an
OCI template still naming the original digests, with a descriptor recomputed from it; a parent
index's ``raw`` names its children by the descriptors of the returned child nodes.
Source bytes are verified against the original digest while they stream through the compressor.
"""
from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import IO, Callable, Dict, List, Optional, Tuple, cast

from pypush.transform.compress import GZIP, ZSTD, check_level, compressing_reader, compressor_id, decompressing_reader
from pypush.image.digest import VerifyingReader
from pypush.errors import UsageError
from pypush.transform.layer_cache import CacheKey, LayerCache
from pypush.image.model import DOCKER_CONFIG, DOCKER_FOREIGN_LAYER, DOCKER_LAYER, DOCKER_LAYER_GZIP, DOCKER_LIST, DOCKER_MANIFEST, OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD, OCI_MANIFEST, Blob, Descriptor, ImageIndex, ImageManifest, Node, render_manifest, sha256_digest, walk

log = logging.getLogger("pypush")

NONE, KEEP = "none", "keep"
ALGORITHMS = (GZIP, ZSTD, NONE, KEEP)

OCI_ND_LAYER = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_ND_LAYER_GZIP = OCI_ND_LAYER + "+gzip"
OCI_ND_LAYER_ZSTD = OCI_ND_LAYER + "+zstd"

# plain media type -> compressed media type, per algorithm (Docker types reach zstd converted)
_COMPRESSED_TYPE: Dict[str, Dict[str, str]] = {
    GZIP: {DOCKER_LAYER: DOCKER_LAYER_GZIP, OCI_LAYER: OCI_LAYER_GZIP, OCI_ND_LAYER: OCI_ND_LAYER_GZIP},
    ZSTD: {OCI_LAYER: OCI_LAYER_ZSTD, OCI_ND_LAYER: OCI_ND_LAYER_ZSTD},
}
# compressed media type -> (algorithm, plain media type)
_PLAIN_TYPE: Dict[str, Tuple[str, str]] = {
    DOCKER_LAYER_GZIP: (GZIP, DOCKER_LAYER), OCI_LAYER_GZIP: (GZIP, OCI_LAYER), OCI_LAYER_ZSTD: (ZSTD, OCI_LAYER),
    OCI_ND_LAYER_GZIP: (GZIP, OCI_ND_LAYER), OCI_ND_LAYER_ZSTD: (ZSTD, OCI_ND_LAYER),
}
_DOCKER_TO_OCI = {
    DOCKER_MANIFEST: OCI_MANIFEST, DOCKER_LIST: OCI_INDEX, DOCKER_CONFIG: OCI_CONFIG, DOCKER_LAYER: OCI_LAYER,
    DOCKER_LAYER_GZIP: OCI_LAYER_GZIP, DOCKER_FOREIGN_LAYER: OCI_ND_LAYER_GZIP,
}
_DECOMPRESSOR_ID = "decompress1"


def compress_image(node: Node, algorithm: str = GZIP, level: Optional[int] = None,
                   cache: Optional[LayerCache] = None, *, threads: Optional[int] = None,
                   notify: Optional[Callable[[str], None]] = None) -> Node:
    """``node`` with its layers transformed per ``algorithm`` (see the module docstring).

    ``level`` defaults to the algorithm's (gzip 1, zstd 3); ``threads`` to every core; ``cache``
    predicts digests and learns them through ``Blob.on_stored``; ``notify`` receives user-facing
    notes (default: a warning on the "pypush" logger). Opens no blob: all work happens on upload.
    """
    if algorithm not in ALGORITHMS:
        raise UsageError(f"unknown compression {algorithm!r}: choose one of {', '.join(ALGORITHMS)}")
    if algorithm == KEEP:
        return node
    level = check_level(algorithm, level) if algorithm in (GZIP, ZSTD) else 0
    to_oci = algorithm == ZSTD and _has_docker_manifest_and_plain_layer(node)
    if to_oci:
        (notify or log.warning)("note: zstd layers need OCI manifests; converting the Docker manifest(s) "
                                "to OCI (same config and layers, new manifest digest)")
    return _Converter(algorithm, level, cache, threads, to_oci).node(node)


def oci_media_type(media_type: str) -> str:
    """The OCI media type for a Docker one (manifest, list, config, layer); others unchanged."""
    return _DOCKER_TO_OCI.get(media_type, media_type)


_oci_type = oci_media_type


def transform_layer(blob: Blob, algorithm: str = GZIP, level: Optional[int] = None,
                    cache: Optional[LayerCache] = None) -> Blob:
    """One layer blob as ``compress_image`` would push it (its media type's family kept)."""
    if algorithm not in ALGORITHMS:
        raise UsageError(f"unknown compression {algorithm!r}: choose one of {', '.join(ALGORITHMS)}")
    if algorithm == KEEP:
        return blob
    level = check_level(algorithm, level) if algorithm in (GZIP, ZSTD) else 0
    return _Converter(algorithm, level, cache, None, False).layer(blob, False)


def _has_docker_manifest_and_plain_layer(node: Node) -> bool:
    """Whether zstd would compress some layer of a tree that holds a Docker manifest or list."""
    nodes = walk(node)
    return any(n.descriptor.media_type in (DOCKER_MANIFEST, DOCKER_LIST) for n in nodes) and any(
        _oci_type(b.descriptor.media_type) in _COMPRESSED_TYPE[ZSTD]
        for n in nodes if isinstance(n, ImageManifest) for b in n.layers)


class _Converter:
    """Rebuilds a tree node by node; ``to_oci`` converts its Docker manifests and lists."""

    def __init__(self, algorithm: str, level: int, cache: Optional[LayerCache], threads: Optional[int],
                 to_oci: bool):
        self.algorithm = algorithm
        self.level = level
        self.cache = cache
        self.threads = threads
        self.to_oci = to_oci

    def node(self, node: Node) -> Node:
        if isinstance(node, ImageIndex):
            return self.index(node)
        return self.manifest(node)

    def manifest(self, m: ImageManifest) -> ImageManifest:
        convert = self.to_oci and m.descriptor.media_type == DOCKER_MANIFEST
        layers = [self.layer(b, convert) for b in m.layers]
        if not convert:
            return ImageManifest(m.descriptor, m.raw, m.config, layers, list(m.extra_blobs))
        config = replace(m.config, descriptor=replace(m.config.descriptor,
                                                      media_type=_oci_type(m.config.descriptor.media_type)))
        raw = _docker_to_oci(m.raw)
        return ImageManifest(_redescribe(m.descriptor, raw, OCI_MANIFEST), raw, config, layers, list(m.extra_blobs))

    def index(self, ix: ImageIndex) -> ImageIndex:
        children = [self.node(c) for c in ix.children]
        changed = {old.descriptor.digest: new.descriptor for old, new in zip(ix.children, children)
                   if new.descriptor != old.descriptor}
        convert = self.to_oci and ix.descriptor.media_type == DOCKER_LIST
        raw = render_manifest(_docker_to_oci(ix.raw) if convert else ix.raw, changed)
        if raw == ix.raw:
            return ImageIndex(ix.descriptor, ix.raw, children)
        return ImageIndex(_redescribe(ix.descriptor, raw, OCI_INDEX if convert else ix.descriptor.media_type),
                          raw, children)

    def layer(self, blob: Blob, convert: bool) -> Blob:
        desc = blob.descriptor
        media_type = _oci_type(desc.media_type) if convert else desc.media_type
        if self.algorithm in (GZIP, ZSTD) and media_type in _COMPRESSED_TYPE[self.algorithm]:
            return self._transformed(blob, _COMPRESSED_TYPE[self.algorithm][media_type],
                                     CacheKey(desc.digest, self.algorithm, self.level, compressor_id(self.algorithm)),
                                     lambda src: compressing_reader(src, self.algorithm, self.level, self.threads),
                                     self.algorithm)
        if self.algorithm == NONE and media_type in _PLAIN_TYPE:
            algo, plain = _PLAIN_TYPE[media_type]
            return self._transformed(blob, plain, CacheKey(desc.digest, NONE, 0, _DECOMPRESSOR_ID),
                                     lambda src: decompressing_reader(src, algo), "decompressed")
        if media_type != desc.media_type:
            return replace(blob, descriptor=replace(desc, media_type=media_type))
        return blob

    def _transformed(self, blob: Blob, media_type: str, key: CacheKey,
                     transform: Callable[[IO[bytes]], IO[bytes]], what: str) -> Blob:
        hit = self.cache.get(key) if self.cache is not None else None
        desc = Descriptor(media_type, hit.digest if hit else "", hit.size if hit else 0, blob.descriptor.annotations)
        cache = self.cache

        def on_stored(stored: Descriptor) -> None:
            if cache is not None and stored.digest:
                cache.put(key, stored.digest, stored.size)

        return Blob.derived(blob, lambda src: transform(_verified(src)), desc,
                            f"{blob.name or blob.descriptor.digest} ({what})", on_stored if cache is not None else None)


def _verified(blob: Blob) -> IO[bytes]:
    """``blob.open()``, checked against its descriptor as it is read (once; what ``blob.hashed`` covers,
    hashed ahead, is not hashed again)."""
    stream = blob.open()
    if isinstance(stream, VerifyingReader) and stream.expected_digest == blob.descriptor.digest:
        return stream
    return cast(IO[bytes], VerifyingReader(stream, blob.descriptor.digest, blob.descriptor.size,
                                           blob.name or blob.descriptor.digest, blob.hashed))


def _docker_to_oci(raw: bytes) -> bytes:
    """A Docker manifest or list rewritten with OCI media types (same digests: a template to render)."""
    doc = json.loads(raw)
    doc["mediaType"] = _oci_type(doc.get("mediaType", ""))
    descs: List[dict] = [doc["config"]] if isinstance(doc.get("config"), dict) else []
    descs += [d for key in ("layers", "manifests") for d in doc.get(key) or [] if isinstance(d, dict)]
    for d in descs:
        if "mediaType" in d:
            d["mediaType"] = _oci_type(d["mediaType"])
    return json.dumps(doc, separators=(",", ":")).encode()


def _redescribe(desc: Descriptor, raw: bytes, media_type: str) -> Descriptor:
    return Descriptor(media_type, sha256_digest(raw), len(raw), desc.annotations, desc.platform, desc.artifact_type)
