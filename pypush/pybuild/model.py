"""What a lock holds: packages, each with the files (wheels, an sdist) it may be installed from."""
from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import List, Optional
from urllib.parse import unquote, urlparse


@dataclass(frozen=True)
class Artifact:
    """A wheel or sdist: where it is and its sha256."""

    url: str
    sha256: str
    size: Optional[int] = None

    @property
    def filename(self) -> str:
        return unquote(posixpath.basename(urlparse(self.url).path))


@dataclass
class Package:
    """One locked distribution and the files it may be installed from."""

    name: str
    version: str
    wheels: List[Artifact] = field(default_factory=list)
    sdist: Optional[Artifact] = None
    marker: Optional[str] = None
