"""What the premium part of the ECR Public management client returns: frozen dataclasses built from the
API's premium structures (PremiumRepository, EntitledRepository, PublisherReport, scan findings, ...)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Dict, Mapping, Optional, Tuple

from pypush.ecrpublic.results import ImageRef


@dataclass(frozen=True)
class AssociatedRepository:
    """The repository of the other type a repository is paired with (at most one)."""

    name: str
    repository_type: str

    def __str__(self) -> str:
        return f"{self.repository_type} {self.name}"


@dataclass(frozen=True)
class PremiumRepository:
    """A premium repository: paid content sold through AWS Marketplace products, in a lifecycle state
    (DRAFT → AVAILABLE ⇄ HIDDEN). ``uri`` is where it is pushed and pulled (the service names the host)."""

    name: str
    uri: str
    arn: str
    registry_id: str
    created_at: Optional[datetime]
    state: Optional[str]
    products: Tuple[str, ...] = ()
    associated: Tuple[AssociatedRepository, ...] = ()


@dataclass(frozen=True)
class StateChange:
    """The state a premium repository is in after SetRepositoryState."""

    repository: str
    registry_id: str
    state: str


@dataclass(frozen=True)
class Products:
    """The Marketplace products a premium repository is sold through (1-5)."""

    repository: str
    registry_id: str
    products: Tuple[str, ...]


@dataclass(frozen=True)
class ImageStatusChange:
    """A premium image's status after SetImageStatus; a DEPRECATED image is deleted at
    ``scheduled_deletion_at`` unless re-activated before."""

    image: ImageRef
    status: str
    scheduled_deletion_at: Optional[datetime] = None


@dataclass(frozen=True)
class Association:
    """A FREE repository paired with a PREMIUM one of the same registry (shown side by side in the gallery)."""

    registry_id: str
    repository: str
    repository_type: str
    associated_repository: str
    associated_type: str


@dataclass(frozen=True)
class Finding:
    """One vulnerability an image scan found."""

    finding_id: str
    severity: str
    title: str
    package: str
    fix_available: Optional[str]
    score: Optional[float]
    status: Optional[str]
    url: Optional[str]


@dataclass(frozen=True)
class ScanFindings:
    """A premium image's scan status and findings (status e.g. ACTIVE, COMPLETE, PENDING,
    FINDINGS_UNAVAILABLE)."""

    repository: str
    image: ImageRef
    status: str
    description: Optional[str]
    completed_at: Optional[datetime]
    severity_counts: Dict[str, int]
    findings: Tuple[Finding, ...]


@dataclass(frozen=True)
class PublisherReport:
    """A publisher report (a compressed CSV of pulls) of the caller's premium repositories and their
    associated FREE ones, for one week or month (``start``..``end`` inclusive, UTC dates)."""

    report_id: str
    report_type: str
    granularity: str
    start: str
    end: str
    size: int
    created_at: Optional[datetime]


@dataclass(frozen=True)
class EntitledRepository:
    """A premium repository the caller may pull, and the Marketplace product entitling it."""

    alias: str
    name: str
    uri: str
    arn: str
    state: Optional[str]
    product_id: Optional[str]
    publisher: Optional[str]


# -- conversions from API structures ----------------------------------------------------------
def _premium_repository(d: Mapping[str, Any]) -> PremiumRepository:
    associated = tuple(AssociatedRepository(a.get("repositoryName", ""), a.get("repositoryType", ""))
                       for a in d.get("associatedRepositories") or ())
    return PremiumRepository(d.get("repositoryName", ""), d.get("repositoryUri", ""), d.get("repositoryArn", ""),
                             d.get("registryId", ""), d.get("createdAt"), d.get("state"),
                             tuple(d.get("marketplaceProducts") or ()), associated)


def _association(d: Mapping[str, Any]) -> Association:
    return Association(d.get("registryId", ""), d.get("repositoryName", ""), d.get("repositoryType", ""),
                       d.get("associatedRepositoryName", ""), d.get("associatedRepositoryType", ""))


def _finding(d: Mapping[str, Any]) -> Finding:
    vuln = d.get("packageVulnerabilityDetails") or {}
    packages = vuln.get("vulnerablePackages") or []
    package = ",".join(f"{p.get('name', '')} {p.get('version', '')}".strip() for p in packages)
    url = ((d.get("remediation") or {}).get("recommendation") or {}).get("url") or vuln.get("sourceUrl")
    return Finding(d.get("findingId") or vuln.get("vulnerabilityId") or "", d.get("severity") or "",
                   d.get("title") or "", package, d.get("fixAvailable"), d.get("score"), d.get("status"), url)


def _publisher_report(d: Mapping[str, Any]) -> PublisherReport:
    period = d.get("period") or {}
    return PublisherReport(d["reportId"], d.get("reportType", ""), d.get("granularity", ""),
                           period.get("startDate", ""), period.get("endDate", ""), int(d.get("sizeInBytes") or 0),
                           d.get("createdAt"))


def _entitled_repository(d: Mapping[str, Any]) -> EntitledRepository:
    return EntitledRepository(d.get("registryAlias", ""), d.get("repositoryName", ""), d.get("repositoryUri", ""),
                              d.get("repositoryArn", ""), d.get("state"), d.get("entitledViaProductId"),
                              d.get("registryDisplayName"))
