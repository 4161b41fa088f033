"""What a push did (``PushResult``), and the manifests it writes, rendered for the blobs as stored."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Dict, Iterator, List, Mapping, Optional, Tuple

from pypush.image.model import (Blob, Descriptor, ImageIndex, ImageManifest, Node, is_foreign, render_manifest,
                                sha256_digest, walk)


@dataclass
class PushResult:
    """What a push did. ``digest`` is the top manifest's; ``reference`` is ``REPO@DIGEST``.
    ``unchanged``: every tag already named this manifest, so nothing was sent (one question asked)."""

    repository: str
    digest: str
    media_type: str
    size: int
    tags: List[str]
    blobs_pushed: int = 0  # uploaded (or mounted from another repository)
    blobs_skipped: int = 0  # already there
    blobs_mounted: int = 0
    bytes_pushed: int = 0  # bytes uploaded (mounted blobs move no bytes)
    bytes_resumed: int = 0  # bytes of half-sent blobs an earlier run had sent (not sent again)
    manifests: int = 0
    children: List[str] = field(default_factory=list)
    retries: int = 0  # failed requests that were retried (throttling included)
    throttled: int = 0  # of which the service throttled
    unchanged: bool = False
    layers_not_copied: List[str] = field(default_factory=list)  # non-distributable: clients fetch them by urls
    referrers: List[str] = field(default_factory=list)  # manifests pushed with a subject (e.g. SBOMs), by digest

    @property
    def reference(self) -> str:
        """``REPOSITORY@DIGEST``: what the CLI prints."""
        return f"{self.repository}@{self.digest}"

    def to_json(self) -> Dict[str, object]:
        """The result as plain JSON data (``--format json``)."""
        out = asdict(self)
        out["reference"] = self.reference
        return out


def _blob_key(blob: Blob) -> str:
    return blob.descriptor.digest or "pending:" + (blob.original.digest if blob.original else str(id(blob)))


def layers_not_copied(root: Node) -> List[str]:
    """Digests of the non-distributable layers the image's manifests name but the push does not carry (left to
    their urls, as docker, skopeo and crane leave them), each once."""
    out: List[str] = []
    for node in walk(root):
        if not isinstance(node, ImageManifest):
            continue
        carried = {d for b in node.blobs for d in (b.descriptor.digest, b.original.digest if b.original else "")}
        try:
            layers = json.loads(node.raw).get("layers") or []
        except (ValueError, AttributeError):
            continue
        for layer in layers:
            digest = layer.get("digest") if isinstance(layer, dict) else None
            if digest and is_foreign(layer) and digest not in carried and digest not in out:
                out.append(digest)
    return out


def unique_blobs(root: Node) -> List[Blob]:
    """Every blob the image needs, once each, in manifest order."""
    seen: Dict[str, Blob] = {}
    for node in walk(root):
        if not isinstance(node, ImageIndex):
            for blob in node.blobs:
                seen.setdefault(_blob_key(blob), blob)
    return list(seen.values())


def rendered_manifests(root: Node, stored: Dict[str, Descriptor]) -> Iterator[Tuple[Node, bytes, str]]:
    """(node, bytes, digest) of every manifest, children before parents, rewritten for ``stored``
    (original digest -> stored descriptor); a rewritten child's new descriptor is added to ``stored``."""
    for node in walk(root):
        raw = render_manifest(node.raw, stored)
        desc = node.descriptor
        digest = sha256_digest(raw) if raw is not node.raw else desc.digest
        if digest != desc.digest or len(raw) != desc.size:
            stored[desc.digest] = Descriptor(desc.media_type, digest, len(raw), desc.annotations, desc.platform,
                                             desc.artifact_type)
        yield node, raw, digest


def predicted_stored(blobs: List[Blob]) -> Optional[Dict[str, Descriptor]]:
    """original digest -> descriptor for transformed blobs whose digest is known before sending (a cache
    predicts it); None when any blob's digest is still unknown."""
    stored: Dict[str, Descriptor] = {}
    for blob in blobs:
        if not blob.descriptor.digest:
            return None
        if blob.original is not None:
            stored[blob.original.digest] = blob.descriptor
    return stored


def unchanged_result(root: Node, blobs: List[Blob], repository: str, tags: List[str],
                     tagged: Mapping[str, Optional[str]]) -> Optional[PushResult]:
    """The result of a push that needs nothing sent, when every tag in ``tagged`` (tag -> digest it names
    now) already names the root manifest as it would be pushed; else None."""
    stored = predicted_stored(blobs)
    if stored is None or not tags:
        return None
    children: List[str] = []
    for node, raw, digest in rendered_manifests(root, stored):
        if node is not root:
            children.append(digest)
            continue
        if any(tagged.get(t) != digest for t in tags):
            return None
        return PushResult(repository=repository, digest=digest, media_type=node.descriptor.media_type, size=len(raw),
                          tags=list(tags), blobs_skipped=len(blobs), children=children, unchanged=True,
                          layers_not_copied=layers_not_copied(root))
    return None
