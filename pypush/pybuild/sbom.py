"""The SBOM of one platform of a built image, as SPDX 2.3 JSON: the image, its base (by digest) and every
distribution installed, with version, PURL, the sha256 of the wheel it came from, and its license.

SPDX rather than CycloneDX: it is an ISO standard (ISO/IEC 5962), the format registries and scanners
(Docker Scout, Trivy, Syft, GitHub's dependency graph) read as an OCI referrer under
``application/spdx+json``, and its ``licenseDeclared`` takes the SPDX expressions that wheels' PEP 639
``License-Expression`` already uses.
"""
from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Dict, List, Optional, Sequence

MEDIA_TYPE = "application/spdx+json"
_CLASSIFIERS = {  # the common trove license classifiers, as SPDX identifiers
    "OSI Approved :: MIT License": "MIT", "OSI Approved :: Apache Software License": "Apache-2.0",
    "OSI Approved :: BSD License": "BSD-3-Clause", "OSI Approved :: ISC License (ISCL)": "ISC",
    "OSI Approved :: Python Software Foundation License": "PSF-2.0",
    "OSI Approved :: Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "OSI Approved :: GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
    "OSI Approved :: GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
}


def _spdx_id(text: str) -> str:
    return "SPDXRef-" + re.sub(r"[^A-Za-z0-9.-]+", "-", text)


def declared_license(expression: Optional[str], text: str) -> str:
    """An SPDX expression for ``licenseDeclared``: the wheel's License-Expression, a known classifier, a
    short identifier-like License field, else NOASSERTION."""
    if expression:
        return expression.strip()
    for part in (p.strip() for p in text.split(";")):
        if part in _CLASSIFIERS:
            return _CLASSIFIERS[part]
    if re.fullmatch(r"[A-Za-z0-9.+-]+( (AND|OR|WITH) [A-Za-z0-9.+-]+)*", text.strip() or "-") and len(text) < 60:
        return text.strip()
    return "NOASSERTION"


def download_location(url: str) -> str:
    """SPDX's ``downloadLocation`` for where a wheel came from: its URL when it is one SPDX accepts (http(s) on a
    named host), else ``NOASSERTION`` (a ``file:`` mirror, a loopback index: places on the building machine)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "NOASSERTION"
    label = host.rsplit(".", 1)[-1]
    if parts.scheme in ("http", "https") and "." in host and label.isalpha() and 2 <= len(label) <= 5:
        return url
    return "NOASSERTION"


def purl(name: str, version: str) -> str:
    """``pkg:pypi/name@version`` (name normalized as the PURL spec asks for pypi)."""
    return f"pkg:pypi/{re.sub(r'[-_.]+', '-', name).lower()}@{version}"


def spdx(*, image_name: str, platform: str, created: str, tool: str, base_name: Optional[str], base_digest: str,
         distributions: Sequence[Dict[str, Any]]) -> bytes:
    """The document's bytes (sorted, stable). ``distributions``: dicts with name, version, sha256, filename,
    url, license, license_expression, role ("dependency" or "application")."""
    image_id = "SPDXRef-Image"
    packages: List[Dict[str, Any]] = [{
        "SPDXID": image_id, "name": image_name, "versionInfo": platform, "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False, "primaryPackagePurpose": "CONTAINER", "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION", "copyrightText": "NOASSERTION"}]
    relationships = [{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
                      "relatedSpdxElement": image_id}]
    base_ref = f"pkg:oci/{(base_name or 'base').rsplit('/', 1)[-1].split(':')[0].split('@')[0]}@{base_digest}"
    packages.append({
        "SPDXID": "SPDXRef-Base", "name": base_name or "base image", "versionInfo": base_digest,
        "downloadLocation": "NOASSERTION", "filesAnalyzed": False, "primaryPackagePurpose": "CONTAINER",
        "checksums": [{"algorithm": "SHA256", "checksumValue": base_digest.split(":", 1)[-1]}],
        "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                          "referenceLocator": base_ref}],
        "licenseConcluded": "NOASSERTION", "licenseDeclared": "NOASSERTION", "copyrightText": "NOASSERTION"})
    relationships.append({"spdxElementId": image_id, "relationshipType": "DESCENDANT_OF",
                          "relatedSpdxElement": "SPDXRef-Base"})
    for dist in sorted(distributions, key=lambda d: (d["name"].lower(), d["version"])):
        ident = _spdx_id(f"Python-{dist['name']}-{dist['version']}")
        entry: Dict[str, Any] = {
            "SPDXID": ident, "name": dist["name"], "versionInfo": dist["version"],
            "downloadLocation": download_location(dist.get("url") or ""), "filesAnalyzed": False,
            "packageFileName": dist["filename"],
            "primaryPackagePurpose": "APPLICATION" if dist.get("role") == "application" else "LIBRARY",
            "checksums": [{"algorithm": "SHA256", "checksumValue": dist["sha256"]}],
            "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                              "referenceLocator": purl(dist["name"], dist["version"])}],
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": declared_license(dist.get("license_expression"), dist.get("license") or ""),
            "copyrightText": "NOASSERTION"}
        if dist.get("license") and entry["licenseDeclared"] == "NOASSERTION":
            entry["licenseComments"] = str(dist["license"])[:1000]
        packages.append(entry)
        relationships.append({"spdxElementId": image_id, "relationshipType": "CONTAINS", "relatedSpdxElement": ident})
    body = {"packages": packages, "relationships": relationships}
    namespace = hashlib.sha256(json.dumps([image_name, platform, body], sort_keys=True).encode()).hexdigest()
    doc = {"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
           "name": f"{image_name} {platform}", "documentNamespace": f"https://spdx.org/spdxdocs/pypush-{namespace}",
           "creationInfo": {"created": created, "creators": [f"Tool: {tool}"]}, **body}
    return json.dumps(doc, indent=1, sort_keys=True).encode() + b"\n"
