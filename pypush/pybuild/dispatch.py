"""``pypush.build``: a Python project into an image (pypush.pybuild.api.build). The name used to mean what is now
``pypush.append`` (layers on a base image); that call form still works, with a DeprecationWarning."""
from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Any

_APPEND_ONLY = {"layers", "chown", "base_name", "annotations"}


def _is_append_call(args: tuple, kwargs: dict) -> bool:
    """Whether the arguments are ``append``'s: (base, [layers], ...), a layers= keyword, or one image source."""
    if _APPEND_ONLY & set(kwargs):
        return True
    if len(args) >= 2 and not isinstance(args[1], (str, os.PathLike)):
        return True  # a list of layers
    if len(args) >= 2 or "destination" in kwargs:
        return False
    if not args:
        return False
    first = os.fspath(args[0]) if isinstance(args[0], (str, os.PathLike)) else args[0]
    return not (isinstance(first, str) and os.path.isfile(os.path.join(first, "pyproject.toml")))


def build(*args: Any, **kwargs: Any) -> Any:
    """``build(project, destination, **settings)`` builds a Python project (see pypush.pybuild.api.build).

    The old form ``build(base, layers, ...)`` -> BuiltImage is ``pypush.append`` now; it still works here and
    warns with a DeprecationWarning."""
    if _is_append_call(args, kwargs) and not (args and isinstance(args[0], Mapping)):
        warnings.warn("pypush.build(base, layers, ...) is now pypush.append(base, layers, ...); pypush.build builds "
                      "a Python project", DeprecationWarning, stacklevel=2)
        from pypush.assemble.builder import append

        return append(*args, **kwargs)
    from pypush.pybuild.api import build as build_project

    return build_project(*args, **kwargs)
