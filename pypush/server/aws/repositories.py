"""Repository and registry administration: repositories, policies, catalog data, resource tags,
registries and authorization tokens."""
from __future__ import annotations

import base64
import json
import re
import time
from typing import Any, Dict, List, Optional, Tuple

from pypush.server.aws.context import (Context, no_paging_with, paginate, repo_not_found, require_premium,
                                       require_repo, require_typed, with_token)
from pypush.server.aws.protocol import PRIVATE, PUBLIC, ApiError, invalid, loads_json
from pypush.server.aws.part_blob import Base64Error
from pypush.server.credentials import issue_password
from pypush.server.store.catalog_facts import catalog_facts
from pypush.server.store.store import repo_key

MAX_RESOURCE_TAGS = 50
"""Published quota: tags a repository may carry."""


def repository(ctx: Context, row: Tuple[Any, ...], db: Any = None) -> Dict[str, Any]:
    """The Repository structure of a repositories row (with its association when ``db`` is given)."""
    name, created_at, _policy, _catalog, settings = row
    out: Dict[str, Any] = {
        "repositoryArn": ctx.repository_arn(name),
        "registryId": ctx.registry_id,
        "repositoryName": name,
        "repositoryUri": ctx.repository_uri(name),
        "createdAt": created_at,
    }
    if ctx.service == PRIVATE:
        extra = json.loads(settings or "{}")
        out["imageTagMutability"] = extra.get("imageTagMutability", "MUTABLE")
        out["imageScanningConfiguration"] = extra.get("imageScanningConfiguration", {"scanOnPush": False})
        out["encryptionConfiguration"] = extra.get("encryptionConfiguration", {"encryptionType": "AES256"})
    elif db is not None:
        row = db.execute("SELECT premium FROM associations WHERE free=?", (name,)).fetchone()
        out["associatedRepositories"] = [{"repositoryName": row[0], "repositoryType": "PREMIUM"}] if row else []
    return out


def catalog_out(db: Any, repo: str, stored: Optional[str]) -> Dict[str, Any]:
    """RepositoryCatalogData from the stored input of the repository stored as ``repo`` (the logo becomes a
    data: URL), with the output-only badges and artifactTypes its content earns (store.catalog_facts)."""
    data = json.loads(stored or "{}")
    logo = data.pop("logoImageBlob", None)
    if logo:
        data["logoUrl"] = "data:image/png;base64," + logo
    data["marketplaceCertified"] = False
    data["badges"], data["artifactTypes"] = catalog_facts(db, repo)
    return data


def catalog_in(catalog: Dict[str, Any], previous: Optional[str] = None) -> str:
    """The stored catalog data after ``catalog`` (a validated RepositoryCatalogDataInput) is merged into
    ``previous``; InvalidParameterException for a category named twice."""
    categories = catalog.get("categories") or []
    if len(set(categories)) != len(categories):
        raise invalid("Invalid parameter at 'catalogData.categories': each category can only be specified once")
    merged = json.loads(previous or "{}")
    merged.update(catalog)
    return json.dumps(merged)


def _check_tags(tags: List[Dict[str, Any]]) -> None:
    for tag in tags:
        if tag.get("Key") is None or tag.get("Value") is None:
            raise ApiError("InvalidTagParameterException", "Each tag needs a Key and a Value")
        if tag["Key"].lower().startswith("aws:"):
            raise ApiError("InvalidTagParameterException", f"The tag key {tag['Key']!r} uses the reserved prefix aws:")


def _put_tags(db: Any, repo: str, tags: List[Dict[str, Any]]) -> None:
    _check_tags(tags)
    db.executemany("INSERT OR REPLACE INTO resource_tags (repo, key, value) VALUES (?, ?, ?)",
                   [(repo, t["Key"], t["Value"]) for t in tags])
    count = db.execute("SELECT COUNT(*) FROM resource_tags WHERE repo=?", (repo,)).fetchone()[0]
    if count > MAX_RESOURCE_TAGS:
        raise ApiError("TooManyTagsException", f"A repository may have at most {MAX_RESOURCE_TAGS} tags")


