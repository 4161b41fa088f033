"""Where pypush keeps what it remembers between runs (the layer cache, half-sent uploads)."""
from __future__ import annotations

import os
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
