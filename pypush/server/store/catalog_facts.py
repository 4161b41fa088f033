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
from typing import Dict, List, Optional, Tuple

from pypush.image.model import DOCKER_CONFIG, OCI_CONFIG
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


def _subject(manifest: bytes) -> Optional[str]:
    try:
        doc = json.loads(manifest)
    except ValueError:
        return None
    subject = doc.get("subject") if isinstance(doc, dict) else None
    digest = subject.get("digest") if isinstance(subject, dict) else None
    return digest if isinstance(digest, str) else None


def catalog_facts(db: Db, repo: str) -> Tuple[List[str], List[str]]:
    """(badges, artifactTypes) of the repository stored as ``repo``, each in the model's enum order."""
    kinds = {ARTIFACT_TYPES[r[0]] for r in db.execute(
        "SELECT DISTINCT artifact_type FROM images WHERE repo=? AND artifact_type IS NOT NULL", (repo,))
        if r[0] in ARTIFACT_TYPES}
    badges = set()
    stored = {r[0] for r in db.execute("SELECT digest FROM images WHERE repo=?", (repo,))}
    for artifact, manifest in db.execute(
            "SELECT artifact_type, manifest FROM images WHERE repo=? AND artifact_type IS NOT NULL "
            "AND instr(manifest, ?) > 0", (repo, b'"subject"')):
        badge = badge_of(artifact)
        if badge is not None and badge not in badges and _subject(manifest) in stored:
            badges.add(badge)
    return [b for b in BADGE_ORDER if b in badges], [k for k in ARTIFACT_ORDER if k in kinds]
