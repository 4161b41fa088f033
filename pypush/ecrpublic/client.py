"""The ECR Public management API as plain Python: ``ECRPublic(...)`` and the frozen data it returns.

Every method is one ECR Public operation (or a paginated series of them); results are frozen
dataclasses, failures raise pypush.errors exceptions carrying the AWS error code. Repositories are
named as users write them: a bare ``REPO`` (the caller's default registry) or
``public.ecr.aws/ALIAS/REPO[:TAG|@DIGEST]``.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import replace
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, TypeVar

from pypush.errors import RegistryError, UsageError
from pypush.ecrpublic.catalog import catalog_input
from pypush.ecrpublic.premium import PremiumMixin
from pypush.ecrpublic.results import (CatalogData, DeleteFailure, DeleteResult, Image, ImageRef, Policy,
                                      RegistryCatalogData, RegistryInfo, Repository, Tag, _catalog, _image,
                                      _registry, _registry_catalog, _repository, _tag)
from pypush.name.reference import (ECR_PUBLIC, ECR_PUBLIC_HOST, Destination, parse_destination, repository_type,
                                   validate_endpoint_url)

BATCH_DELETE_MAX = 100
"""BatchDeleteImage takes at most this many image ids per call."""
_ACCOUNT = re.compile(r"^\d{12}$")
_PLACEHOLDER_ALIAS = "pypush-default"
T = TypeVar("T")


# -- references -------------------------------------------------------------------------------
def parse_ref(ref: str) -> Destination:
    """``REPO[:TAG|@DIGEST]`` or ``public.ecr.aws/ALIAS/REPO[:TAG|@DIGEST]`` as a Destination
    (``alias`` is None for a bare name: the caller's default registry)."""
    text = ref.strip()
    head = text.split("/", 1)[0]
    if "/" in text and ("." in head or ":" in head or head == "localhost"):
        dest = parse_destination(text)
        if dest.kind != ECR_PUBLIC:
            raise UsageError(f"{ref!r} is not an ECR Public reference: expected REPO or public.ecr.aws/ALIAS/REPO")
        return dest
    try:
        dest = parse_destination(f"{ECR_PUBLIC_HOST}/{_PLACEHOLDER_ALIAS}/{text}")
    except UsageError:
        raise UsageError(f"invalid repository reference {ref!r}: expected REPO[:TAG|@DIGEST] or "
                         f"public.ecr.aws/ALIAS/REPO[:TAG|@DIGEST]") from None
    return replace(dest, alias=None)


def parse_alias(alias_or_reference: Optional[str]) -> Optional[str]:
    """The alias of ``ALIAS``, ``public.ecr.aws/ALIAS`` or ``public.ecr.aws/ALIAS/REPO`` (None for None)."""
    if not alias_or_reference:
        return None
    text = alias_or_reference.strip().rstrip("/")
    if text.startswith(ECR_PUBLIC_HOST + "/") and text.count("/") == 1:
        text += "/x0"
    if "/" in text:
        alias = parse_ref(text).alias
        if alias is None:
            raise UsageError(f"{alias_or_reference!r} names no registry alias: write public.ecr.aws/ALIAS")
        return alias
    if not re.match(r"^[a-z][a-z0-9-]{1,49}$|^\d{12}$", text):
        raise UsageError(f"invalid registry alias {alias_or_reference!r}")
    return text


def read_logo_url(url: str, timeout: float = 30.0) -> bytes:
    """The bytes a ``logoUrl`` names: a ``data:`` URL decoded, or an http(s) URL fetched."""
    if url.startswith("data:"):
        meta, sep, payload = url[5:].partition(",")
        if not sep:
            raise RegistryError(f"malformed logo data URL (no ',') in {url[:40]!r}")
        if meta.endswith(";base64"):
            try:
                return base64.b64decode(payload, validate=True)
            except binascii.Error:
                raise RegistryError("malformed logo data URL: invalid base64") from None
        from urllib.parse import unquote_to_bytes

        return unquote_to_bytes(payload)
    if not url.startswith(("http://", "https://")):
        raise RegistryError(f"unsupported logo URL scheme in {url[:40]!r}")
    import requests

    try:
        resp = requests.get(url, timeout=timeout)
    except requests.RequestException as exc:
        raise RegistryError(f"fetching the logo from {url}: {type(exc).__name__}") from None
    if resp.status_code != 200:
        raise RegistryError(f"fetching the logo from {url}: HTTP {resp.status_code}", str(resp.status_code))
    return resp.content


# -- the API ----------------------------------------------------------------------------------
class ECRPublic(PremiumMixin):
    """An ECR Public registry: the caller's default one, or the one with alias ``alias_or_reference``
    (``ALIAS``, ``public.ecr.aws/ALIAS`` or a repository reference in it).

    ``endpoint_url`` points at another endpoint (``pypush serve``); ``profile`` picks an AWS profile,
    otherwise the AWS credential chain applies. Methods taking ``repository`` accept ``REPO`` or
    ``public.ecr.aws/ALIAS/REPO``; a reference's alias must be one of the caller's registries.
    ``client`` may be a ready botocore ``ecr-public`` client (tests, custom configuration).
    Image methods take ``repository_type`` (``free``, the default, or ``premium``): ECR Public keeps a FREE
    and a PREMIUM repository of one name apart. The premium operations are pypush.ecrpublic.premium's.
    """

    def __init__(self, alias_or_reference: Optional[str] = None, endpoint_url: Optional[str] = None,
                 profile: Optional[str] = None, client: Any = None):
        self.alias = parse_alias(alias_or_reference)
        self.endpoint_url = validate_endpoint_url(endpoint_url) if endpoint_url is not None else None
        self.profile = profile
        self._client = client
        self._ids: Dict[str, str] = {}

    def close(self) -> None:
        """Close the client's connections (the client stays usable: a new client is made)."""
        if self._client is not None and hasattr(self._client, "close"):
            self._client.close()
        self._client = None

    def __enter__(self) -> "ECRPublic":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- plumbing -----------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        """The botocore ``ecr-public`` client (made on first use)."""
        if self._client is None:
            from pypush.net import aws

            self._client = aws.make_client("ecr-public", aws.ECR_PUBLIC_REGION, self.endpoint_url,
                                           aws.make_session(self.profile))
        return self._client

    def _call(self, operation: str, what: str, fn: Callable[[], T]) -> T:
        from botocore.exceptions import BotoCoreError, ClientError

        from pypush.net import aws

        try:
            return fn()
        except (ClientError, BotoCoreError) as exc:
            raise aws.translate(exc, f"{operation} {what}".rstrip()) from None

    def _pages(self, operation: str, what: str, result_key: str, page_size: Optional[int],
               **params: Any) -> Iterator[Dict[str, Any]]:
        """Every item of a paginated operation (botocore paginator; ``page_size`` is maxResults)."""
        if page_size is not None and not 1 <= page_size <= 1000:
            raise UsageError(f"page size {page_size} out of range: 1..1000")
        config = {"PageSize": page_size} if page_size else {}
        pages = self.client.get_paginator(operation).paginate(PaginationConfig=config, **params)
        iterator = iter(pages)
        while True:
            page = self._call(_api_name(operation), what, lambda: next(iterator, None))
            if page is None:
                return
            yield from page.get(result_key) or ()

    def registry_id(self, alias: Optional[str] = None) -> Optional[str]:
        """The 12-digit id of the registry with ``alias`` (default: this client's alias), via
        DescribeRegistries; None means the caller's default registry."""
        alias = alias or self.alias
        if alias is None or _ACCOUNT.match(alias):
            return alias
        if alias not in self._ids:
            registries = self.describe_registries()
            for reg in registries:
                for a in reg.aliases:
                    self._ids.setdefault(a.name, reg.registry_id)
            if alias not in self._ids:
                known = ", ".join(sorted(self._ids)) or "none"
                raise UsageError(f"registry alias {alias!r} is not one of your registries (yours: {known})")
        return self._ids[alias]

    def _target(self, repository: str) -> Tuple[Dict[str, Any], Destination]:
        """({registryId?, repositoryName}, parsed reference) for a repository argument."""
        dest = parse_ref(repository)
        rid = self.registry_id(dest.alias)
        if dest.alias and self.alias and dest.alias != self.alias and rid != self.registry_id():
            raise UsageError(f"{repository!r} is not in registry {self.alias!r}")
        params: Dict[str, Any] = {"repositoryName": dest.repository}
        if rid:
            params["registryId"] = rid
        return params, dest

    def _repo_params(self, repository: str) -> Dict[str, Any]:
        params, dest = self._target(repository)
        if dest.tag or dest.digest:
            raise UsageError(f"{repository!r} names an image; give the repository only")
        return params

    # -- repositories -------------------------------------------------------------------------
    def create_repository(self, repository: str, catalog: Optional[Mapping[str, Any]] = None,
                          tags: Optional[Mapping[str, str]] = None) -> Repository:
        """Create ``repository`` (in the caller's default registry, the only one CreateRepository
        can target); ``catalog`` is a ``catalog_input(...)``, ``tags`` resource tags."""
        params = self._repo_params(repository)
        params.pop("registryId", None)
        if catalog:
            params["catalogData"] = dict(catalog)
        if tags:
            params["tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
        resp = self._call("CreateRepository", params["repositoryName"],
                          lambda: self.client.create_repository(**params))
        return _repository(resp["repository"])

    def delete_repository(self, repository: str, force: bool = False) -> Repository:
        """Delete ``repository``; ``force`` deletes its images too (else RepositoryNotEmpty fails)."""
        params = self._repo_params(repository)
        resp = self._call("DeleteRepository", params["repositoryName"],
                          lambda: self.client.delete_repository(force=force, **params))
        return _repository(resp["repository"])

    def describe_repository(self, repository: str) -> Repository:
        """One repository (RepositoryNotFoundException when absent)."""
        params = self._repo_params(repository)
        name = params.pop("repositoryName")
        resp = self._call("DescribeRepositories", name,
                          lambda: self.client.describe_repositories(repositoryNames=[name], **params))
        return _repository(resp["repositories"][0])

    def list_repositories(self, page_size: Optional[int] = None) -> List[Repository]:
        """Every repository of the registry, all pages."""
        params = {"registryId": self.registry_id()} if self.alias else {}
        return [_repository(d) for d in self._pages("describe_repositories", "", "repositories", page_size, **params)]

    # -- images and tags ----------------------------------------------------------------------
    def _typed(self, params: Dict[str, Any], kind: Optional[str]) -> Dict[str, Any]:
        """``params`` with ``repositoryType`` when ``kind`` is premium (FREE is the service's default)."""
        if repository_type(kind) == "PREMIUM":
            params["repositoryType"] = "PREMIUM"
        return params

    def list_images(self, repository: str, page_size: Optional[int] = None,
                    repository_type: Optional[str] = None) -> List[Image]:
        """Every image of ``repository`` (DescribeImages, all pages)."""
        params = self._typed(self._repo_params(repository), repository_type)
        return [_image(d) for d in self._pages("describe_images", params["repositoryName"], "imageDetails",
                                                page_size, **params)]

    def describe_images(self, refs: Iterable[str], repository: Optional[str] = None,
                        repository_type: Optional[str] = None) -> List[Image]:
        """The images ``refs`` name (see ``delete_images`` for the forms); ImageNotFound raises."""
        out: List[Image] = []
        for params, ids in self._batches(refs, repository, repository_type):
            resp = self._call("DescribeImages", params["repositoryName"],
                              lambda: self.client.describe_images(imageIds=[i.to_api() for i in ids], **params))
            out.extend(_image(d) for d in resp.get("imageDetails") or ())
        return out

    def list_tags(self, repository: str, page_size: Optional[int] = None,
                  repository_type: Optional[str] = None) -> List[Tag]:
        """Every tag of ``repository`` (DescribeImageTags, all pages)."""
        params = self._typed(self._repo_params(repository), repository_type)
        name = params["repositoryName"]
        return [_tag(name, d) for d in self._pages("describe_image_tags", name, "imageTagDetails", page_size,
                                                    **params)]

    def delete_images(self, refs: Iterable[str], repository: Optional[str] = None,
                      repository_type: Optional[str] = None) -> DeleteResult:
        """Delete images named ``REPO:TAG``, ``REPO@DIGEST`` or ``public.ecr.aws/ALIAS/REPO:TAG``
        (with ``repository``: tags and ``sha256:`` digests of it), in batches of at most 100.

        Deleting by tag removes the tag (and the image with its last tag); by digest, the image and
        all its tags. Refusals (ImageNotFound, ImageReferencedByManifestList, ...) are returned in
        ``failures``; only failures of a whole call raise. A premium repository past DRAFT refuses
        deletion (DeletionNotAllowedException): deprecate its images instead (``deprecate_image``).
        """
        deleted: List[ImageRef] = []
        failures: List[DeleteFailure] = []
        for params, ids in self._batches(refs, repository, repository_type):
            name = params["repositoryName"]
            resp = self._call("BatchDeleteImage", name, lambda: self.client.batch_delete_image(
                imageIds=[i.to_api() for i in ids], **params))
            deleted.extend(ImageRef(name, d.get("imageTag"), d.get("imageDigest")) for d in resp.get("imageIds") or ())
            for f in resp.get("failures") or ():
                ident = f.get("imageId") or {}
                failures.append(DeleteFailure(ImageRef(name, ident.get("imageTag"), ident.get("imageDigest")),
                                              f.get("failureCode", ""), f.get("failureReason", "")))
        return DeleteResult(tuple(deleted), tuple(failures))

    def _image_refs(self, refs: Iterable[str], repository: Optional[str]) -> List[Tuple[Tuple[Any, ...], ImageRef]]:
        out = []
        for ref in refs:
            text = ref
            if repository is not None:
                text = repository + ("@" if ref.startswith("sha256:") else ":") + ref
            params, dest = self._target(text)
            if not dest.tag and not dest.digest:
                raise UsageError(f"{ref!r} names no image: add :TAG or @sha256:DIGEST")
            out.append((tuple(sorted(params.items())), ImageRef(dest.repository, dest.tag, dest.digest)))
        return out

    def _batches(self, refs: Iterable[str], repository: Optional[str],
                 kind: Optional[str] = None) -> Iterator[Tuple[Dict[str, Any], List[ImageRef]]]:
        """(params, ≤100 image refs) per repository, in the order refs were given."""
        groups: Dict[Tuple[Any, ...], List[ImageRef]] = {}
        for key, ref in self._image_refs(refs, repository):
            groups.setdefault(key, []).append(ref)
        for key, ids in groups.items():
            ids = list(dict.fromkeys(ids))
            for start in range(0, len(ids), BATCH_DELETE_MAX):
                yield self._typed(dict(key), kind), ids[start:start + BATCH_DELETE_MAX]

    # -- policies -----------------------------------------------------------------------------
    def get_policy(self, repository: str) -> Policy:
        """The repository policy (RepositoryPolicyNotFoundException when none is set)."""
        params = self._repo_params(repository)
        resp = self._call("GetRepositoryPolicy", params["repositoryName"],
                          lambda: self.client.get_repository_policy(**params))
        return Policy(resp.get("repositoryName", params["repositoryName"]), resp.get("registryId", ""),
                      resp.get("policyText", ""))

    def set_policy(self, repository: str, policy: Any, force: bool = False) -> Policy:
        """Set the policy: JSON text, or a dict/list serialised here. ``force`` is needed for a policy that
        locks the caller out: one denying every principal a push action or SetRepositoryPolicy without a
        condition (a UsageError here, nothing sent), or one the service judges so."""
        from pypush.ecrpublic.policy_check import locked_out

        text = policy if isinstance(policy, str) else json.dumps(policy, indent=2)
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"the policy is not valid JSON: {exc}") from None
        lockout = None if force else locked_out(document)
        if lockout:
            raise UsageError(f"the policy locks you out of {repository}: {lockout}, so nobody could push there or "
                             f"set another policy; nothing was set: pass force=True if that is meant")
        params = self._repo_params(repository)
        resp = self._call("SetRepositoryPolicy", params["repositoryName"],
                          lambda: self.client.set_repository_policy(policyText=text, force=force, **params))
        return Policy(resp.get("repositoryName", params["repositoryName"]), resp.get("registryId", ""),
                      resp.get("policyText", text))

    def delete_policy(self, repository: str) -> Policy:
        """Remove the policy; returns the one deleted."""
        params = self._repo_params(repository)
        resp = self._call("DeleteRepositoryPolicy", params["repositoryName"],
                          lambda: self.client.delete_repository_policy(**params))
        return Policy(resp.get("repositoryName", params["repositoryName"]), resp.get("registryId", ""),
                      resp.get("policyText", ""))

    # -- catalog data -------------------------------------------------------------------------
    def get_catalog_data(self, repository: str) -> CatalogData:
        """The repository's gallery entry."""
        params = self._repo_params(repository)
        resp = self._call("GetRepositoryCatalogData", params["repositoryName"],
                          lambda: self.client.get_repository_catalog_data(**params))
        return _catalog(resp.get("catalogData") or {})

    def put_catalog_data(self, repository: str, *, description: Optional[str] = None, about: Optional[str] = None,
                         usage: Optional[str] = None, architectures: Optional[Sequence[str]] = None,
                         operating_systems: Optional[Sequence[str]] = None, logo: Optional[bytes] = None,
                         categories: Optional[Sequence[str]] = None) -> CatalogData:
        """Set the given gallery fields (``about``/``usage`` are Markdown, ``logo`` PNG bytes, ``categories``
        up to 3 of CATEGORIES)."""
        params = self._repo_params(repository)
        catalog = catalog_input(description, about, usage, architectures, operating_systems, logo, categories)
        resp = self._call("PutRepositoryCatalogData", params["repositoryName"],
                          lambda: self.client.put_repository_catalog_data(catalogData=catalog, **params))
        return _catalog(resp.get("catalogData") or {})

    def get_logo(self, repository: str) -> Optional[bytes]:
        """The repository's logo bytes, read from the ``logoUrl`` the service returns (None without one)."""
        url = self.get_catalog_data(repository).logo_url
        return read_logo_url(url) if url else None

    def get_registry_catalog_data(self) -> RegistryCatalogData:
        """The caller's default registry's gallery entry (the API takes no registry id; a given
        alias is still checked to be the caller's)."""
        self.registry_id()
        resp = self._call("GetRegistryCatalogData", "", lambda: self.client.get_registry_catalog_data())
        return _registry_catalog(resp.get("registryCatalogData") or {})

    def put_registry_catalog_data(self, display_name: Optional[str] = None, *, description: Optional[str] = None,
                                  logo: Optional[bytes] = None) -> RegistryCatalogData:
        """Set the registry's gallery fields given: display name, description, logo (PNG bytes)."""
        params: Dict[str, Any] = {}
        for key, value in (("displayName", display_name), ("description", description)):
            if value is not None:
                params[key] = value
        if logo is not None:
            params["logoImageBlob"] = catalog_input(logo=logo)["logoImageBlob"]
        if not params:
            raise UsageError("nothing to set: give a display name, a description or a logo")
        self.registry_id()
        resp = self._call("PutRegistryCatalogData", "", lambda: self.client.put_registry_catalog_data(**params))
        return _registry_catalog(resp.get("registryCatalogData") or {})

    # -- resource tags ------------------------------------------------------------------------
    def _arn(self, repository: str) -> str:
        return self.describe_repository(repository).arn

    def list_resource_tags(self, repository: str) -> Dict[str, str]:
        """The repository's resource tags, key → value."""
        arn = self._arn(repository)
        resp = self._call("ListTagsForResource", arn, lambda: self.client.list_tags_for_resource(resourceArn=arn))
        return {t["Key"]: t.get("Value", "") for t in resp.get("tags") or ()}

    def add_resource_tags(self, repository: str, tags: Mapping[str, str]) -> None:
        """Add or overwrite resource tags."""
        arn = self._arn(repository)
        body = [{"Key": k, "Value": v} for k, v in tags.items()]
        self._call("TagResource", arn, lambda: self.client.tag_resource(resourceArn=arn, tags=body))

    def remove_resource_tags(self, repository: str, keys: Sequence[str]) -> None:
        """Remove resource tags by key (absent keys are ignored)."""
        arn = self._arn(repository)
        self._call("UntagResource", arn, lambda: self.client.untag_resource(resourceArn=arn, tagKeys=list(keys)))

    # -- registries and login -----------------------------------------------------------------
    def describe_registries(self, page_size: Optional[int] = None) -> List[RegistryInfo]:
        """The caller's public registries with their aliases."""
        return [_registry(d) for d in self._pages("describe_registries", "", "registries", page_size)]

    def get_login_password(self) -> str:
        """A docker-compatible password for ``public.ecr.aws`` (user ``AWS``), valid for 12 hours."""
        from pypush.transports.ecr.login import ecr_login

        dest = Destination(ECR_PUBLIC, ECR_PUBLIC_HOST, "", alias=self.alias, region="us-east-1")
        return ecr_login(dest, self.endpoint_url, self.profile)[1]


def _api_name(method: str) -> str:
    return "".join(part.capitalize() for part in method.split("_"))
