"""What a push did (``PushResult``), and what one that needs nothing sent did (``unchanged_result``)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Dict, List, Mapping, Optional

from pypush.engine.walked import WalkedImage, predicted_stored, rendered_manifests


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


def unchanged_result(image: WalkedImage, repository: str, tags: List[str],
                     tagged: Mapping[str, Optional[str]]) -> Optional[PushResult]:
    """The result of a push that needs nothing sent, when every tag in ``tagged`` (tag -> digest it names
    now) already names the root manifest as it would be pushed; else None."""
    stored = predicted_stored(image.blobs)
    if stored is None or not tags:
        return None
    children: List[str] = []
    for node, raw, digest in rendered_manifests(image, stored):
        if node is not image.root:
            children.append(digest)
            continue
        if any(tagged.get(t) != digest for t in tags):
            return None
        return PushResult(repository=repository, digest=digest, media_type=node.descriptor.media_type, size=len(raw),
                          tags=list(tags), blobs_skipped=len(image.blobs), children=children, unchanged=True,
                          layers_not_copied=list(image.layers_not_copied))
    return None
