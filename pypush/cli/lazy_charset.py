"""Defer importing charset_normalizer, which requests loads only to guess the encoding of text bodies.

Importing it builds tables of every codec Python has: ~30 ms of every CLI start, for a function a
push never calls (pypush reads JSON and error bodies, never ``Response.apparent_encoding``). The
CLI installs a stand-in as ``sys.modules["charset_normalizer"]`` before requests is imported: it
carries the package's ``__version__`` (requests checks it) and imports the real package the first
time anything else is asked of it, so requests behaves exactly as before. The Python API leaves
the host program's modules alone.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
import threading
import types
from typing import Any

NAME = "charset_normalizer"
_lock = threading.Lock()


class _Deferred(types.ModuleType):
    """Stands in for the package until an attribute other than ``__version__`` is needed."""

    def __getattr__(self, attr: str) -> Any:
        return getattr(_load(), attr)


def _load() -> types.ModuleType:
    with _lock:
        if isinstance(sys.modules.get(NAME), _Deferred):
            del sys.modules[NAME]
        return importlib.import_module(NAME)


def install() -> bool:
    """Put the stand-in in place unless requests or the package is imported already; True if done."""
    if NAME in sys.modules or "requests" in sys.modules:
        return False
    try:
        spec = importlib.util.find_spec(NAME)
        if spec is None or not spec.submodule_search_locations:
            return False
        with open(os.path.join(list(spec.submodule_search_locations)[0], "version.py"), encoding="utf-8") as f:
            found = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", f.read(), re.M)
    except (ImportError, OSError, ValueError):
        return False
    if found is None:
        return False
    stub = _Deferred(NAME)
    stub.__version__ = found.group(1)  # type: ignore[attr-defined]
    stub.__path__ = list(spec.submodule_search_locations)  # a package: ``from ... import`` must not load it
    sys.modules[NAME] = stub
    return True
