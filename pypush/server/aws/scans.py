"""DescribeImageScanFindings, answered honestly: the endpoint does not scan images. An image's findings are
the ones seeded for its digest (``pypush serve --scan-findings FILE``); any other image's scan status is
FINDINGS_UNAVAILABLE (so the ImageScanComplete waiter stops at once instead of polling), and an image index
is UNSUPPORTED_IMAGE (scans are per platform image, as ECR Public's). Only PREMIUM repositories are
scanned: a FREE or omitted repositoryType is a ValidationException.

The seed file is a JSON object of image digest -> ImageScanFindings as the API returns it
(``findings``, ``findingSeverityCounts``, ``imageScanCompletedAt``, ``vulnerabilitySourceUpdatedAt``, times
in epoch seconds) plus optional ``status`` (default COMPLETE) and ``description``; without
``findingSeverityCounts`` the findings' ``severity`` values are counted.
"""
from __future__ import annotations

import json
from collections import Counter
from typing import Any, Dict, Mapping

from pypush.image.model import INDEX_TYPES
from pypush.name.patterns import DIGEST
from pypush.server.aws.context import PREMIUM, Context, paginate, require_premium, with_token
from pypush.server.aws.images import resolve_id
from pypush.server.aws.protocol import PUBLIC, ApiError, service_model, validate
from pypush.server.seed_files import read_json
from pypush.server.store.store import repo_key

NOT_SCANNED = ("this endpoint (pypush serve) does not scan images, and no findings were seeded for this image "
               "(pypush serve --scan-findings FILE)")
INDEX_NOT_SCANNED = "an image index is not scanned: ask for the digest of one of its platform images"
_SEED_EXTRA = ("status", "description")


def load_scan_findings(path: str) -> Dict[str, Dict[str, Any]]:
    """The --scan-findings file (see the module's doc); ValueError naming the file and the entry at fault."""
    return parse_scan_findings(read_json(path), path)


def parse_scan_findings(data: Any, path: str = "scan_findings") -> Dict[str, Any]:
    """The checked scan findings of ``data`` (the file's JSON); ValueError naming ``path`` and the entry at fault."""
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of image digest -> scan findings")
    model = service_model(PUBLIC)
    out: Dict[str, Dict[str, Any]] = {}
    for digest, seed in data.items():
        if not DIGEST.fullmatch(digest):
            raise ValueError(f"{path}: {digest!r} is not an image digest")
        if not isinstance(seed, dict):
            raise ValueError(f"{path}: {digest}: expected an object of scan findings")
        findings = {k: v for k, v in seed.items() if k not in _SEED_EXTRA}
        unknown = set(findings) - set(model.shape_for("ImageScanFindings").members)
        if unknown:
            raise ValueError(f"{path}: {digest}: unknown member {sorted(unknown)[0]!r}")
        status = {k: seed[k] for k in _SEED_EXTRA if k in seed}
        status.setdefault("status", "COMPLETE")
        try:
            validate(model.shape_for("ImageScanFindings"), findings, "findings")
            validate(model.shape_for("ImageScanStatus"), status, "status")
        except ApiError as e:
            raise ValueError(f"{path}: {digest}: {e.message}") from None
        if "findingSeverityCounts" not in findings:
            findings["findingSeverityCounts"] = dict(Counter(
                f["severity"] for f in findings.get("findings", []) if isinstance(f.get("severity"), str)))
        out[digest] = {"status": status, "findings": findings}
    return out


def describe_image_scan_findings(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    name = p["repositoryName"]
    if p.get("repositoryType") != PREMIUM:
        raise ApiError("ValidationException",
                       f"Image scan findings exist only for PREMIUM repositories: repositoryType is "
                       f"{p.get('repositoryType') or 'FREE (omitted)'}; send repositoryType=PREMIUM")
    key = repo_key(name, True)
    with ctx.store.read() as db:
        require_premium(ctx, db, name)
        img, failure = resolve_id(db, key, p["imageId"])
    if img is None:
        raise ApiError("ImageNotFoundException", f"The image with imageId {p['imageId']} does not exist within the "
                       f"premium repository with name '{name}': {(failure or {}).get('failureReason', '')}")
    image_id = {"imageDigest": img.digest, **({"imageTag": p["imageId"]["imageTag"]}
                                               if p["imageId"].get("imageTag") else {})}
    out: Dict[str, Any] = {"registryId": ctx.registry_id, "repositoryName": name, "imageId": image_id}
    seed: Mapping[str, Any] = ctx.settings.scan_findings.get(img.digest) or {}
    if img.media_type in INDEX_TYPES:
        out["imageScanStatus"] = {"status": "UNSUPPORTED_IMAGE", "description": INDEX_NOT_SCANNED}
    elif not seed:
        out["imageScanStatus"] = {"status": "FINDINGS_UNAVAILABLE", "description": NOT_SCANNED}
    else:
        out["imageScanStatus"] = dict(seed["status"])
        findings = dict(seed["findings"])
        page, nxt = paginate(findings.get("findings", []), p, f"DescribeImageScanFindings/{key}/{img.digest}")
        findings["findings"] = page
        out["imageScanFindings"] = findings
        with_token(out, nxt)
    return out
