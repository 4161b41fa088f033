"""What every source gives: an opened image (``Source``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, List, Optional

from pypush.image.model import Node
from pypush.name.reference import Reference


@dataclass
class Source:
    """An opened image: ``root`` (manifest or index, children resolved), ``name`` for messages,
    ``tags`` the source suggests (may be empty) and ``format`` (oci, oci-archive, docker-archive, dir);
    ``release`` (if any) removes what opening it made (the copy of a piped archive, the decompressed copy of a
    compressed one); ``reference`` the registry image it was read from (None on disk: a copy within one
    registry mounts its blobs from there)."""

    root: Node
    name: str
    tags: List[str] = field(default_factory=list)
    format: str = ""
    release: Optional[Callable[[], None]] = field(default=None, repr=False, compare=False)
    reference: Optional[Reference] = None

    def close(self) -> None:
        """Remove what opening the source made; every blob opener opens (and its caller closes) its own handle."""
        if self.release is not None:
            self.release()

    def __enter__(self) -> "Source":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
