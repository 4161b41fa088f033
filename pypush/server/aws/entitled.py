"""The buyer's side of premium repositories: DescribeEntitledRepositories, DescribeEntitledImages and
DescribeEntitledImageTags, answered from a seeded stub of Marketplace agreements (``pypush serve
--entitlements FILE``: a JSON object of buyer account -> product ids).

A buyer is entitled to a premium repository of this registry when the repository is AVAILABLE or HIDDEN
and lists one of the buyer's products; the caller's account is ``Context.caller_account``. Anything else
(another alias, a missing or DRAFT repository, no such product) is EntitlementNotFoundException, with one
message that does not tell a buyer which. The premium registry door lets a buyer pull by the same rule
(``may_pull``), with the password GetAuthorizationToken gives the buyer's account.
"""
from __future__ import annotations

import json
import re
from typing import Any, Dict, FrozenSet, List

from pypush.server.aws.context import Context, no_paging_with, paginate, with_token
from pypush.server.aws.images import all_images, image_detail, images_named, tag_details
from pypush.server.aws.protocol import ApiError
from pypush.server.aws.seed_files import read_json
from pypush.server.settings import Settings
from pypush.server.store.store import Store, repo_key

BUYABLE_STATES = ("AVAILABLE", "HIDDEN")
ENTITLED_IMAGE_MEMBERS = ("repositoryName", "imageDigest", "imageTags", "imageSizeInBytes", "imagePushedAt",
                          "imageManifestMediaType", "artifactMediaType", "imageStatus", "scheduledDeletionAt")
_ACCOUNT = re.compile(r"[0-9]{12}")
_PRODUCT = re.compile(r"[A-Za-z0-9_-]{1,255}")


def load_entitlements(path: str) -> Dict[str, FrozenSet[str]]:
    """The entitlements file: ``{"<12-digit buyer account>": ["<product id>", ...], ...}``; ValueError naming
    the file and the entry at fault."""
    return parse_entitlements(read_json(path), path)


def parse_entitlements(data: Any, path: str = "entitlements") -> Dict[str, FrozenSet[str]]:
    """The checked entitlements of ``data`` (the file's JSON); ValueError naming ``path`` and the entry at fault."""
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of buyer account -> list of product ids")
    out: Dict[str, FrozenSet[str]] = {}
    for account, products in data.items():
        if not _ACCOUNT.fullmatch(account):
            raise ValueError(f"{path}: {account!r} is not a 12-digit account id")
        if not isinstance(products, list) or not all(isinstance(p, str) and _PRODUCT.fullmatch(p) for p in products):
            raise ValueError(f"{path}: {account}: expected a list of product ids ([A-Za-z0-9_-], 1-255 characters)")
        out[account] = frozenset(products)
    return out


def _not_entitled(ctx: Context, alias: str, name: str) -> ApiError:
    return ApiError("EntitlementNotFoundException",
                    f"Account {ctx.caller_account} has no active entitlement to the repository '{alias}/{name}' (or it "
                    "does not exist or is not available yet)")


def entitled_products(settings: Settings, account: str, state: str, products: str) -> List[str]:
    """The products (of a premium repository's ``products``, JSON) that entitle ``account`` to it: none unless
    the repository is AVAILABLE or HIDDEN."""
    if state not in BUYABLE_STATES:
        return []
    mine = settings.entitlements.get(account, frozenset())
    return [p for p in json.loads(products) if p in mine]


def _premium_row(db: Any, name: str) -> Any:
    return db.execute("SELECT state, products FROM premium_repositories WHERE name=?", (name,)).fetchone()


def may_pull(store: Store, settings: Settings, account: str, name: str) -> bool:
    """Whether buyer ``account`` may pull from the premium repository ``name`` (the registry door's check)."""
    with store.read() as db:
        row = _premium_row(db, name)
    return row is not None and bool(entitled_products(settings, account, *row))


def _require_entitled(ctx: Context, db: Any, p: Dict[str, Any]) -> str:
    """The store key of the premium repository the request names, or EntitlementNotFoundException."""
    alias, name = p["registryAlias"], p["repositoryName"]
    row = _premium_row(db, name)
    if alias != ctx.settings.alias or row is None or not entitled_products(ctx.settings, ctx.caller_account, *row):
        raise _not_entitled(ctx, alias, name)
    return repo_key(name, True)


def _page_key(ctx: Context, p: Dict[str, Any], what: str) -> str:
    return f"{what}/{ctx.caller_account}/{p['registryAlias']}/{p['repositoryName']}"


def describe_entitled_repositories(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    display = ctx.store.meta("displayName", "") or ""
    entries = []
    with ctx.store.read() as db:
        rows = db.execute("SELECT name, state, products FROM premium_repositories ORDER BY name").fetchall()
    for name, state, products in rows:
        for product in entitled_products(ctx.settings, ctx.caller_account, state, products):  # one entry per (repository, product)
            entries.append({"registryAlias": ctx.settings.alias, "repositoryName": name,
                            "repositoryArn": f"arn:aws:ecr-public:::entitled-repository/{ctx.settings.alias}/{name}",
                            "repositoryUri": ctx.premium_uri(name), "state": state, "entitledViaProductId": product,
                            "registryDisplayName": display})
    page, nxt = paginate(entries, p, f"DescribeEntitledRepositories/{ctx.caller_account}")
    return with_token({"repositories": page}, nxt)


def _entitled_image(detail: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in detail.items() if k in ENTITLED_IMAGE_MEMBERS}


def describe_entitled_images(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    no_paging_with(p, "imageIds")
    out: Dict[str, Any] = {"repositoryName": p["repositoryName"], "registryAlias": p["registryAlias"]}
    with ctx.store.read() as db:
        key = _require_entitled(ctx, db, p)
        if p.get("imageIds") is not None:
            found = images_named(db, key, p["imageIds"], f"{p['registryAlias']}/{p['repositoryName']}")
            out["imageDetails"] = [_entitled_image(image_detail(ctx, db, key, img)) for img in found]
            return out
        details = [_entitled_image(image_detail(ctx, db, key, img)) for img in all_images(db, key)]
    page, nxt = paginate(details, p, _page_key(ctx, p, "DescribeEntitledImages"))
    out["imageDetails"] = page
    return with_token(out, nxt)


def describe_entitled_image_tags(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    with ctx.store.read() as db:
        details = tag_details(db, _require_entitled(ctx, db, p))
    page, nxt = paginate(details, p, _page_key(ctx, p, "DescribeEntitledImageTags"))
    return with_token({"repositoryName": p["repositoryName"], "registryAlias": p["registryAlias"],
                       "imageTagDetails": page}, nxt)

