"""What every operation shares: the endpoint's Settings, the request Context, the operation table
and helpers (registry and repository checks, pagination).

Operations live in layers.py, images.py and repositories.py, one function each: it takes the
Context and the validated request members and returns the response members.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Sequence, Tuple

from botocore.model import OperationModel

from pypush.server.protocol import PRIVATE, PUBLIC, ApiError, invalid, service_model, validate
from pypush.server.store import Store

MIN_PART_SIZE = 5 * 1024 * 1024
"""Published quota: every part but the last of a layer is at least 5 MiB."""
DEFAULT_PAGE = 100
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

    def check(self) -> None:
        """ValueError unless the identity and part size fit the ECR Public model's shapes."""
        model = service_model(PUBLIC)
        for shape, value, what in (("RegistryId", self.registry_id, "registry id"),
                                   ("RegistryAliasName", self.alias, "alias")):
            try:
                validate(model.shape_for(shape), value, what)
            except ApiError as e:
                raise ValueError(f"invalid {what} {value!r}: {e.message}") from None
        if self.login not in ("public", "private"):
            raise ValueError(f"login must be 'public' or 'private', not {self.login!r}")
        largest = model.shape_for("LayerPartBlob").metadata["max"]
        if not 1 <= self.part_size <= largest:
            raise ValueError(f"part size must be between 1 and {largest} bytes, not {self.part_size}")

    @property
    def min_part_size(self) -> int:
        """LayerPartTooSmall threshold; lowered with a smaller configured part size."""
        return min(MIN_PART_SIZE, self.part_size)


@dataclass
class Context:
    """One request: the store, the endpoint's settings, which service and operation."""

    store: Store
    settings: Settings
    service: str
    op: OperationModel
    region: str = "us-east-1"

    @property
    def registry_id(self) -> str:
        return self.settings.registry_id

    def repository_arn(self, name: str) -> str:
        if self.service == PUBLIC:
            return f"arn:aws:ecr-public::{self.registry_id}:repository/{name}"
        return f"arn:aws:ecr:{self.region}:{self.registry_id}:repository/{name}"

    def repository_uri(self, name: str) -> str:
        if self.service == PUBLIC:
            return f"public.ecr.aws/{self.settings.alias}/{name}"
        return f"{self.registry_id}.dkr.ecr.{self.region}.amazonaws.com/{name}"


def public_context(store: Store, settings: Settings, operation: str) -> Context:
    """The Context of an ECR Public ``operation`` run on behalf of the registry door."""
    return Context(store, settings, PUBLIC, service_model(PUBLIC).operation_model(operation))


Handler = Callable[[Context, Dict[str, Any]], Dict[str, Any]]
OPERATIONS: Dict[Tuple[str, str], Handler] = {}


def operation(name: str, *services: str) -> Callable[[Handler], Handler]:
    """Register ``fn`` as operation ``name`` of ``services`` (both when none are named)."""

    def register(fn: Handler) -> Handler:
        for service in services or (PUBLIC, PRIVATE):
            OPERATIONS[(service, name)] = fn
        return fn

    return register


# -- shared helpers ---------------------------------------------------------------------------
def check_registry(ctx: Context, p: Dict[str, Any]) -> None:
    """``registryId`` must be absent, the endpoint's id, or (where the model allows) its alias."""
    rid = p.get("registryId")
    if rid is None or rid == ctx.registry_id:
        return
    member = ctx.op.input_shape.members.get("registryId")
    if member is not None and member.name == "RegistryIdOrAlias" and rid == ctx.settings.alias:
        return
    errors = {e.name for e in ctx.op.error_shapes}
    code = "RegistryNotFoundException" if "RegistryNotFoundException" in errors else "RepositoryNotFoundException"
    raise ApiError(code, f"The registry with id '{rid}' does not exist")


def repo_not_found(ctx: Context, name: str) -> ApiError:
    return ApiError(
        "RepositoryNotFoundException",
        f"The repository with name '{name}' does not exist in the registry with id '{ctx.registry_id}'",
    )


def require_repo(ctx: Context, db: Any, name: str) -> Tuple[Any, ...]:
    """The repository's row, or RepositoryNotFoundException."""
    row = db.execute(
        "SELECT name, created_at, policy, catalog, settings FROM repositories WHERE name=?", (name,)
    ).fetchone()
    if row is None:
        raise repo_not_found(ctx, name)
    return row


def paginate(items: Sequence[Any], p: Dict[str, Any], key: str) -> Tuple[List[Any], Optional[str]]:
    """One page of ``items`` per maxResults/nextToken; the token is opaque to clients."""
    offset = 0
    token = p.get("nextToken")
    if token is not None:
        try:
            state = json.loads(base64.urlsafe_b64decode(token.encode()))
            if state["k"] != key:
                raise ValueError(key)
            offset = int(state["o"])
        except (ValueError, KeyError, TypeError):
            raise invalid("Invalid parameter at 'nextToken': the token is not valid for this request") from None
    size = p.get("maxResults") or DEFAULT_PAGE
    page = list(items[offset : offset + size])
    nxt = None
    if offset + size < len(items):
        nxt = base64.urlsafe_b64encode(json.dumps({"k": key, "o": offset + size}).encode()).decode()
    return page, nxt


def no_paging_with(p: Dict[str, Any], member: str) -> None:
    if p.get(member) is not None and (p.get("maxResults") is not None or p.get("nextToken") is not None):
        raise invalid(f"Invalid parameter: maxResults and nextToken cannot be used with {member}")


def with_token(out: Dict[str, Any], nxt: Optional[str]) -> Dict[str, Any]:
    """``out`` with ``nextToken`` when there is a next page."""
    if nxt:
        out["nextToken"] = nxt
    return out
