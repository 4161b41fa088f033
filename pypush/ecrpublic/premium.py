"""The premium operations of ECRPublic: premium repositories (paid content sold through AWS Marketplace),
their lifecycle, products, catalog and policy, image deprecation, FREE↔PREMIUM associations, scan findings,
publisher reports, and the buyer's entitled reads.

A mixin of pypush.ecrpublic.client.ECRPublic (which supplies ``client``, ``_call``, ``_pages``, ``_target``
and ``_repo_params``); every method is one operation (or its pages), failures raise pypush.errors exceptions
carrying the AWS error code.
"""
from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

from pypush.ecrpublic.catalog import catalog_input
from pypush.ecrpublic.premium_results import (Association, EntitledRepository, ImageStatusChange, Products,
                                              PremiumRepository, PublisherReport, ScanFindings, StateChange,
                                              _association, _entitled_repository, _finding, _premium_repository,
                                              _publisher_report)
from pypush.ecrpublic.results import CatalogData, Image, ImageRef, Policy, Tag, _catalog, _image, _tag
from pypush.errors import RegistryError, UsageError

STATES = ("DRAFT", "AVAILABLE", "HIDDEN")
"""A premium repository's lifecycle: DRAFT → AVAILABLE ⇄ HIDDEN (never back to DRAFT)."""
DEPRECATION_DAYS = (90, 365)
"""SetImageStatus's deprecationPeriodDays range."""
PRODUCTS_MAX = 5
_PRODUCT = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_REPORT_TYPES = ("SUMMARY", "TRENDS")
_GRANULARITIES = ("WEEKLY", "MONTHLY")


def check_products(products: Sequence[str]) -> List[str]:
    """The Marketplace product ids as the API takes them: 1-5, unique, ``[A-Za-z0-9_-]``; else UsageError."""
    out = [p.strip() for p in products]
    if not 1 <= len(out) <= PRODUCTS_MAX:
        raise UsageError(f"{len(out)} Marketplace products given: a premium repository has 1 to {PRODUCTS_MAX}")
    for product in out:
        if not _PRODUCT.match(product):
            raise UsageError(f"invalid Marketplace product id {product!r}: letters, digits, '_' and '-'")
    if len(set(out)) != len(out):
        raise UsageError("a Marketplace product is given twice")
    return out


def image_id(image: str) -> Dict[str, str]:
    """The API's ImageIdentifier of ``TAG`` or ``sha256:DIGEST``."""
    if image.startswith("sha256:"):
        from pypush.name.patterns import DIGEST

        if not DIGEST.fullmatch(image):
            raise UsageError(f"invalid digest {image!r}: expected sha256:<64 hex digits>")
        return {"imageDigest": image}
    from pypush.name.reference import validate_tag

    return {"imageTag": validate_tag(image)}


def _what(params: Dict[str, Any]) -> str:
    """How an error message names the repository a premium call is about."""
    return f"premium repository {params['repositoryName']}"


def _choice(value: Optional[str], allowed: Tuple[str, ...], what: str) -> Optional[str]:
    if value is None:
        return None
    name = value.strip().upper()
    if name not in allowed:
        raise UsageError(f"unknown {what} {value!r}: choose {' or '.join(a.lower() for a in allowed)}")
    return name


