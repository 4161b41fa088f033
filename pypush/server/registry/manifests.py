"""v2 manifest writes: PUT by tag or digest (through PutImage, so both doors store the same rows and
``OCI-Subject`` answers a manifest with a subject), DELETE by digest (the image) or by tag (the tag)."""
from __future__ import annotations

import hashlib
import json
from email.message import Message
from typing import Any, Dict, Optional, Tuple

from pypush.image.model import INDEX_TYPES, MANIFEST_TYPES
from pypush.server.aws.context import public_context
from pypush.server.aws.images import batch_delete_image, put_image
from pypush.server.aws.protocol import PUBLIC, ApiError, max_length, validate
from pypush.server.http_body import BodyError, RequestBody
from pypush.server.registry.reads import API_HEADER, v2_error
from pypush.server.reply import Reply
from pypush.server.settings import Settings
from pypush.name.patterns import DIGEST, TAG
from pypush.server.store.store import Store, is_premium_key, name_of_key

# PutImage / BatchDeleteImage errors -> (HTTP status, distribution error code)
_ERRORS: Dict[str, Tuple[int, str]] = {
    "RepositoryNotFoundException": (404, "NAME_UNKNOWN"),
    "LayersNotFoundException": (400, "MANIFEST_BLOB_UNKNOWN"),
    "ReferencedImagesNotFoundException": (400, "MANIFEST_BLOB_UNKNOWN"),
    "ImageDigestDoesNotMatchException": (400, "DIGEST_INVALID"),
    "ImageTagAlreadyExistsException": (400, "TAG_INVALID"),
    "InvalidParameterException": (400, "MANIFEST_INVALID"),
    "LimitExceededException": (429, "TOOMANYREQUESTS"),
    "DeletionNotAllowedException": (405, "DENIED"),
}


class ManifestApi:
    """PUT and DELETE /v2/<name>/manifests/<reference>."""

    def __init__(self, store: Store, settings: Settings):
        self.store = store
        self.settings = settings
        self.max_manifest = max_length(PUBLIC, "ImageManifest")

    def put(self, name: str, repo: str, ref: str, headers: Message, body: RequestBody) -> Reply:
        try:
            raw = body.read(self.max_manifest)
        except BodyError as e:
            return v2_error(400, "MANIFEST_INVALID", f"manifest body: {e}")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return v2_error(400, "MANIFEST_INVALID", "the manifest is not UTF-8 JSON")
        params: Dict[str, Any] = {**_repository(repo), "imageManifest": text}
        content_type = (headers.get("Content-Type") or "").split(";")[0].strip()
        if content_type in MANIFEST_TYPES | INDEX_TYPES:
            params["imageManifestMediaType"] = content_type
        if DIGEST.fullmatch(ref):
            params["imageDigest"] = ref
        elif ":" in ref:
            return v2_error(400, "DIGEST_INVALID", f"unsupported digest {ref!r}")
        elif not TAG.fullmatch(ref):
            return v2_error(400, "TAG_INVALID", f"invalid tag {ref!r}: letters, digits, _ . - (up to 128, "
                                                f"not starting with . or -)")
        else:
            params["imageTag"] = ref
        ctx = public_context(self.store, self.settings, "PutImage")
        try:
            validate(ctx.op.input_shape, params)
            result = put_image(ctx, params)
            digest = result["image"]["imageId"]["imageDigest"]
        except ApiError as e:
            if e.code != "ImageAlreadyExistsException":  # the same bytes again: success, as registries answer
                status, code = _ERRORS.get(e.code, (400, "MANIFEST_INVALID"))
                if code == "MANIFEST_INVALID" and "imageTag" in e.message:
                    code = "TAG_INVALID"
                return v2_error(status, code, e.message)
            digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        out = {"Location": f"/v2/{name}/manifests/{digest}", "Docker-Content-Digest": digest, **API_HEADER}
        subject = _subject(raw)
        if subject:
            out["OCI-Subject"] = subject
        return Reply(201, out)

    def delete(self, repo: str, ref: str) -> Reply:
        if not DIGEST.fullmatch(ref):
            if ":" in ref:
                return v2_error(400, "DIGEST_INVALID", f"unsupported digest {ref!r}")
            with self.store.tx() as db:
                refusal = _published(db, repo)
                if refusal is not None:
                    return refusal
                gone = db.execute("DELETE FROM image_tags WHERE repo=? AND tag=?", (repo, ref)).rowcount
            if gone < 1:
                return v2_error(404, "MANIFEST_UNKNOWN", f"tag {ref!r} is not in {repo!r}")
            return Reply(202, dict(API_HEADER))
        try:
            result = batch_delete_image(public_context(self.store, self.settings, "BatchDeleteImage"),
                                        {**_repository(repo), "imageIds": [{"imageDigest": ref}]})
        except ApiError as e:
            status, code = _ERRORS.get(e.code, (400, "UNSUPPORTED"))
            return v2_error(status, code, e.message)
        for failure in result["failures"]:
            if failure["failureCode"] == "ImageNotFound":
                return v2_error(404, "MANIFEST_UNKNOWN", f"manifest {ref} is not in {repo!r}")
            return v2_error(409, "DENIED", failure["failureReason"])
        return Reply(202, dict(API_HEADER))


def _repository(key: str) -> Dict[str, str]:
    """repositoryName and (for a premium repository) repositoryType of the repository with store key ``key``."""
    out = {"repositoryName": name_of_key(key)}
    if is_premium_key(key):
        out["repositoryType"] = "PREMIUM"
    return out


def _published(db: Any, key: str) -> Optional[Reply]:
    """The refusal of a deletion in a premium repository that is no longer DRAFT (else None)."""
    if not is_premium_key(key):
        return None
    row = db.execute("SELECT state FROM premium_repositories WHERE name=?", (name_of_key(key),)).fetchone()
    if row is None or row[0] == "DRAFT":
        return None
    return v2_error(405, "DENIED", f"the premium repository {name_of_key(key)!r} is {row[0]}: its images cannot be "
                                   "deleted any more (deprecate them with SetImageStatus)")


def _subject(raw: bytes) -> str:
    try:
        doc = json.loads(raw)
    except ValueError:
        return ""
    subject = doc.get("subject") if isinstance(doc, dict) else None
    digest = subject.get("digest") if isinstance(subject, dict) else None
    return digest if isinstance(digest, str) and DIGEST.fullmatch(digest) else ""
