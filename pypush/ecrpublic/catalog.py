"""Gallery catalog input shared by FREE and premium repositories: the fields, the categories, the logo limit."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from pypush.errors import UsageError

LOGO_MAX = 512000
"""logoImageBlob's maximum size in the service model."""
CATEGORIES = ("BASE_IMAGES", "APPLICATION_RUNTIMES", "DATABASES", "AI_ML", "NETWORKING", "SECURITY", "MONITORING",
              "CI_CD_TOOLS", "KUBERNETES_EXTENSIONS", "WEB_SERVERS", "STREAMING")
"""The gallery's repository categories (the API's RepositoryCategory); a repository has at most 3."""


def catalog_input(description: Optional[str] = None, about: Optional[str] = None, usage: Optional[str] = None,
                  architectures: Optional[Sequence[str]] = None, operating_systems: Optional[Sequence[str]] = None,
                  logo: Optional[bytes] = None, categories: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """RepositoryCatalogDataInput of the fields given (None leaves a field out). ``categories``: up to 3 of
    CATEGORIES, any case, ``-`` for ``_`` (``ai-ml``)."""
    if logo is not None and len(logo) > LOGO_MAX:
        raise UsageError(f"the logo has {len(logo)} bytes; ECR Public accepts at most {LOGO_MAX}")
    out: Dict[str, Any] = {}
    for key, value in (("description", description), ("aboutText", about), ("usageText", usage),
                       ("logoImageBlob", logo)):
        if value is not None:
            out[key] = value
    if architectures is not None:
        out["architectures"] = list(architectures)
    if operating_systems is not None:
        out["operatingSystems"] = list(operating_systems)
    if categories is not None:
        out["categories"] = parse_categories(categories)
    return out


def parse_categories(values: Sequence[str]) -> List[str]:
    """The API's category names of ``values`` (``ai-ml`` → ``AI_ML``); UsageError for an unknown one, a
    repeat, or more than 3."""
    out: List[str] = []
    for value in values:
        name = value.strip().upper().replace("-", "_")
        if name not in CATEGORIES:
            raise UsageError(f"unknown category {value!r}: choose from {', '.join(c.lower() for c in CATEGORIES)}")
        if name in out:
            raise UsageError(f"category {value!r} given twice")
        out.append(name)
    if len(out) > 3:
        raise UsageError(f"{len(out)} categories given; a repository has at most 3")
    return out
