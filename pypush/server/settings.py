"""What the endpoint is (identity, part size, URL, registry login) and the ECR registry behaviours
(quirks) its registry door imitates; shared by both doors and the gallery."""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Callable, FrozenSet, Mapping, Optional

MIN_PART_SIZE = 5 * 1024 * 1024
"""Published quota: every part but the last of a layer is at least 5 MiB."""
TOKEN_LIFETIME = 12 * 3600
"""GetAuthorizationToken's tokens are valid this long (ECR: 12 hours)."""
QUIRKS = {
    "patch-201": "PATCH answers 201 Created (the spec says 202)",
    "min-chunk": "every PATCH chunk but the last is at least 5 MiB (OCI-Chunk-Min-Length)",
    "single-patch": "only the first PATCH of a session is kept; later ones are accepted and dropped",
    "no-restart": "a PATCH from byte 0 on a session that holds bytes answers 416 BLOB_UPLOAD_INVALID",
    "no-create": "a push to a repository that does not exist answers NAME_UNKNOWN (else it is created)",
}
DEFAULT_QUIRKS = frozenset({"patch-201", "min-chunk"})
QUIRK_PROFILES = {"none": frozenset(), "all": frozenset(QUIRKS), "ecr": DEFAULT_QUIRKS,
                  "spec": frozenset({"no-restart"})}
"""``spec``: the distribution spec to the letter, as the OCI conformance suite checks it (202 on PATCH,
chunks of any size, 416 on a restarted session)."""


def parse_quirks(value: str) -> FrozenSet[str]:
    """``--registry-quirks``: names add to ECR's defaults, ``-name`` removes one; a profile (QUIRK_PROFILES)
    replaces what came before it."""
    out = set(DEFAULT_QUIRKS)
    for item in filter(None, (v.strip() for v in value.split(","))):
        if item in QUIRK_PROFILES:
            out = set(QUIRK_PROFILES[item])
        elif item.lstrip("-") in QUIRKS:
            (out.discard if item.startswith("-") else out.add)(item.lstrip("-"))
        else:
            raise ValueError(f"unknown registry quirk {item!r} (known: {', '.join([*QUIRKS, *QUIRK_PROFILES])})")
    return frozenset(out)


@dataclass
class Settings:
    """What the endpoint is: identity, part size and where it listens."""

    registry_id: str = "123456789012"
    alias: str = "local"
    part_size: int = 10 * 1024 * 1024
    url: str = ""
    login: str = "public"
    """The registry door's login: "public" (Bearer challenge, anonymous pulls) or "private" (Basic, no anonymous)."""
    quirks: FrozenSet[str] = DEFAULT_QUIRKS
    """ECR registry behaviours the /v2/ write side imitates (see QUIRKS)."""
    token_lifetime: int = TOKEN_LIFETIME
    premium_url: str = ""
    """``http://HOST:PORT`` of the premium registry door (its own port), known once it listens."""
    verified_registry: bool = True
    """The stub of ECR Public's gate on premium: a verified registry with an approved custom alias."""
    owned_products: Optional[FrozenSet[str]] = None
    """The stub of Marketplace's product checks: the products the account owns with the ECR Public Premium
    delivery option (None: every well-formed product id)."""
    public_products: Optional[FrozenSet[str]] = None
    """The Marketplace products that are PUBLIC (None: every product)."""
    clock: Callable[[], float] = field(default=time.time)
    """The endpoint's time (epoch seconds): image deprecations fall due by it; tests move it."""
    entitlements: Mapping[str, FrozenSet[str]] = field(default_factory=dict)
    """The Marketplace agreements stub: buyer account -> the products it is entitled to (serve --entitlements)."""
    scan_findings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Image digest -> seeded scan findings (serve --scan-findings); other images have none."""
    url_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    """Signs the short-lived download URLs the endpoint hands out (publisher reports)."""

    def now(self) -> float:
        """The endpoint's time (``clock``)."""
        return self.clock()

    @property
    def min_part_size(self) -> int:
        """LayerPartTooSmall threshold; lowered with a smaller configured part size."""
        return min(MIN_PART_SIZE, self.part_size)
