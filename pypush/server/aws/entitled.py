"""The buyer's side of premium repositories: DescribeEntitledRepositories, DescribeEntitledImages and
DescribeEntitledImageTags, answered from a seeded stub of Marketplace agreements (``pypush serve
--entitlements FILE``: a JSON object of buyer account -> product ids).

A buyer is entitled to a premium repository of this registry when the repository is AVAILABLE or HIDDEN
and lists one of the buyer's products; the caller's account is ``Context.caller_account``. Anything else
(another alias, a missing or DRAFT repository, no such product) is EntitlementNotFoundException, with one
message that does not tell a buyer which.
"""
from __future__ import annotations

import json
import re
from typing import Any, Dict, FrozenSet, List

from pypush.server.aws.context import Context, no_paging_with, paginate, with_token
from pypush.server.aws.images import IMAGE_COLUMNS, ImageRow, image_detail, resolve_id, tag_details
from pypush.server.aws.protocol import ApiError
from pypush.server.seed_files import read_json
from pypush.server.store.store import repo_key

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


def _entitled_products(ctx: Context, state: str, products: str) -> List[str]:
    """The caller's products among a premium repository's, if the repository can be bought."""
    if state not in BUYABLE_STATES:
        return []
    mine = ctx.settings.entitlements.get(ctx.caller_account, frozenset())
    return [p for p in json.loads(products) if p in mine]


def _require_entitled(ctx: Context, db: Any, p: Dict[str, Any]) -> str:
    """The store key of the premium repository the request names, or EntitlementNotFoundException."""
    alias, name = p["registryAlias"], p["repositoryName"]
    row = db.execute("SELECT state, products FROM premium_repositories WHERE name=?", (name,)).fetchone()
    if alias != ctx.settings.alias or row is None or not _entitled_products(ctx, *row):
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
        for product in _entitled_products(ctx, state, products):  # one entry per (repository, product)
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
            found: List[ImageRow] = []
            for image_id in p["imageIds"]:
                img, _ = resolve_id(db, key, image_id)
                if img is None:
                    raise ApiError("ImageNotFoundException", f"The image with imageId {image_id} does not exist "
                                   f"within the repository '{p['registryAlias']}/{p['repositoryName']}'")
                found.append(img)
            out["imageDetails"] = [_entitled_image(image_detail(ctx, db, key, img)) for img in found]
            return out
        rows = [ImageRow(*r) for r in db.execute(
            f"SELECT {IMAGE_COLUMNS} FROM images WHERE repo=? ORDER BY pushed_at, digest", (key,))]
        details = [_entitled_image(image_detail(ctx, db, key, img)) for img in rows]
    page, nxt = paginate(details, p, _page_key(ctx, p, "DescribeEntitledImages"))
    out["imageDetails"] = page
    return with_token(out, nxt)


def describe_entitled_image_tags(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    with ctx.store.read() as db:
        details = tag_details(db, _require_entitled(ctx, db, p))
    page, nxt = paginate(details, p, _page_key(ctx, p, "DescribeEntitledImageTags"))
    return with_token({"repositoryName": p["repositoryName"], "registryAlias": p["registryAlias"],
                       "imageTagDetails": page}, nxt)

