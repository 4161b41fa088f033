"""pypush: push container images to Amazon ECR Public, private ECR and any OCI registry, without Docker."""
from __future__ import annotations

from typing import Any

from .errors import (AuthError, DigestMismatchError, Interrupted, PypushError, RegistryError, SourceError,
                     TransientError, UsageError)

__version__ = "0.1.0"
__all__ = ["push", "PushOptions", "PushResult", "Registry", "PypushError", "UsageError", "SourceError",
           "DigestMismatchError", "RegistryError", "AuthError", "TransientError", "Interrupted", "__version__"]

_LAZY = {"push": "api", "PushOptions": "api", "PushResult": "engine", "Registry": "registry"}


def __getattr__(name: str) -> Any:
    """Import the API on first use, so that the CLI starts fast."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pypush' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{module}", __name__), name)
