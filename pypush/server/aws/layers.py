"""Layer operations: BatchCheckLayerAvailability and the Initiate / UploadLayerPart / Complete upload."""
from __future__ import annotations

from typing import Any, Dict, List

from pypush.server.aws.context import Context, repository_type, require_typed, typed_key
from pypush.server.aws.part_blob import Base64Error
from pypush.server.aws.protocol import PRIVATE, PUBLIC, ApiError, invalid, regex, service_model
from pypush.server.store.store import Upload

MAX_PARTS = {PUBLIC: 1000, PRIVATE: 4200}
"""Published quota: parts a layer may have."""


def _valid_digest(ctx: Context, digest: str) -> bool:
    """The model's LayerDigest pattern, and 64 hex digits for sha256."""
    pattern = regex(service_model(ctx.service).shape_for("LayerDigest").metadata["pattern"])
    if pattern is not None and not pattern.fullmatch(digest):
        return False
    algo, _, hexd = digest.partition(":")
    return algo != "sha256" or len(hexd) == 64


def batch_check_layer_availability(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    layers: List[Dict[str, Any]] = []
    failures: List[Dict[str, Any]] = []
    with ctx.store.read() as db:
        repo = require_typed(ctx, db, p)
        for digest in p["layerDigests"]:
            if not _valid_digest(ctx, digest):
                failures.append({"layerDigest": digest, "failureCode": "InvalidLayerDigest",
                                 "failureReason": "Invalid layer digest"})
                continue
            row = db.execute(
                "SELECT b.size FROM layers l JOIN blobs b ON b.digest=l.digest WHERE l.repo=? AND l.digest=?",
                (repo, digest),
            ).fetchone()
            if row is None:
                failures.append({"layerDigest": digest, "failureCode": "MissingLayerDigest",
                                 "failureReason": "Requested layer not found"})
            else:
                layers.append({"layerDigest": digest, "layerAvailability": "AVAILABLE", "layerSize": row[0]})
    return {"layers": layers, "failures": failures}


def initiate_layer_upload(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    with ctx.store.read() as db:
        key = require_typed(ctx, db, p)
    upload = ctx.store.new_upload(key)
    return {"uploadId": upload.id, "partSize": ctx.settings.part_size}


def _upload_of(ctx: Context, p: Dict[str, Any]) -> Upload:
    """The live upload the request names (call again under its lock: a racing Complete may end it)."""
    upload = ctx.store.get_upload(p["uploadId"])
    if upload is None or upload.repo != typed_key(p):
        with ctx.store.read() as db:
            require_typed(ctx, db, p)
        raise ApiError("UploadNotFoundException", f"Upload with id '{p['uploadId']}' is not found")
    return upload


def upload_layer_part(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    upload = _upload_of(ctx, p)
    blob = p["layerPartBlob"]
    first, last = p["partFirstByte"], p["partLastByte"]
    with upload.lock:
        _upload_of(ctx, p)
        if first != upload.size or last < first or last - first + 1 != blob.size:
            raise ApiError(
                "InvalidLayerPartException",
                f"The part [{first}, {last}] of {blob.size} bytes does not continue the upload, "
                f"whose last valid byte is {upload.size - 1}",
                registryId=ctx.registry_id, repositoryName=p["repositoryName"], uploadId=upload.id,
                lastValidByteReceived=upload.size - 1,
            )
        if len(upload.part_sizes) >= MAX_PARTS[ctx.service]:
            raise ApiError("LimitExceededException", f"An upload may have at most {MAX_PARTS[ctx.service]} parts")
        try:
            upload.append(blob.chunks())
        except Base64Error as e:
            raise invalid(f"Invalid parameter at 'layerPartBlob': not valid base64 ({e})") from None
    return _typed({"registryId": ctx.registry_id, "repositoryName": p["repositoryName"], "uploadId": upload.id,
                   "lastByteReceived": last}, ctx, p)


def _typed(out: Dict[str, Any], ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    """``out`` with the repositoryType ECR Public's replies echo."""
    if ctx.service == PUBLIC:
        out["repositoryType"] = repository_type(p)
    return out


def complete_layer_upload(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    upload = _upload_of(ctx, p)
    repo = upload.repo
    with upload.lock:
        _upload_of(ctx, p)
        if not upload.part_sizes:
            raise ApiError("EmptyUploadException", f"The upload '{upload.id}' has no parts")
        try:
            small = [i for i, n in enumerate(upload.part_sizes[:-1]) if n < ctx.settings.min_part_size]
            if small:
                raise ApiError(
                    "LayerPartTooSmallException",
                    f"Part {small[0] + 1} has {upload.part_sizes[small[0]]} bytes; every part but the "
                    f"last must have at least {ctx.settings.min_part_size}",
                )
            digest = "sha256:" + upload.hasher.hexdigest()
            if digest not in p["layerDigests"]:
                raise ApiError(
                    "InvalidLayerException",
                    f"The layer digest calculated ({digest}) does not match the digest specified "
                    f"({', '.join(p['layerDigests'])})",
                )
            ctx.store.sync_upload(upload, digest)
            with ctx.store.tx() as db:
                require_typed(ctx, db, p)
                if db.execute("SELECT 1 FROM layers WHERE repo=? AND digest=?", (repo, digest)).fetchone():
                    raise ApiError("LayerAlreadyExistsException",
                                   f"The layer '{digest}' already exists in the repository '{p['repositoryName']}'")
                ctx.store.commit_upload_file(upload, digest)
                ctx.store.link_blob(db, repo, digest, upload.size)
        finally:
            ctx.store.drop_upload(upload.id)
    return _typed({"registryId": ctx.registry_id, "repositoryName": p["repositoryName"], "uploadId": upload.id,
                   "layerDigest": digest}, ctx, p)
