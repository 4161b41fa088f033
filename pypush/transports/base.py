"""The contract every transport fulfils; the engine owns ordering, concurrency and progress."""
from __future__ import annotations

from typing import Callable, Dict, Optional, Sequence, Set

from pypush.image.model import Blob, Descriptor
from pypush.net.stats import TransferStats

ProgressFn = Callable[[int], None]
"""Called with the number of bytes just sent (may be negative when a retry rewinds)."""


class Transport:
    """Three questions answered against one repository of one destination, plus the abilities a transport
    may have, declared here with what a transport without them answers (the engine never probes)."""

    repository: str
    stats: TransferStats  # "uploaded", "bytes" (uploaded), "mounted", "retries", "throttled", "resumed"

    def prepare(self, create_repository: bool = False) -> None:
        """Check the destination is reachable and the repository exists (or create it)."""
        raise NotImplementedError

    def missing(self, digests: Sequence[str]) -> Set[str]:
        """Which of these blob digests the repository does not have."""
        raise NotImplementedError

    def upload(self, blob: Blob, progress: ProgressFn) -> Descriptor:
        """Stream ``blob`` to the repository, verifying its digest while sending.

        Returns the descriptor of the bytes stored (digest filled in when ``blob.descriptor.digest``
        was ``""``). Raises DigestMismatchError before committing when the bytes are wrong.
        """
        raise NotImplementedError

    def put_manifest(self, raw: bytes, media_type: str, digest: str, tags: Sequence[str]) -> None:
        """Store a manifest by digest (no tags) or under each tag; an identical re-put is success."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections."""

    # -- abilities: what a transport that cannot do better answers -------------------------------------------
    def tag_digest(self, tag: str) -> Optional[str]:
        """The manifest digest ``tag`` names now (None: no such tag, or the destination cannot say)."""
        return None

    def tag_digests(self, tags: Sequence[str]) -> Dict[str, Optional[str]]:
        """``{tag: digest}`` for every tag (the one question of a re-push); one request where the API allows."""
        return {tag: self.tag_digest(tag) for tag in tags}

    def mount(self, digest: str, source: str) -> bool:
        """Link blob ``digest`` from repository ``source`` of the same registry; False when not done."""
        return False

    def put_referrer(self, raw: bytes, media_type: str, digest: str, artifact_type: str) -> None:
        """Store a manifest whose ``subject`` names another (an SBOM, a signature) so that the subject's
        referrers list it; a destination without a referrers API of its own stores it by digest, untagged."""
        self.put_manifest(raw, media_type, digest, [])
