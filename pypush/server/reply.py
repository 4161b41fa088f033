"""An HTTP answer of the registry door or the gallery, which app.py writes to the connection."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional


@dataclass
class Reply:
    """An HTTP answer: bytes, or a byte range of a file."""

    status: int
    headers: Dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    file: Optional[Path] = None
    offset: int = 0
    length: int = 0