# -- repositories -----------------------------------------------------------------------------
def create_repository(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    name = p["repositoryName"]
    settings = {k: p[k] for k in ("imageTagMutability", "imageScanningConfiguration", "encryptionConfiguration")
                if p.get(k) is not None}
    catalog = catalog_in(p["catalogData"]) if p.get("catalogData") is not None else None
    with ctx.store.tx() as db:
        if db.execute("SELECT 1 FROM repositories WHERE name=?", (name,)).fetchone():
            raise ApiError("RepositoryAlreadyExistsException",
                           f"The repository with name '{name}' already exists in the registry with id "
                           f"'{ctx.registry_id}'")
        db.execute("INSERT INTO repositories (name, created_at, catalog, settings) VALUES (?, ?, ?, ?)",
                   (name, time.time(), catalog, json.dumps(settings)))
        _put_tags(db, name, p.get("tags") or [])
        out = {"repository": repository(ctx, require_repo(ctx, db, name), db)}
        if ctx.service == PUBLIC:
            out["catalogData"] = catalog_out(db, name, catalog)
    return out


def describe_repositories(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    no_paging_with(p, "repositoryNames")
    with ctx.store.read() as db:
        if p.get("repositoryNames") is not None:
            return {"repositories": [repository(ctx, require_repo(ctx, db, n), db) for n in p["repositoryNames"]]}
        rows = db.execute("SELECT name, created_at, policy, catalog, settings FROM repositories ORDER BY name").fetchall()
        page, nxt = paginate(rows, p, "DescribeRepositories")
        return with_token({"repositories": [repository(ctx, r, db) for r in page]}, nxt)


def delete_repository(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    name = p["repositoryName"]
    with ctx.store.tx() as db:
        row = require_repo(ctx, db, name)
        out = repository(ctx, row, db)
        images = (db.execute("SELECT COUNT(*) FROM images WHERE repo=?", (name,)).fetchone() or (0,))[0]
        if images and not p.get("force"):
            raise ApiError("RepositoryNotEmptyException",
                           f"The repository with name '{name}' in registry with id '{ctx.registry_id}' cannot be "
                           "deleted because it still contains images")
        db.execute("DELETE FROM repositories WHERE name=?", (name,))
        db.execute("DELETE FROM associations WHERE free=?", (name,))
        ctx.store.forget_repository(db, name)
    ctx.store.drop_uploads_of(name)
    return {"repository": out}


# -- policies ---------------------------------------------------------------------------------
def _policy_out(ctx: Context, name: str, text: str) -> Dict[str, Any]:
    return {"registryId": ctx.registry_id, "repositoryName": name, "policyText": text}


def check_policy_text(text: str) -> None:
    """InvalidParameterException unless ``text`` is a JSON object."""
    try:
        if not isinstance(loads_json(text), dict):
            raise ValueError(text)
    except ValueError:
        raise invalid("Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid repository "
                      "policy provided'") from None


_POLICY_TABLES = {False: "repositories", True: "premium_repositories"}


def _policy(ctx: Context, db: Any, name: str, premium: bool) -> str:
    """The stored policy of the (premium) repository ``name``; RNF or RepositoryPolicyNotFoundException."""
    text: Optional[str] = require_premium(ctx, db, name)[5] if premium else require_repo(ctx, db, name)[2]
    if text is None:
        raise ApiError("RepositoryPolicyNotFoundException",
                       f"Repository policy does not exist for the {'premium ' if premium else ''}repository with "
                       f"name '{name}' in the registry with id '{ctx.registry_id}'")
    return text


def set_policy(ctx: Context, p: Dict[str, Any], premium: bool = False) -> Dict[str, Any]:
    """SetRepositoryPolicy, or SetPremiumRepositoryPolicy with ``premium``."""
    name, text = p["repositoryName"], p["policyText"]
    check_policy_text(text)
    with ctx.store.tx() as db:
        (require_premium if premium else require_repo)(ctx, db, name)
        db.execute(f"UPDATE {_POLICY_TABLES[premium]} SET policy=? WHERE name=?", (text, name))
    return _policy_out(ctx, name, text)


def get_policy(ctx: Context, p: Dict[str, Any], premium: bool = False) -> Dict[str, Any]:
    """GetRepositoryPolicy, or GetPremiumRepositoryPolicy with ``premium``."""
    with ctx.store.read() as db:
        return _policy_out(ctx, p["repositoryName"], _policy(ctx, db, p["repositoryName"], premium))


def delete_policy(ctx: Context, p: Dict[str, Any], premium: bool = False) -> Dict[str, Any]:
    """DeleteRepositoryPolicy, or DeletePremiumRepositoryPolicy with ``premium``."""
    name = p["repositoryName"]
    with ctx.store.tx() as db:
        text = _policy(ctx, db, name, premium)
        db.execute(f"UPDATE {_POLICY_TABLES[premium]} SET policy=NULL WHERE name=?", (name,))
    return _policy_out(ctx, name, text)


def set_repository_policy(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    return set_policy(ctx, p)


def get_repository_policy(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    return get_policy(ctx, p)


def delete_repository_policy(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    return delete_policy(ctx, p)


# -- catalog data -----------------------------------------------------------------------------
def get_repository_catalog_data(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    with ctx.store.read() as db:
        return {"catalogData": catalog_out(db, p["repositoryName"], require_repo(ctx, db, p["repositoryName"])[3])}


def put_repository_catalog_data(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    name = p["repositoryName"]
    with ctx.store.tx() as db:
        catalog = catalog_in(p["catalogData"], require_repo(ctx, db, name)[3])
        db.execute("UPDATE repositories SET catalog=? WHERE name=?", (catalog, name))
        return {"catalogData": catalog_out(db, name, catalog)}


REGISTRY_LOGO_PATH = "/logos/_registry"  # the gallery serves it (gallery/site.py)
"""Where the endpoint serves the registry's logo (no repository name starts with ``_``)."""


def get_registry_catalog_data(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    data = {"displayName": ctx.store.meta("displayName", "") or ""}
    description = ctx.store.meta("registryDescription")
    if description:
        data["description"] = description
    if ctx.store.meta("registryLogo"):
        data["logoUrl"] = ctx.settings.url + REGISTRY_LOGO_PATH
    return {"registryCatalogData": data}


def put_registry_catalog_data(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    """Included members replace the stored ones; an empty description or logoImageBlob removes it."""
    logo = p.get("logoImageBlob")
    if logo is not None:
        try:
            raw = logo.decode()
        except Base64Error:
            raise invalid("Invalid parameter at 'logoImageBlob': not base64") from None
    with ctx.store.tx() as db:
        for key, value in (("displayName", p.get("displayName")), ("registryDescription", p.get("description")),
                           ("registryLogo", base64.b64encode(raw).decode() if logo is not None else None)):
            if value is None:
                continue
            if value or key == "displayName":
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
            else:
                db.execute("DELETE FROM meta WHERE key=?", (key,))
    return get_registry_catalog_data(ctx, p)


# -- resource tags ----------------------------------------------------------------------------
_ARN = re.compile(r"arn:aws:ecr-public::([0-9]{12}):(repository|premium-repository)/(.+)")


def _arn_repo(ctx: Context, db: Any, arn: str) -> str:
    """The store key of the FREE or premium repository ``arn`` names."""
    m = _ARN.fullmatch(arn)
    if not m:
        raise invalid(f"Invalid parameter at 'resourceArn': {arn!r} is not the ARN of a repository")
    if m.group(1) != ctx.registry_id:
        raise repo_not_found(ctx, m.group(3))
    premium = m.group(2) == "premium-repository"
    require_typed(ctx, db, {"repositoryName": m.group(3), "repositoryType": "PREMIUM" if premium else "FREE"})
    return repo_key(m.group(3), premium)


def list_tags_for_resource(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    with ctx.store.read() as db:
        repo = _arn_repo(ctx, db, p["resourceArn"])
        rows = db.execute("SELECT key, value FROM resource_tags WHERE repo=? ORDER BY key", (repo,)).fetchall()
    return {"tags": [{"Key": k, "Value": v} for k, v in rows]}


def tag_resource(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    with ctx.store.tx() as db:
        _put_tags(db, _arn_repo(ctx, db, p["resourceArn"]), p["tags"])
    return {}


def untag_resource(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    with ctx.store.tx() as db:
        repo = _arn_repo(ctx, db, p["resourceArn"])
        db.executemany("DELETE FROM resource_tags WHERE repo=? AND key=?", [(repo, k) for k in p["tagKeys"]])
    return {}


# -- registry and auth ------------------------------------------------------------------------
def describe_registries(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    registry = {
        "registryId": ctx.registry_id,
        "registryArn": f"arn:aws:ecr-public::{ctx.registry_id}:registry/{ctx.registry_id}",
        "registryUri": f"public.ecr.aws/{ctx.settings.alias}",
        "verified": ctx.settings.verified_registry,
        "aliases": [{"name": ctx.settings.alias, "status": "ACTIVE", "primaryRegistryAlias": True,
                     "defaultRegistryAlias": True}],
        "premiumStatus": "ENABLED" if ctx.settings.verified_registry else "DISABLED",
    }
    if ctx.settings.verified_registry:
        registry["premiumRegistryUri"] = ctx.premium_registry_uri
    page, nxt = paginate([registry], p, "DescribeRegistries")
    return with_token({"registries": page}, nxt)


def get_authorization_token(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    expires = int(time.time()) + ctx.settings.token_lifetime
    buyer = ctx.caller_account if ctx.caller_account != ctx.registry_id else ""
    password = issue_password(ctx.store, expires, buyer)  # a buyer's pulls only what it is entitled to
    token = base64.b64encode(b"AWS:" + password.encode()).decode()
    data = {"authorizationToken": token, "expiresAt": expires}
    if ctx.service == PUBLIC:
        return {"authorizationData": data}
    data["proxyEndpoint"] = ctx.settings.url
    return {"authorizationData": [data]}
