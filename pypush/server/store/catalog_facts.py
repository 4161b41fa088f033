"""What a repository's stored content says about it: the catalog's output-only ``badges`` and
``artifactTypes``, decided by the endpoint (AWS does not document how ECR Public decides them).

- ``artifactTypes``: IMAGE when a stored manifest's config (or artifactType) is an OCI or Docker image
  config; HELM when it is Helm's chart config.
- ``badges``: SBOM when the repository stores a referrer (a manifest with a ``subject`` that is an image
  of the same repository) whose artifact type is an SPDX or CycloneDX document (or cosign's SBOM
  attachment); SIGNED when such a referrer is a cosign, Notation or Sigstore-bundle signature. FIPS, STIG
  and CIS need an assessment the endpoint cannot make and are never given.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Set, Tuple

from pypush.image.model import DOCKER_CONFIG, OCI_CONFIG
from pypush.name.patterns import DIGEST
from pypush.server.store.store import Db

HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
ARTIFACT_TYPES: Dict[str, str] = {OCI_CONFIG: "IMAGE", DOCKER_CONFIG: "IMAGE", HELM_CONFIG: "HELM"}
"""Config media type (or artifactType) -> RepositoryArtifactType."""
ARTIFACT_ORDER = ("IMAGE", "HELM")

SBOM_PREFIXES = ("application/spdx", "text/spdx", "application/vnd.cyclonedx", "application/vnd.spdx",
                 "application/vnd.dev.cosign.artifact.sbom")
SIGNATURE_PREFIXES = ("application/vnd.dev.cosign.artifact.sig", "application/vnd.dev.cosign.simplesigning",
                      "application/vnd.cncf.notary.signature", "application/vnd.dev.sigstore.bundle")
BADGE_ORDER = ("FIPS", "STIG", "SIGNED", "SBOM", "CIS")


def badge_of(artifact_type: str) -> Optional[str]:
    """SBOM or SIGNED for a referrer's artifact type, None for any other."""
    kind = artifact_type.lower()
    if kind.startswith(SBOM_PREFIXES):
        return "SBOM"
    if kind.startswith(SIGNATURE_PREFIXES):
        return "SIGNED"
    return None


def subject_of(manifest: bytes) -> Optional[str]:
    """The digest of a manifest's ``subject`` (the image an SBOM or signature refers to), if any."""
    try:
        doc = json.loads(manifest)
    except (ValueError, RecursionError):  # a client's bytes (the v2 door reads them before PutImage does)
        return None
    subject = doc.get("subject") if isinstance(doc, dict) else None
    digest = subject.get("digest") if isinstance(subject, dict) else None
    return digest if isinstance(digest, str) and DIGEST.fullmatch(digest) else None


Facts = Tuple[List[str], List[str]]
"""(badges, artifactTypes), each in the model's enum order."""


def _facts(db: Db, where: str, args: Tuple[Any, ...]) -> Dict[str, Facts]:
    """Facts per store key of the repositories ``where`` selects among the images (``i``)."""
    kinds: Dict[str, Set[str]] = {}
    for repo, artifact in db.execute(f"SELECT DISTINCT i.repo, i.artifact_type FROM images i WHERE {where} "
                                     "AND i.artifact_type IS NOT NULL", args):
        if artifact in ARTIFACT_TYPES:
            kinds.setdefault(repo, set()).add(ARTIFACT_TYPES[artifact])
    badges: Dict[str, Set[str]] = {}
    for repo, artifact, manifest in db.execute(
            f"SELECT i.repo, i.artifact_type, i.manifest FROM images i WHERE {where} AND i.artifact_type IS NOT NULL "
            "AND instr(i.manifest, ?) > 0", (*args, b'"subject"')):
        badge = badge_of(artifact)
        if badge is None or badge in badges.get(repo, ()):
            continue
        subject = subject_of(manifest)
        if subject and db.execute("SELECT 1 FROM images WHERE repo=? AND digest=?", (repo, subject)).fetchone():
            badges.setdefault(repo, set()).add(badge)
    return {repo: ([b for b in BADGE_ORDER if b in badges.get(repo, ())],
                   [k for k in ARTIFACT_ORDER if k in kinds.get(repo, ())])
            for repo in set(kinds) | set(badges)}


def catalog_facts(db: Db, repo: str) -> Facts:
    """(badges, artifactTypes) of the repository stored as ``repo``."""
    return _facts(db, "i.repo=?", (repo,)).get(repo, ([], []))


def all_catalog_facts(db: Db) -> Dict[str, Facts]:
    """Facts of every repository that has any (store key -> facts), in two queries."""
    return _facts(db, "1=1", ())
