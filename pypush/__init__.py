"""pypush: push container images to Amazon ECR Public, private ECR and any OCI registry, without Docker."""
from __future__ import annotations

from typing import TYPE_CHECKING

from pypush.errors import (AuthError, DigestMismatchError, Interrupted, NoSuchImage, PypushError, RegistryError,
                           SourceError, TransientError, UsageError)

if TYPE_CHECKING:  # the real names for type checkers; at run time they load on first use (fast CLI start)
    from pypush.api import PushOptions, copy, login, mirror, pull, push, push_many
    from pypush.assemble.builder import BuiltImage, append
    from pypush.pybuild.dispatch import build
    from pypush.assemble.layer_spec import Layer
    from pypush.ecrpublic.client import ECRPublic
    from pypush.engine.plan import PlanEntry, PlanOutcome
    from pypush.engine.progress import Subscriber
    from pypush.engine.push_result import PushResult

__version__ = "0.1.0"
__all__ = ["push", "push_many", "PlanEntry", "PlanOutcome", "copy", "pull", "mirror", "login", "build", "append",
           "Layer", "BuiltImage", "PushOptions", "PushResult", "Subscriber", "ECRPublic", "PypushError", "UsageError",
           "SourceError", "DigestMismatchError", "NoSuchImage", "RegistryError", "AuthError", "TransientError",
           "Interrupted", "__version__"]

_LAZY = {"push": "pypush.api", "push_many": "pypush.api", "PlanEntry": "pypush.engine.plan",
         "PlanOutcome": "pypush.engine.plan", "copy": "pypush.api", "pull": "pypush.api", "mirror": "pypush.api",
         "login": "pypush.api",
         "PushOptions": "pypush.api", "PushResult": "pypush.engine.push_result",
         "Subscriber": "pypush.engine.progress", "ECRPublic": "pypush.ecrpublic.client",
         "build": "pypush.pybuild.dispatch", "append": "pypush.assemble.builder", "BuiltImage": "pypush.assemble.builder",
         "Layer": "pypush.assemble.layer_spec"}


def __getattr__(name: str) -> object:
    """Import the API on first use, so that the command line starts fast."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pypush' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
