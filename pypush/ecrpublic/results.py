"""What the ECR Public management client returns: frozen dataclasses built from API structures."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Dict, Mapping, Optional, Tuple

# -- data -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImageRef:
    """One image of a repository, by tag and/or digest (the API's ImageIdentifier)."""

    repository: str
    tag: Optional[str] = None
    digest: Optional[str] = None

    def __str__(self) -> str:
        return self.repository + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    def to_api(self) -> Dict[str, str]:
        out = {}
        if self.tag:
            out["imageTag"] = self.tag
        if self.digest:
            out["imageDigest"] = self.digest
        return out


@dataclass(frozen=True)
class Repository:
    """A repository of a public registry."""

    name: str
    uri: str
    arn: str
    registry_id: str
    created_at: Optional[datetime]


@dataclass(frozen=True)
class Image:
    """A manifest stored in a repository, with the tags pointing at it."""

    repository: str
    digest: str
    tags: Tuple[str, ...]
    size: int
    pushed_at: Optional[datetime]
    media_type: Optional[str]
    artifact_media_type: Optional[str] = None
    repository_type: Optional[str] = None  # FREE | PREMIUM, when the service says
    subject_digest: Optional[str] = None  # the image this one refers to (an SBOM's, a signature's subject)
    status: Optional[str] = None  # premium images: ACTIVE | DEPRECATED
    scheduled_deletion_at: Optional[datetime] = None  # a deprecated premium image's deletion date


@dataclass(frozen=True)
class Tag:
    """A tag and the image it points at."""

    repository: str
    name: str
    digest: str
    created_at: Optional[datetime]
    size: int
    pushed_at: Optional[datetime]
    media_type: Optional[str]
    artifact_media_type: Optional[str] = None
    status: Optional[str] = None  # premium images: ACTIVE | DEPRECATED
    scheduled_deletion_at: Optional[datetime] = None


@dataclass(frozen=True)
class DeleteFailure:
    """An image BatchDeleteImage refused, with the service's code and reason."""

    image: ImageRef
    code: str
    reason: str


@dataclass(frozen=True)
class DeleteResult:
    """What ``delete_images`` deleted and what it could not (never raised: inspect ``failures``)."""

    deleted: Tuple[ImageRef, ...]
    failures: Tuple[DeleteFailure, ...]

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass(frozen=True)
class Policy:
    """A repository policy; ``text`` is exactly what the service stores."""

    repository: str
    registry_id: str
    text: str

    @property
    def document(self) -> Any:
        """The policy parsed as JSON."""
        return json.loads(self.text)


@dataclass(frozen=True)
class CatalogData:
    """A repository's public gallery entry. ``logo_url`` is where the service serves the logo."""

    description: Optional[str] = None
    about: Optional[str] = None
    usage: Optional[str] = None
    architectures: Tuple[str, ...] = ()
    operating_systems: Tuple[str, ...] = ()
    logo_url: Optional[str] = None
    marketplace_certified: bool = False
    categories: Tuple[str, ...] = ()
    badges: Tuple[str, ...] = ()  # set by the service (e.g. SBOM, SIGNED), not by the publisher
    artifact_types: Tuple[str, ...] = ()  # set by the service: IMAGE, HELM


@dataclass(frozen=True)
class RegistryCatalogData:
    """A registry's public gallery entry."""

    display_name: str
    description: Optional[str] = None
    logo_url: Optional[str] = None


@dataclass(frozen=True)
class RegistryAlias:
    """One alias of a registry (the ALIAS in ``public.ecr.aws/ALIAS/REPO``)."""

    name: str
    status: str
    primary: bool
    default: bool


@dataclass(frozen=True)
class RegistryInfo:
    """A public registry of the caller's account."""

    registry_id: str
    arn: str
    uri: str
    verified: bool
    aliases: Tuple[RegistryAlias, ...] = field(default_factory=tuple)
    premium_status: Optional[str] = None  # ENABLED | DISABLED
    premium_registry_uri: Optional[str] = None  # where its premium repositories are pushed and pulled


# -- conversions from API structures ----------------------------------------------------------
def _repository(d: Mapping[str, Any]) -> Repository:
    return Repository(d["repositoryName"], d.get("repositoryUri", ""), d.get("repositoryArn", ""),
                      d.get("registryId", ""), d.get("createdAt"))


def _image(d: Mapping[str, Any]) -> Image:
    return Image(d.get("repositoryName", ""), d["imageDigest"], tuple(d.get("imageTags") or ()),
                 int(d.get("imageSizeInBytes") or 0), d.get("imagePushedAt"), d.get("imageManifestMediaType"),
                 d.get("artifactMediaType"), d.get("repositoryType"), d.get("subjectManifestDigest"),
                 d.get("imageStatus"), d.get("scheduledDeletionAt"))


def _tag(repository: str, d: Mapping[str, Any]) -> Tag:
    img = d.get("imageDetail") or {}
    return Tag(repository, d["imageTag"], img.get("imageDigest", ""), d.get("createdAt"),
               int(img.get("imageSizeInBytes") or 0), img.get("imagePushedAt"), img.get("imageManifestMediaType"),
               img.get("artifactMediaType"), img.get("imageStatus"), img.get("scheduledDeletionAt"))


def _catalog(d: Mapping[str, Any]) -> CatalogData:
    return CatalogData(d.get("description"), d.get("aboutText"), d.get("usageText"),
                       tuple(d.get("architectures") or ()), tuple(d.get("operatingSystems") or ()),
                       d.get("logoUrl") or None, bool(d.get("marketplaceCertified", False)),
                       tuple(d.get("categories") or ()), tuple(d.get("badges") or ()),
                       tuple(d.get("artifactTypes") or ()))


def _registry_catalog(d: Mapping[str, Any]) -> RegistryCatalogData:
    return RegistryCatalogData(d.get("displayName", ""), d.get("description") or None, d.get("logoUrl") or None)


def _registry(d: Mapping[str, Any]) -> RegistryInfo:
    aliases = tuple(RegistryAlias(a["name"], a.get("status", ""), bool(a.get("primaryRegistryAlias")),
                                  bool(a.get("defaultRegistryAlias"))) for a in d.get("aliases") or ())
    return RegistryInfo(d["registryId"], d.get("registryArn", ""), d.get("registryUri", ""),
                        bool(d.get("verified")), aliases, d.get("premiumStatus"), d.get("premiumRegistryUri"))
