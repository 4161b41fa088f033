"""pypush: push container images to Amazon ECR Public, private ECR and any OCI registry, without Docker."""
from __future__ import annotations

from .api import PushOptions, push
from .engine import PushResult
from .registry import Registry
from .errors import (AuthError, DigestMismatchError, Interrupted, PypushError, RegistryError, SourceError,
                     TransientError, UsageError)

__version__ = "0.1.0"
__all__ = ["push", "PushOptions", "PushResult", "Registry", "PypushError", "UsageError", "SourceError", "DigestMismatchError",
           "RegistryError", "AuthError", "TransientError", "Interrupted", "__version__"]
