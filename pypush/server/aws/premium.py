"""Premium repositories (paid content sold through AWS Marketplace): create, describe, delete, the state
machine (DRAFT -> AVAILABLE <-> HIDDEN), Marketplace products, catalog data, policies, and the
associations between a FREE and a PREMIUM repository.

A premium repository is stored apart from a FREE one of the same name (store.repo_key). The Marketplace
and verified-registry checks are the endpoint's configurable stubs (Settings.owned_products,
Settings.verified_registry); their refusals name the check.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Tuple

from pypush.server.aws.context import (FREE, PREMIUM, Context, no_paging_with, paginate, repo_not_found,
                                       require_premium, with_token)
from pypush.server.aws.protocol import ApiError, invalid
from pypush.server.aws.repositories import _put_tags, catalog_in, catalog_out, delete_policy, get_policy, set_policy
from pypush.server.store.store import repo_key

TRANSITIONS = {("DRAFT", "AVAILABLE"), ("AVAILABLE", "HIDDEN"), ("HIDDEN", "AVAILABLE")}
"""SetRepositoryState's allowed changes; setting the current state is a no-op, anything else IPE."""
PREMIUM_COLUMNS = "name, created_at, state, products, catalog, policy"


def associated(db: Any, kind: str, name: str) -> List[Dict[str, str]]:
    """AssociatedRepositoryList of the ``kind`` (FREE/PREMIUM) repository ``name``: zero or one entry."""
    if kind == FREE:
        row = db.execute("SELECT premium FROM associations WHERE free=?", (name,)).fetchone()
        return [{"repositoryName": row[0], "repositoryType": PREMIUM}] if row else []
    row = db.execute("SELECT free FROM associations WHERE premium=?", (name,)).fetchone()
    return [{"repositoryName": row[0], "repositoryType": FREE}] if row else []


def premium_repository(ctx: Context, db: Any, row: Tuple[Any, ...]) -> Dict[str, Any]:
    """The PremiumRepository structure of a premium_repositories row."""
    name, created_at, state, products = row[:4]
    return {**_identity(ctx, name, created_at), "marketplaceProducts": json.loads(products),
            "associatedRepositories": associated(db, PREMIUM, name), "state": state}


def _identity(ctx: Context, name: str, created_at: float) -> Dict[str, Any]:
    return {"repositoryArn": ctx.premium_arn(name), "registryId": ctx.registry_id, "repositoryName": name,
            "repositoryUri": ctx.premium_uri(name), "createdAt": created_at}


def check_products(ctx: Context, products: List[str]) -> None:
    """No duplicates; with the Marketplace stub configured, each product owned with the premium delivery option."""
    seen = set()
    for product in products:
        if product in seen:
            raise invalid(f"Invalid parameter at 'marketplaceProducts': product '{product}' is listed twice; each "
                          "product can only be specified once")
        seen.add(product)
    owned = ctx.settings.owned_products
    if owned is not None:
        for product in products:
            if product not in owned:
                raise invalid(f"Marketplace check 'product ownership' failed: product '{product}' is not owned by "
                              f"account {ctx.registry_id} with the Amazon ECR Public Premium delivery option "
                              "(this endpoint's allow-list: pypush serve --owned-products)")


