"""The contract every transport fulfils; the engine owns ordering, concurrency and progress."""
from __future__ import annotations

from typing import Callable, Optional, Protocol, Sequence, Set

from pypush.image.model import Blob, Descriptor
from pypush.net.stats import TransferStats

ProgressFn = Callable[[int], None]
"""Called with the number of bytes just sent (may be negative when a retry rewinds)."""


class Transport(Protocol):
    """Three questions answered against one repository of one destination."""

    repository: str
    stats: TransferStats  # "uploaded", "bytes" (uploaded), "mounted", "retries", "throttled"

    def prepare(self, create_repository: bool = False) -> None:
        """Check the destination is reachable and the repository exists (or create it)."""

    def tag_digest(self, tag: str) -> Optional[str]:
        """The manifest digest ``tag`` names now (None: no such tag). A transport that can ask about many
        tags in one request also has ``tag_digests(tags) -> {tag: digest}`` (the one question of a re-push)."""

    def missing(self, digests: Sequence[str]) -> Set[str]:
        """Which of these blob digests the repository does not have."""

    def upload(self, blob: Blob, progress: ProgressFn) -> Descriptor:
        """Stream ``blob`` to the repository, verifying its digest while sending.

        Returns the descriptor of the bytes stored (digest filled in when ``blob.descriptor.digest``
        was ``""``). Raises DigestMismatchError before committing when the bytes are wrong.
        """

    def put_manifest(self, raw: bytes, media_type: str, digest: str, tags: Sequence[str]) -> None:
        """Store a manifest by digest (no tags) or under each tag; an identical re-put is success."""

    def close(self) -> None:
        """Release connections."""
