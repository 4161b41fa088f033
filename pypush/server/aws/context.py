"""What every operation shares: the request Context and helpers (registry and repository checks,
pagination), and the model checks of the endpoint's Settings.

Operations live in layers.py, images.py and repositories.py, one function each: it takes the
Context and the validated request members and returns the response members; table.py lists them.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from botocore.model import OperationModel

from pypush.server.aws.protocol import PUBLIC, ApiError, invalid, service_model, validate
from pypush.server.settings import Settings
from pypush.server.store.store import Store, repo_key

FREE, PREMIUM = "FREE", "PREMIUM"

DEFAULT_PAGE = 100


@dataclass
class Context:
    """One request: the store, the endpoint's settings, which service and operation."""

    store: Store
    settings: Settings
    service: str
    op: OperationModel
    region: str = "us-east-1"
    access_key: str = ""
    """The access key id the request was signed with."""

    @property
    def registry_id(self) -> str:
        return self.settings.registry_id

    @property
    def caller_account(self) -> str:
        """The caller's account. The endpoint has no IAM: a request signed with a 12-digit access key id is
        that account's (how a test plays a buyer); any other key is the registry's own account."""
        key = self.access_key
        return key if len(key) == 12 and key.isdigit() else self.registry_id

    def repository_arn(self, name: str) -> str:
        if self.service == PUBLIC:
            return f"arn:aws:ecr-public::{self.registry_id}:repository/{name}"
        return f"arn:aws:ecr:{self.region}:{self.registry_id}:repository/{name}"

    def repository_uri(self, name: str) -> str:
        if self.service == PUBLIC:
            return f"public.ecr.aws/{self.settings.alias}/{name}"
        return f"{self.registry_id}.dkr.ecr.{self.region}.amazonaws.com/{name}"

    def premium_arn(self, name: str) -> str:
        return f"arn:aws:ecr-public::{self.registry_id}:premium-repository/{name}"

    @property
    def premium_registry_uri(self) -> str:
        """The premium registry door (the endpoint's own port for it) and the alias: ``HOST:PORT/ALIAS``."""
        host = self.settings.premium_url.partition("://")[2] or "premium.invalid"
        return f"{host}/{self.settings.alias}"

    def premium_uri(self, name: str) -> str:
        return f"{self.premium_registry_uri}/{name}"

    def now(self) -> float:
        return self.settings.clock()


def public_context(store: Store, settings: Settings, operation: str) -> Context:
    """The Context of an ECR Public ``operation`` run on behalf of the registry door."""
    return Context(store, settings, PUBLIC, service_model(PUBLIC).operation_model(operation))


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


def repository_type(p: Dict[str, Any]) -> str:
    """The request's repositoryType (FREE when omitted, as the model says)."""
    return p.get("repositoryType") or FREE


def require_premium(ctx: Context, db: Any, name: str) -> Tuple[Any, ...]:
    """The premium repository's row (name, created_at, state, products, catalog, policy), or RNF."""
    row = db.execute("SELECT name, created_at, state, products, catalog, policy FROM premium_repositories "
                     "WHERE name=?", (name,)).fetchone()
    if row is None:
        raise ApiError("RepositoryNotFoundException",
                       f"The premium repository with name '{name}' does not exist in the registry with id "
                       f"'{ctx.registry_id}'")
    return row


def require_typed(ctx: Context, db: Any, p: Dict[str, Any], name: Optional[str] = None) -> str:
    """The store key of the FREE or PREMIUM repository the request names (``repositoryType``), or RNF:
    a PREMIUM call never reaches a FREE repository of the same name, nor the other way round."""
    name = p["repositoryName"] if name is None else name
    if repository_type(p) == PREMIUM:
        require_premium(ctx, db, name)
        return repo_key(name, True)
    require_repo(ctx, db, name)
    return name


def typed_key(p: Dict[str, Any]) -> str:
    """The store key the request's repositoryName and repositoryType stand for (unchecked)."""
    return repo_key(p["repositoryName"], repository_type(p) == PREMIUM)


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


def check_settings(settings: Settings) -> None:
    """ValueError unless ``settings``' identity and part size fit the ECR Public model's shapes."""
    model = service_model(PUBLIC)
    for shape, value, what in (("RegistryId", settings.registry_id, "registry id"),
                               ("RegistryAliasName", settings.alias, "alias")):
        try:
            validate(model.shape_for(shape), value, what)
        except ApiError as e:
            raise ValueError(f"invalid {what} {value!r}: {e.message}") from None
    if settings.login not in ("public", "private"):
        raise ValueError(f"login must be 'public' or 'private', not {settings.login!r}")
    largest = model.shape_for("LayerPartBlob").metadata["max"]
    if not 1 <= settings.part_size <= largest:
        raise ValueError(f"part size must be between 1 and {largest} bytes, not {settings.part_size}")