# -- create, describe, delete -----------------------------------------------------------------
def create_premium_repository(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    name = p["repositoryName"]
    if not ctx.settings.verified_registry:
        raise ApiError("ValidationException",
                       f"Registry check 'verified registry with an approved custom alias' failed: registry "
                       f"{ctx.registry_id} is not verified (this endpoint runs with --unverified-registry)")
    check_products(ctx, p["marketplaceProducts"])
    catalog = catalog_in(p["catalogData"]) if p.get("catalogData") is not None else None
    with ctx.store.tx() as db:
        if db.execute("SELECT 1 FROM premium_repositories WHERE name=?", (name,)).fetchone():
            raise ApiError("RepositoryAlreadyExistsException",
                           f"The premium repository with name '{name}' already exists in the registry with id "
                           f"'{ctx.registry_id}'")
        db.execute(f"INSERT INTO premium_repositories ({PREMIUM_COLUMNS}) VALUES (?, ?, 'DRAFT', ?, ?, NULL)",
                   (name, ctx.now(), json.dumps(p["marketplaceProducts"]), catalog))
        _put_tags(db, repo_key(name, True), p.get("tags") or [])
        out = premium_repository(ctx, db, require_premium(ctx, db, name))
        return {"premiumRepository": out, "catalogData": catalog_out(db, repo_key(name, True), catalog)}


def describe_premium_repositories(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    no_paging_with(p, "repositoryNames")
    with ctx.store.read() as db:
        if p.get("repositoryNames") is not None:
            return {"repositories": [premium_repository(ctx, db, require_premium(ctx, db, n))
                                     for n in p["repositoryNames"]]}
        rows = db.execute(f"SELECT {PREMIUM_COLUMNS} FROM premium_repositories ORDER BY name").fetchall()
        page, nxt = paginate(rows, p, "DescribePremiumRepositories")
        return with_token({"repositories": [premium_repository(ctx, db, r) for r in page]}, nxt)


def delete_premium_repository(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    name = p["repositoryName"]
    key = repo_key(name, True)
    with ctx.store.tx() as db:
        row = require_premium(ctx, db, name)
        if db.execute("SELECT 1 FROM images WHERE repo=? LIMIT 1", (key,)).fetchone():
            how = "BatchDeleteImage" if row[2] == "DRAFT" else "SetImageStatus to deprecate them"
            raise ApiError("RepositoryNotEmptyException",
                           f"The premium repository with name '{name}' cannot be deleted because it still contains "
                           f"images; remove them first ({how})")
        db.execute("DELETE FROM associations WHERE premium=?", (name,))
        db.execute("DELETE FROM premium_repositories WHERE name=?", (name,))
        ctx.store.forget_repository(db, key)
    ctx.store.drop_uploads_of(key)
    return {"premiumRepository": _identity(ctx, name, row[1])}


# -- state and products -----------------------------------------------------------------------
def set_repository_state(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    name, state = p["repositoryName"], p["state"]
    if p["repositoryType"] != PREMIUM:
        raise invalid(f"Invalid parameter at 'repositoryType': a {p['repositoryType']} repository has no state; "
                      "only PREMIUM repositories do")
    with ctx.store.tx() as db:
        current = require_premium(ctx, db, name)[2]
        if state != current:
            if (current, state) not in TRANSITIONS:
                allowed = sorted(b for a, b in TRANSITIONS if a == current)
                raise invalid(f"Invalid parameter at 'state': the premium repository '{name}' is {current} and "
                              f"cannot become {state} (allowed: {', '.join(allowed)}; it can never return to DRAFT)")
            db.execute("UPDATE premium_repositories SET state=? WHERE name=?", (state, name))
    return {"registryId": ctx.registry_id, "repositoryName": name, "repositoryType": PREMIUM, "state": state}


def put_premium_repository_products(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    name, products = p["repositoryName"], p["marketplaceProducts"]
    check_products(ctx, products)
    with ctx.store.tx() as db:
        row = require_premium(ctx, db, name)
        dropped = [x for x in json.loads(row[3]) if x not in products]
        if row[2] != "DRAFT" and dropped:
            raise invalid(f"Invalid parameter at 'marketplaceProducts': the premium repository '{name}' is {row[2]}; "
                          f"products can only be added after DRAFT, and the list leaves out {', '.join(dropped)}")
        db.execute("UPDATE premium_repositories SET products=? WHERE name=?", (json.dumps(products), name))
    return {"registryId": ctx.registry_id, "repositoryName": name, "marketplaceProducts": products}


# -- catalog data and policies ----------------------------------------------------------------
def get_premium_repository_catalog_data(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    name = p["repositoryName"]
    with ctx.store.read() as db:
        catalog = require_premium(ctx, db, name)[4]
        if catalog is None:
            raise ApiError("RepositoryCatalogDataNotFoundException",
                           f"The premium repository '{name}' has no catalog data")
        data = catalog_out(db, repo_key(name, True), catalog)
    return {"registryId": ctx.registry_id, "repositoryName": name, "catalogData": data}


def put_premium_repository_catalog_data(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    """A partial update: given fields replace, omitted ones stay, an empty logoImageBlob removes the logo."""
    name = p["repositoryName"]
    with ctx.store.tx() as db:
        catalog = catalog_in(p["catalogData"], require_premium(ctx, db, name)[4])
        db.execute("UPDATE premium_repositories SET catalog=? WHERE name=?", (catalog, name))
        data = catalog_out(db, repo_key(name, True), catalog)
    return {"registryId": ctx.registry_id, "repositoryName": name, "catalogData": data}


def set_premium_repository_policy(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    return set_policy(ctx, p, premium=True)


def get_premium_repository_policy(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    return get_policy(ctx, p, premium=True)


def delete_premium_repository_policy(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    return delete_policy(ctx, p, premium=True)


# -- associations -----------------------------------------------------------------------------
def _pair(ctx: Context, db: Any, p: Dict[str, Any]) -> Tuple[str, str]:
    """(FREE name, PREMIUM name) of an association request: one of each type, both existing."""
    kinds = (p["repositoryType"], p["associatedRepositoryType"])
    if kinds[0] == kinds[1]:
        raise invalid(f"Invalid parameter at 'associatedRepositoryType': an association links a FREE and a PREMIUM "
                      f"repository, not two {kinds[0]} ones")
    named = {p["repositoryType"]: p["repositoryName"], p["associatedRepositoryType"]: p["associatedRepositoryName"]}
    free, premium = named[FREE], named[PREMIUM]
    if db.execute("SELECT 1 FROM repositories WHERE name=?", (free,)).fetchone() is None:
        raise repo_not_found(ctx, free)
    require_premium(ctx, db, premium)
    return free, premium


def _echo(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    keys = ("repositoryName", "repositoryType", "associatedRepositoryName", "associatedRepositoryType")
    return {"registryId": ctx.registry_id, **{k: p[k] for k in keys}}


def associate_repositories(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    with ctx.store.tx() as db:
        free, premium = _pair(ctx, db, p)
        for kind, name in ((FREE, free), (PREMIUM, premium)):
            other = associated(db, kind, name)
            if other:
                raise ApiError("AssociationAlreadyExistsException",
                               f"The {kind} repository '{name}' is already associated with the "
                               f"{other[0]['repositoryType']} repository '{other[0]['repositoryName']}'; each "
                               "repository may have one association")
        db.execute("INSERT INTO associations (free, premium) VALUES (?, ?)", (free, premium))
    return _echo(ctx, p)


def disassociate_repositories(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    with ctx.store.tx() as db:
        free, premium = _pair(ctx, db, p)
        if db.execute("DELETE FROM associations WHERE free=? AND premium=?", (free, premium)).rowcount < 1:
            raise ApiError("AssociationNotFoundException",
                           f"The FREE repository '{free}' and the PREMIUM repository '{premium}' are not associated")
    return _echo(ctx, p)