class PremiumMixin:
    """Premium repositories, entitlements and publisher reports (see the module's docstring)."""

    client: Any
    _call: Any
    _pages: Any
    _repo_params: Any
    _target: Any

    # -- repositories -------------------------------------------------------------------------
    def create_premium_repository(self, repository: str, products: Sequence[str],
                                  catalog: Optional[Dict[str, Any]] = None,
                                  tags: Optional[Dict[str, str]] = None) -> PremiumRepository:
        """Create a premium repository in DRAFT, sold through ``products`` (1-5 Marketplace product ids);
        ``catalog`` is a ``catalog_input(...)``, ``tags`` resource tags. It may share its name with a FREE one."""
        params = self._repo_params(repository)
        params.pop("registryId", None)
        params["marketplaceProducts"] = check_products(products)
        if catalog:
            params["catalogData"] = dict(catalog)
        if tags:
            params["tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
        resp = self._call("CreatePremiumRepository", _what(params),
                          lambda: self.client.create_premium_repository(**params))
        return _premium_repository(resp.get("premiumRepository") or {})

    def list_premium_repositories(self, page_size: Optional[int] = None) -> List[PremiumRepository]:
        """Every premium repository of the caller's registry (DRAFT, AVAILABLE and HIDDEN), all pages."""
        return [_premium_repository(d) for d in self._pages("describe_premium_repositories", "", "repositories",
                                                             page_size)]

    def describe_premium_repository(self, repository: str) -> PremiumRepository:
        """One premium repository with its state, products and association."""
        params = self._repo_params(repository)
        name = params.pop("repositoryName")
        resp = self._call("DescribePremiumRepositories", f"premium repository {name}",
                          lambda: self.client.describe_premium_repositories(repositoryNames=[name], **params))
        found = [d for d in resp.get("repositories") or () if d.get("repositoryName") == name]
        if not found:
            raise RegistryError(f"DescribePremiumRepositories premium repository {name}: RepositoryNotFoundException: "
                                f"no premium repository of that name; create it first: pypush premium create {name} "
                                f"--product ID", "RepositoryNotFoundException")
        return _premium_repository(found[0])

    def delete_premium_repository(self, repository: str) -> PremiumRepository:
        """Delete an empty premium repository (there is no force: in DRAFT delete its images, later
        deprecate them and wait for their deletion)."""
        params = self._repo_params(repository)
        resp = self._call("DeletePremiumRepository", _what(params),
                          lambda: self.client.delete_premium_repository(**params))
        return _premium_repository(resp.get("premiumRepository") or {})

    def set_repository_state(self, repository: str, state: str) -> StateChange:
        """Move a premium repository to ``state``: DRAFT → AVAILABLE (listed, buyers can pull) ⇄ HIDDEN
        (unlisted, existing buyers can still pull); it never returns to DRAFT."""
        params = self._repo_params(repository)
        wanted = _choice(state, STATES, "state")
        resp = self._call("SetRepositoryState", _what(params), lambda: self.client.set_repository_state(
            repositoryType="PREMIUM", state=wanted, **params))
        return StateChange(resp.get("repositoryName", params["repositoryName"]), resp.get("registryId", ""),
                           resp.get("state", wanted or ""))

    def set_products(self, repository: str, products: Sequence[str]) -> Products:
        """Replace the repository's Marketplace products with ``products`` (1-5; after DRAFT the service
        only lets the list grow)."""
        params = self._repo_params(repository)
        wanted = check_products(products)
        resp = self._call("PutPremiumRepositoryProducts", _what(params),
                          lambda: self.client.put_premium_repository_products(marketplaceProducts=wanted, **params))
        return Products(resp.get("repositoryName", params["repositoryName"]), resp.get("registryId", ""),
                        tuple(resp.get("marketplaceProducts") or wanted))

    # -- catalog and policy -------------------------------------------------------------------
    def get_premium_catalog_data(self, repository: str) -> CatalogData:
        """The premium repository's gallery entry (with the badges and artifact types the service sets)."""
        params = self._repo_params(repository)
        resp = self._call("GetPremiumRepositoryCatalogData", _what(params),
                          lambda: self.client.get_premium_repository_catalog_data(**params))
        return _catalog(resp.get("catalogData") or {})

    def put_premium_catalog_data(self, repository: str, **fields: Any) -> CatalogData:
        """Update the fields given (``description``, ``about``, ``usage``, ``architectures``,
        ``operating_systems``, ``logo``, ``categories``, as ``put_catalog_data`` takes them); the others stay.
        Returns the whole entry after the update."""
        params = self._repo_params(repository)
        catalog = catalog_input(**fields)
        if not catalog:
            raise UsageError("nothing to set: give a description, about, usage, architectures, operating "
                             "systems, a logo or categories")
        resp = self._call("PutPremiumRepositoryCatalogData", _what(params),
                          lambda: self.client.put_premium_repository_catalog_data(catalogData=catalog, **params))
        return _catalog(resp.get("catalogData") or {})

    def get_premium_policy(self, repository: str) -> Policy:
        """The premium repository's policy (RepositoryPolicyNotFoundException when none is set)."""
        params = self._repo_params(repository)
        resp = self._call("GetPremiumRepositoryPolicy", _what(params),
                          lambda: self.client.get_premium_repository_policy(**params))
        return Policy(resp.get("repositoryName", params["repositoryName"]), resp.get("registryId", ""),
                      resp.get("policyText", ""))

    def set_premium_policy(self, repository: str, policy: Any, force: bool = False) -> Policy:
        """Set the policy (JSON text, or a dict/list); ``force`` allows one that locks the caller out."""
        text = policy if isinstance(policy, str) else json.dumps(policy, indent=2)
        try:
            json.loads(text)
        except ValueError as exc:
            raise UsageError(f"the policy is not valid JSON: {exc}") from None
        params = self._repo_params(repository)
        resp = self._call("SetPremiumRepositoryPolicy", _what(params),
                          lambda: self.client.set_premium_repository_policy(policyText=text, force=force, **params))
        return Policy(resp.get("repositoryName", params["repositoryName"]), resp.get("registryId", ""),
                      resp.get("policyText", text))

    def delete_premium_policy(self, repository: str) -> Policy:
        """Remove the policy; returns the one deleted."""
        params = self._repo_params(repository)
        resp = self._call("DeletePremiumRepositoryPolicy", _what(params),
                          lambda: self.client.delete_premium_repository_policy(**params))
        return Policy(resp.get("repositoryName", params["repositoryName"]), resp.get("registryId", ""),
                      resp.get("policyText", ""))

    # -- images -------------------------------------------------------------------------------
    def deprecate_image(self, repository: str, image: str, days: int) -> ImageStatusChange:
        """Deprecate a premium image (``TAG`` or ``sha256:DIGEST``; a tag names its current digest): the
        service deletes it ``days`` (90-365) from now unless it is re-activated before."""
        low, high = DEPRECATION_DAYS
        if not low <= int(days) <= high:
            raise UsageError(f"--days {days}: a deprecation period is {low} to {high} days")
        return self._set_image_status(repository, image, "DEPRECATED", int(days))

    def reactivate_image(self, repository: str, image: str) -> ImageStatusChange:
        """Cancel a premium image's deprecation (only before its scheduled deletion)."""
        return self._set_image_status(repository, image, "ACTIVE", None)

    def _set_image_status(self, repository: str, image: str, status: str, days: Optional[int]) -> ImageStatusChange:
        params = self._repo_params(repository)
        ident = image_id(image)
        extra = {"deprecationPeriodDays": days} if days is not None else {}
        resp = self._call("SetImageStatus", f"{_what(params)} image {image}", lambda: self.client.set_image_status(
            repositoryType="PREMIUM", imageId=ident, status=status, **extra, **params))
        got = resp.get("imageId") or ident
        name = resp.get("repositoryName", params["repositoryName"])
        ref = ImageRef(name, got.get("imageTag"), got.get("imageDigest"))
        return ImageStatusChange(ref, resp.get("status", status), resp.get("scheduledDeletionAt"))

    def scan_findings(self, repository: str, image: str, page_size: Optional[int] = None) -> ScanFindings:
        """A premium image's scan status and every finding (DescribeImageScanFindings, all pages; ``page_size``
        1-100). For a multi-platform tag give a platform image's digest."""
        if page_size is not None and not 1 <= page_size <= 100:
            raise UsageError(f"page size {page_size} out of range: 1..100")
        params = self._repo_params(repository)
        params.update(repositoryType="PREMIUM", imageId=image_id(image))
        first: Dict[str, Any] = {}
        findings: List[Any] = []
        token: Optional[str] = None
        while True:
            page_params = dict(params, **({"maxResults": page_size} if page_size else {}),
                               **({"nextToken": token} if token else {}))
            resp = self._call("DescribeImageScanFindings", f"{_what(params)} image {image}",
                              lambda: self.client.describe_image_scan_findings(**page_params))
            first = first or resp
            findings.extend((resp.get("imageScanFindings") or {}).get("findings") or ())
            token = resp.get("nextToken")
            if not token:
                break
        status = first.get("imageScanStatus") or {}
        summary = first.get("imageScanFindings") or {}
        got = first.get("imageId") or params["imageId"]
        ref = ImageRef(first.get("repositoryName", params["repositoryName"]), got.get("imageTag"),
                       got.get("imageDigest"))
        counts = {str(k): int(v) for k, v in (summary.get("findingSeverityCounts") or {}).items()}
        return ScanFindings(ref.repository, ref, status.get("status", ""), status.get("description"),
                            summary.get("imageScanCompletedAt"), counts, tuple(_finding(f) for f in findings))

    # -- associations -------------------------------------------------------------------------
    def associate(self, repository: str, free_repository: Optional[str] = None) -> Association:
        """Pair the premium ``repository`` with the FREE ``free_repository`` (default: the FREE one of the
        same name); each may have one association."""
        return self._association("AssociateRepositories", repository, free_repository)

    def disassociate(self, repository: str, free_repository: Optional[str] = None) -> Association:
        """Undo ``associate``."""
        return self._association("DisassociateRepositories", repository, free_repository)

    def _association(self, operation: str, repository: str, free_repository: Optional[str]) -> Association:
        params = self._repo_params(repository)
        free = self._repo_params(free_repository)["repositoryName"] if free_repository else params["repositoryName"]
        method = getattr(self.client, "associate_repositories" if operation.startswith("A") else
                         "disassociate_repositories")
        resp = self._call(operation, _what(params), lambda: method(
            repositoryType="PREMIUM", associatedRepositoryName=free, associatedRepositoryType="FREE", **params))
        return _association(resp)

    # -- publisher reports --------------------------------------------------------------------
    def list_publisher_reports(self, report_type: Optional[str] = None, granularity: Optional[str] = None,
                               page_size: Optional[int] = None) -> List[PublisherReport]:
        """The publisher reports of the last 365 days (``report_type`` SUMMARY|TRENDS, ``granularity``
        WEEKLY|MONTHLY; None: all)."""
        params: Dict[str, Any] = {}
        kind = _choice(report_type, _REPORT_TYPES, "report type")
        period = _choice(granularity, _GRANULARITIES, "granularity")
        if kind:
            params["reportType"] = kind
        if period:
            params["granularity"] = period
        return [_publisher_report(d) for d in self._pages("list_publisher_reports", "", "reports", page_size,
                                                           **params)]

    def publisher_report_url(self, report_id: str) -> str:
        """A short-lived URL of the report's compressed CSV (ask again when it has expired)."""
        resp = self._call("GetDownloadUrlForPublisherReport", report_id,
                          lambda: self.client.get_download_url_for_publisher_report(reportId=report_id))
        return str(resp["downloadUrl"])

    def download_publisher_report(self, report_id: str) -> bytes:
        """The report's compressed CSV bytes (from ``publisher_report_url``)."""
        import requests

        url = self.publisher_report_url(report_id)
        try:
            resp = requests.get(url, timeout=60)
        except requests.RequestException as exc:
            raise RegistryError(f"downloading publisher report {report_id}: {type(exc).__name__}") from None
        if resp.status_code != 200:
            raise RegistryError(f"downloading publisher report {report_id}: HTTP {resp.status_code} (the URL "
                                f"may have expired: download again)", str(resp.status_code))
        return resp.content

    # -- the buyer's view ---------------------------------------------------------------------
    def list_entitled_repositories(self, page_size: Optional[int] = None) -> List[EntitledRepository]:
        """The premium repositories the caller's Marketplace agreements entitle it to pull (one entry per
        repository and product; repeats across pages are dropped)."""
        found = [_entitled_repository(d) for d in self._pages("describe_entitled_repositories", "", "repositories",
                                                               page_size)]
        return list(dict.fromkeys(found))

    def list_entitled_images(self, repository: str, page_size: Optional[int] = None) -> List[Image]:
        """The images of an entitled premium repository ``ALIAS/REPO`` (or ``public.ecr.aws/ALIAS/REPO``)."""
        params = self._entitled(repository)
        return [_image(dict(d, repositoryName=d.get("repositoryName") or params["repositoryName"]))
                for d in self._pages("describe_entitled_images", repository, "imageDetails", page_size, **params)]

    def list_entitled_tags(self, repository: str, page_size: Optional[int] = None) -> List[Tag]:
        """The tags of an entitled premium repository ``ALIAS/REPO``."""
        params = self._entitled(repository)
        return [_tag(params["repositoryName"], d) for d in self._pages("describe_entitled_image_tags", repository,
                                                                        "imageTagDetails", page_size, **params)]

    @staticmethod
    def _entitled(repository: str) -> Dict[str, str]:
        """{registryAlias, repositoryName} of ``ALIAS/REPO`` or ``public.ecr.aws/ALIAS/REPO`` (the publisher's)."""
        from pypush.name.reference import ECR_PUBLIC_HOST, parse_destination

        text = repository.strip()
        ref = text if text.startswith(ECR_PUBLIC_HOST + "/") else f"{ECR_PUBLIC_HOST}/{text}"
        try:
            dest = parse_destination(ref)
        except UsageError:
            raise UsageError(f"invalid entitled repository {repository!r}: expected ALIAS/REPO or "
                             f"public.ecr.aws/ALIAS/REPO (the publisher's alias)") from None
        if dest.tag or dest.digest:
            raise UsageError(f"{repository!r} names an image; give the repository only")
        return {"registryAlias": dest.alias or "", "repositoryName": dest.repository}
