"""The Marketplace side of ECRPublic: publisher reports (pulls of premium repositories) and the buyer's
entitled reads. A mixin of pypush.ecrpublic.client.ECRPublic (which supplies ``client``, ``_call`` and
``_pages``); failures raise pypush.errors exceptions carrying the AWS error code."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from pypush.ecrpublic.premium import choice
from pypush.ecrpublic.premium_results import (EntitledRepository, PublisherReport, _entitled_repository,
                                              _publisher_report)
from pypush.ecrpublic.results import Image, Tag, _image, _tag
from pypush.errors import RegistryError, UsageError

_REPORT_TYPES = ("SUMMARY", "TRENDS")
_GRANULARITIES = ("WEEKLY", "MONTHLY")


class MarketplaceMixin:
    """Publisher reports and the buyer's view (see the module's docstring)."""

    client: Any
    _call: Any
    _pages: Any

    # -- publisher reports --------------------------------------------------------------------
    def list_publisher_reports(self, report_type: Optional[str] = None, granularity: Optional[str] = None,
                               page_size: Optional[int] = None) -> List[PublisherReport]:
        """The publisher reports of the last 365 days (``report_type`` SUMMARY|TRENDS, ``granularity``
        WEEKLY|MONTHLY; None: all)."""
        params: Dict[str, Any] = {}
        kind = choice(report_type, _REPORT_TYPES, "report type")
        period = choice(granularity, _GRANULARITIES, "granularity")
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
        from pypush.name.reference import ECR_PUBLIC_HOST, parse_reference

        text = repository.strip()
        ref = text if text.startswith(ECR_PUBLIC_HOST + "/") else f"{ECR_PUBLIC_HOST}/{text}"
        try:
            dest = parse_reference(ref)
        except UsageError:
            raise UsageError(f"invalid entitled repository {repository!r}: expected ALIAS/REPO or "
                             f"public.ecr.aws/ALIAS/REPO (the publisher's alias)") from None
        if dest.tag or dest.digest:
            raise UsageError(f"{repository!r} names an image; give the repository only")
        return {"registryAlias": dest.alias or "", "repositoryName": dest.repository}
