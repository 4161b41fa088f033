"""The image tree walked once per push: what every step of the push (the already-pushed short cut, the
verify-ahead, the uploads, the manifests, the referrers) reads, instead of walking the tree again."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from pypush.image.model import (Blob, Descriptor, ImageManifest, Node, is_foreign, render_manifest,
                                sha256_digest, walk)


@dataclass(frozen=True)
class WalkedImage:
    """An image and its referrers, walked: ``manifests`` in push order (children before parents, ``root`` last),
    ``blobs`` every blob they and the referrers need, once each, in manifest order, and the non-distributable
    layers the manifests name but the push leaves to their urls."""

    root: Node
    manifests: Tuple[Node, ...]
    blobs: Tuple[Blob, ...]
    referrers: Tuple[ImageManifest, ...]
    layers_not_copied: Tuple[str, ...]


def walk_image(root: Node, referrers: Sequence[ImageManifest] = ()) -> WalkedImage:
    """Walk ``root`` (and list ``referrers``, manifests pushed after it whose ``subject`` names one of its
    manifests) once."""
    manifests = tuple(walk(root))
    seen: Dict[str, Blob] = {}
    not_copied: List[str] = []
    for node in manifests:
        if isinstance(node, ImageManifest):
            for blob in node.blobs:
                seen.setdefault(_blob_key(blob), blob)
            _not_copied(node, not_copied)
    for ref in referrers:
        for blob in ref.blobs:
            seen.setdefault(_blob_key(blob), blob)
    return WalkedImage(root, manifests, tuple(seen.values()), tuple(referrers), tuple(not_copied))


def _blob_key(blob: Blob) -> str:
    return blob.descriptor.digest or "pending:" + (blob.original.digest if blob.original else str(id(blob)))


def _not_copied(node: ImageManifest, out: List[str]) -> None:
    """Add to ``out`` the non-distributable layers ``node`` names but does not carry (left to their urls, as
    docker, skopeo and crane leave them), each once."""
    carried = {d for b in node.blobs for d in (b.descriptor.digest, b.original.digest if b.original else "")}
    try:
        layers = json.loads(node.raw).get("layers") or []
    except (ValueError, AttributeError):
        return
    for layer in layers:
        digest = layer.get("digest") if isinstance(layer, dict) else None
        if digest and is_foreign(layer) and digest not in carried and digest not in out:
            out.append(digest)


def rendered_manifests(image: WalkedImage, stored: Dict[str, Descriptor]) -> Iterator[Tuple[Node, bytes, str]]:
    """(node, bytes, digest) of every manifest of ``image`` in push order, rewritten for ``stored`` (original
    digest -> stored descriptor); a rewritten child's new descriptor is added to ``stored``."""
    for node in image.manifests:
        raw = render_manifest(node.raw, stored)
        desc = node.descriptor
        digest = sha256_digest(raw) if raw is not node.raw else desc.digest
        if digest != desc.digest or len(raw) != desc.size:
            stored[desc.digest] = Descriptor(desc.media_type, digest, len(raw), desc.annotations, desc.platform,
                                             desc.artifact_type)
        yield node, raw, digest


def predicted_stored(blobs: Sequence[Blob]) -> Optional[Dict[str, Descriptor]]:
    """original digest -> descriptor for transformed blobs whose digest is known before sending (a cache
    predicts it); None when any blob's digest is still unknown."""
    stored: Dict[str, Descriptor] = {}
    for blob in blobs:
        if not blob.descriptor.digest:
            return None
        if blob.original is not None:
            stored[blob.original.digest] = blob.descriptor
    return stored
