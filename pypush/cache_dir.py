"""Where pypush keeps what it remembers between runs (the layer cache, half-sent uploads), and how it reads and
writes those small JSON files."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Optional


def cache_root() -> Optional[Path]:
    """``$PYPUSH_CACHE_DIR``, else ``$XDG_CACHE_HOME/pypush``, else ``~/.cache/pypush``; ``None`` when
    ``PYPUSH_NO_CACHE`` is set to a non-empty, non-"0" value (nothing is remembered)."""
    if os.environ.get("PYPUSH_NO_CACHE", "") not in ("", "0"):
        return None
    root = os.environ.get("PYPUSH_CACHE_DIR")
    if root:
        return Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "pypush"


def read_json(path: Path, limit: int = 16384) -> object:
    """The JSON document in ``path`` (its first ``limit`` bytes). Raises FileNotFoundError, OSError or
    ValueError (not JSON)."""
    with open(path, "rb") as f:
        return json.loads(f.read(limit))


def write_json(path: Path, doc: object) -> None:
    """Write ``doc`` to ``path`` atomically (a temporary file beside it, renamed over it: a reader never sees
    half of it; the last writer wins), creating the folder (private to the user). Raises OSError."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
