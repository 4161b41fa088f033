"""The AWS API models pypush speaks: pinned copies of botocore's ``ecr-public`` and ``ecr`` models.

pypush's clients and ``pypush serve`` read these, not the installed botocore's: what the local endpoint
serves and which operations the management client can call do not change with the botocore a user has
pinned (botocore 1.40 models 23 ECR Public operations, 1.44 models 42). The files are botocore's own
(``botocore/data/<service>/<version>/``, Apache-2.0, as pypush), laid out as botocore's data loader expects,
so a botocore session finds them first (``add_to_session``).

To refresh: ``pip download --no-deps botocore==X``, copy ``botocore/data/{ecr-public,ecr}/<version>/`` files
``service-2``, ``paginators-1`` and ``waiters-2`` here as plain ``.json``, set BOTOCORE_VERSION, and serve what
changed. CI's newest-dependencies run reports operations the installed botocore models beyond these.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict

DATA_DIR = Path(__file__).resolve().parent
VERSIONS = {"ecr-public": "2020-10-30", "ecr": "2015-09-21"}
BOTOCORE_VERSION = "1.44.18"
"""The botocore release the models were copied from."""


@lru_cache(maxsize=None)
def load(service: str, kind: str = "service-2") -> Dict[str, Any]:
    """The parsed model file ``kind`` (service-2, paginators-1, waiters-2) of ``service``."""
    path = DATA_DIR / service / VERSIONS[service] / f"{kind}.json"
    with open(path, encoding="utf-8") as f:
        data: Dict[str, Any] = json.load(f)
    return data


def service_model(service: str) -> Any:
    """botocore's ServiceModel of the pinned ``service`` model."""
    from botocore.model import ServiceModel

    return ServiceModel(load(service), service_name=service)


def add_to_session(session: Any) -> Any:
    """``session`` (botocore) with these models searched before botocore's own; returns ``session``."""
    loader = session.get_component("data_loader")
    if str(DATA_DIR) not in loader.search_paths:
        loader.search_paths.insert(0, str(DATA_DIR))
    return session
