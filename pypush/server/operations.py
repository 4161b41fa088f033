"""The push, pull and image operations, one function each, over the shared store.

Each function takes the request Context and the validated members and returns the response
members. Repository/registry administration lives in repositories.py.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from botocore.model import OperationModel

from ..model import INDEX_TYPES, MANIFEST_TYPES
from .b64 import Base64Error
from .protocol import PRIVATE, PUBLIC, ApiError, invalid, regex, service_model, validate
from .store import Store

MIN_PART_SIZE = 5 * 1024 * 1024
"""Published quota: every part but the last of a layer is at least 5 MiB."""
MAX_PARTS = {PUBLIC: 1000, PRIVATE: 4200}
"""Published quota: parts a layer may have."""
DEFAULT_PAGE = 100


@dataclass
class Settings:
    """What the endpoint is: identity, part size and where it listens."""

    registry_id: str = "123456789012"
    alias: str = "local"
    part_size: int = 10 * 1024 * 1024
    url: str = ""

    def check(self) -> None:
        """ValueError unless the identity and part size fit the ECR Public model's shapes."""
        model = service_model(PUBLIC)
        for shape, value, what in (("RegistryId", self.registry_id, "registry id"),
                                   ("RegistryAliasName", self.alias, "alias")):
            try:
                validate(model.shape_for(shape), value, what)
            except ApiError as e:
                raise ValueError(f"invalid {what} {value!r}: {e.message}") from None
        largest = model.shape_for("LayerPartBlob").metadata["max"]
        if not 1 <= self.part_size <= largest:
            raise ValueError(f"part size must be between 1 and {largest} bytes, not {self.part_size}")

    @property
    def min_part_size(self) -> int:
        """LayerPartTooSmall threshold; lowered with a smaller configured part size."""
        return min(MIN_PART_SIZE, self.part_size)


@dataclass
class Context:
    """One request: the store, the endpoint's settings, which service and operation."""

    store: Store
    settings: Settings
    service: str
    op: OperationModel
    region: str = "us-east-1"

    @property
    def registry_id(self) -> str:
        return self.settings.registry_id

    def repository_arn(self, name: str) -> str:
        if self.service == PUBLIC:
            return f"arn:aws:ecr-public::{self.registry_id}:repository/{name}"
        return f"arn:aws:ecr:{self.region}:{self.registry_id}:repository/{name}"

    def repository_uri(self, name: str) -> str:
        if self.service == PUBLIC:
            return f"public.ecr.aws/{self.settings.alias}/{name}"
        return f"{self.registry_id}.dkr.ecr.{self.region}.amazonaws.com/{name}"


Handler = Callable[[Context, Dict[str, Any]], Dict[str, Any]]
OPERATIONS: Dict[Tuple[str, str], Handler] = {}


def operation(name: str, *services: str) -> Callable[[Handler], Handler]:
    """Register ``fn`` as operation ``name`` of ``services`` (both when none are named)."""

    def register(fn: Handler) -> Handler:
        for service in services or (PUBLIC, PRIVATE):
            OPERATIONS[(service, name)] = fn
        return fn

    return register


# -- shared helpers ---------------------------------------------------------------------------
def check_registry(ctx: Context, p: Dict[str, Any]) -> None:
    """``registryId`` must be absent, the endpoint's id, or (where the model allows) its alias."""
    rid = p.get("registryId")
    if rid is None or rid == ctx.registry_id:
        return
    member = ctx.op.input_shape.members.get("registryId")
    if member is not None and member.name == "RegistryIdOrAlias" and rid == ctx.settings.alias:
        return
    errors = {e.name for e in ctx.op.error_shapes}
    code = "RegistryNotFoundException" if "RegistryNotFoundException" in errors else "RepositoryNotFoundException"
    raise ApiError(code, f"The registry with id '{rid}' does not exist")


def repo_not_found(ctx: Context, name: str) -> ApiError:
    return ApiError(
        "RepositoryNotFoundException",
        f"The repository with name '{name}' does not exist in the registry with id '{ctx.registry_id}'",
    )


def require_repo(ctx: Context, db: Any, name: str) -> Tuple[Any, ...]:
    """The repository's row, or RepositoryNotFoundException."""
    row = db.execute(
        "SELECT name, created_at, policy, catalog, settings FROM repositories WHERE name=?", (name,)
    ).fetchone()
    if row is None:
        raise repo_not_found(ctx, name)
    return row


def paginate(items: Sequence[Any], p: Dict[str, Any], key: str) -> Tuple[List[Any], Optional[str]]:
    """One page of ``items`` per maxResults/nextToken; the token is opaque to clients."""
    offset = 0
    token = p.get("nextToken")
    if token is not None:
        try:
            state = json.loads(base64.urlsafe_b64decode(token.encode()))
            if state["k"] != key:
                raise ValueError(key)
            offset = int(state["o"])
        except (ValueError, KeyError, TypeError):
            raise invalid("Invalid parameter at 'nextToken': the token is not valid for this request") from None
    size = p.get("maxResults") or DEFAULT_PAGE
    page = list(items[offset : offset + size])
    nxt = None
    if offset + size < len(items):
        nxt = base64.urlsafe_b64encode(json.dumps({"k": key, "o": offset + size}).encode()).decode()
    return page, nxt


def no_paging_with(p: Dict[str, Any], member: str) -> None:
    if p.get(member) is not None and (p.get("maxResults") is not None or p.get("nextToken") is not None):
        raise invalid(f"Invalid parameter: maxResults and nextToken cannot be used with {member}")


@dataclass
class ImageRow:
    digest: str
    media_type: str
    artifact_type: Optional[str]
    manifest: bytes
    size: int
    pushed_at: float


IMAGE_COLUMNS = "digest, media_type, artifact_type, manifest, size, pushed_at"


def find_image(db: Any, repo: str, digest: Optional[str] = None, tag: Optional[str] = None) -> Optional[ImageRow]:
    """An image of ``repo`` by digest or by tag."""
    if digest is None:
        row = db.execute("SELECT digest FROM image_tags WHERE repo=? AND tag=?", (repo, tag)).fetchone()
        if row is None:
            return None
        digest = row[0]
    row = db.execute(f"SELECT {IMAGE_COLUMNS} FROM images WHERE repo=? AND digest=?", (repo, digest)).fetchone()
    return ImageRow(*row) if row else None


def image_tags(db: Any, repo: str, digest: str) -> List[str]:
    return [r[0] for r in db.execute("SELECT tag FROM image_tags WHERE repo=? AND digest=? ORDER BY tag", (repo, digest))]


def image_detail(ctx: Context, db: Any, repo: str, img: ImageRow) -> Dict[str, Any]:
    out: Dict[str, Any] = {
        "registryId": ctx.registry_id,
        "repositoryName": repo,
        "imageDigest": img.digest,
        "imageSizeInBytes": img.size,
        "imagePushedAt": img.pushed_at,
        "imageManifestMediaType": img.media_type,
    }
    tags = image_tags(db, repo, img.digest)
    if tags:
        out["imageTags"] = tags
    if img.artifact_type:
        out["artifactMediaType"] = img.artifact_type
    if ctx.service == PRIVATE:
        out["imageStatus"] = "ACTIVE"
    return out


# -- layers -----------------------------------------------------------------------------------
def _valid_digest(ctx: Context, digest: str) -> bool:
    """The model's LayerDigest pattern, and 64 hex digits for sha256."""
    pattern = regex(service_model(ctx.service).shape_for("LayerDigest").metadata["pattern"])
    if pattern is not None and not pattern.fullmatch(digest):
        return False
    algo, _, hexd = digest.partition(":")
    return algo != "sha256" or len(hexd) == 64


@operation("BatchCheckLayerAvailability")
def batch_check_layer_availability(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    repo = p["repositoryName"]
    layers: List[Dict[str, Any]] = []
    failures: List[Dict[str, Any]] = []
    with ctx.store.read() as db:
        require_repo(ctx, db, repo)
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


@operation("InitiateLayerUpload")
def initiate_layer_upload(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    with ctx.store.read() as db:
        require_repo(ctx, db, p["repositoryName"])
    upload = ctx.store.new_upload(p["repositoryName"])
    return {"uploadId": upload.id, "partSize": ctx.settings.part_size}


def _upload_of(ctx: Context, p: Dict[str, Any]):
    upload = ctx.store.get_upload(p["uploadId"])
    if upload is None or upload.repo != p["repositoryName"]:
        with ctx.store.read() as db:
            require_repo(ctx, db, p["repositoryName"])
        raise ApiError("UploadNotFoundException", f"Upload with id '{p['uploadId']}' is not found")
    return upload


@operation("UploadLayerPart")
def upload_layer_part(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    upload = _upload_of(ctx, p)
    blob = p["layerPartBlob"]
    first, last = p["partFirstByte"], p["partLastByte"]
    with upload.lock:
        if first != upload.size or last < first or last - first + 1 != blob.size:
            raise ApiError(
                "InvalidLayerPartException",
                f"The part [{first}, {last}] of {blob.size} bytes does not continue the upload, "
                f"whose last valid byte is {upload.size - 1}",
                registryId=ctx.registry_id, repositoryName=upload.repo, uploadId=upload.id,
                lastValidByteReceived=upload.size - 1,
            )
        if len(upload.part_sizes) >= MAX_PARTS[ctx.service]:
            raise ApiError("LimitExceededException", f"An upload may have at most {MAX_PARTS[ctx.service]} parts")
        hasher = upload.hasher.copy()
        with open(upload.path, "r+b", buffering=0) as f:
            f.seek(upload.size)
            try:
                for chunk in blob.chunks():
                    hasher.update(chunk)
                    f.write(chunk)
            except Base64Error as e:
                f.truncate(upload.size)
                raise invalid(f"Invalid parameter at 'layerPartBlob': not valid base64 ({e})") from None
            except BaseException:
                f.truncate(upload.size)
                raise
        upload.hasher = hasher
        upload.touched_at = time.time()
        upload.size += blob.size
        upload.part_sizes.append(blob.size)
    return {"registryId": ctx.registry_id, "repositoryName": upload.repo, "uploadId": upload.id,
            "lastByteReceived": last}


@operation("CompleteLayerUpload")
def complete_layer_upload(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    upload = _upload_of(ctx, p)
    repo = upload.repo
    with upload.lock:
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
            with ctx.store.tx() as db:
                require_repo(ctx, db, repo)
                if db.execute("SELECT 1 FROM layers WHERE repo=? AND digest=?", (repo, digest)).fetchone():
                    raise ApiError("LayerAlreadyExistsException",
                                   f"The layer '{digest}' already exists in the repository '{repo}'")
                ctx.store.commit_upload_file(upload, digest)
                db.execute("INSERT OR IGNORE INTO blobs (digest, size) VALUES (?, ?)", (digest, upload.size))
                db.execute("INSERT INTO layers (repo, digest, created_at) VALUES (?, ?, ?)",
                           (repo, digest, time.time()))
        finally:
            ctx.store.drop_upload(upload.id)
    return {"registryId": ctx.registry_id, "repositoryName": repo, "uploadId": upload.id, "layerDigest": digest}


# -- images -----------------------------------------------------------------------------------
def _manifest_refs(doc: Dict[str, Any], member: str) -> List[Dict[str, Any]]:
    refs = doc.get(member)
    if refs is None:
        return []
    if not isinstance(refs, list) or not all(isinstance(r, dict) and isinstance(r.get("digest"), str) for r in refs):
        raise invalid(f"Invalid parameter at 'imageManifest': '{member}' must be a list of descriptors")
    return refs


def _parse_manifest(p: Dict[str, Any]) -> Tuple[bytes, str, Dict[str, Any], str]:
    """(bytes, digest, document, media type) of PutImage's manifest."""
    raw = p["imageManifest"].encode("utf-8")
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    if p.get("imageDigest") is not None and p["imageDigest"] != digest:
        raise ApiError("ImageDigestDoesNotMatchException",
                       f"The digest given ({p['imageDigest']}) does not match the manifest's digest ({digest})")
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise invalid("Invalid parameter at 'imageManifest' failed to satisfy constraint: 'Invalid JSON syntax'")
    declared, given = doc.get("mediaType"), p.get("imageManifestMediaType")
    if given and declared and given != declared:
        raise invalid(f"Invalid parameter: imageManifestMediaType {given!r} differs from the manifest's "
                      f"mediaType {declared!r}")
    media_type = given or declared
    if not media_type:
        raise invalid("Invalid parameter at 'imageManifestMediaType': the manifest has no mediaType; "
                      "imageManifestMediaType is required")
    if media_type not in MANIFEST_TYPES | INDEX_TYPES:
        raise invalid(f"Invalid parameter at 'imageManifestMediaType': unsupported media type {media_type!r}")
    if doc.get("schemaVersion") != 2:
        raise invalid("Invalid parameter at 'imageManifest': schemaVersion must be 2")
    return raw, digest, doc, media_type


@operation("PutImage")
def put_image(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    repo, tag = p["repositoryName"], p.get("imageTag")
    raw, digest, doc, media_type = _parse_manifest(p)
    with ctx.store.tx() as db:
        settings = json.loads(require_repo(ctx, db, repo)[4] or "{}")
        children: List[str] = []
        if media_type in MANIFEST_TYPES:
            config = doc.get("config")
            refs = ([config] if isinstance(config, dict) else []) + _manifest_refs(doc, "layers")
            if not isinstance(config, dict) or not isinstance(config.get("digest"), str):
                raise invalid("Invalid parameter at 'imageManifest': the manifest has no config descriptor")
            missing = [r["digest"] for r in refs
                       if not db.execute("SELECT 1 FROM layers WHERE repo=? AND digest=?", (repo, r["digest"])).fetchone()]
            if missing:
                raise ApiError("LayersNotFoundException",
                               f"Layers with digests {sorted(set(missing))} required for pushing image into "
                               f"repository with name '{repo}' do not exist")
            size = sum(int(r.get("size") or 0) for r in refs)
            artifact = doc.get("artifactType") or config.get("mediaType")
        else:
            children = [r["digest"] for r in _manifest_refs(doc, "manifests")]
            sizes = [db.execute("SELECT size FROM images WHERE repo=? AND digest=?", (repo, c)).fetchone()
                     for c in children]
            missing = [c for c, s in zip(children, sizes) if s is None]
            if missing:
                raise ApiError("ReferencedImagesNotFoundException",
                               f"Images with digests {sorted(set(missing))} referenced by the index do not exist "
                               f"in repository '{repo}'")
            size = sum(s[0] for s in sizes if s) + len(raw)
            artifact = doc.get("artifactType")
        exists = db.execute("SELECT 1 FROM images WHERE repo=? AND digest=?", (repo, digest)).fetchone()
        current = None
        if tag is not None:
            row = db.execute("SELECT digest FROM image_tags WHERE repo=? AND tag=?", (repo, tag)).fetchone()
            current = row[0] if row else None
        if exists and (tag is None or current == digest):
            raise ApiError("ImageAlreadyExistsException",
                           f"Image with digest '{digest}'{f' and tag {tag!r}' if tag else ''} already exists "
                           f"in the repository with name '{repo}'")
        if current and current != digest and str(settings.get("imageTagMutability", "")).startswith("IMMUTABLE"):
            raise ApiError("ImageTagAlreadyExistsException",
                           f"The image tag '{tag}' already exists in the '{repo}' repository and cannot be "
                           "overwritten because the repository is immutable")
        now = time.time()
        if not exists:
            db.execute(f"INSERT INTO images (repo, {IMAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (repo, digest, media_type, artifact, raw, size, now))
            db.executemany("INSERT OR IGNORE INTO image_children (repo, parent, child) VALUES (?, ?, ?)",
                           [(repo, digest, c) for c in children])
        if tag is not None:
            db.execute("INSERT OR REPLACE INTO image_tags (repo, tag, digest, created_at) VALUES (?, ?, ?, ?)",
                       (repo, tag, digest, now))
    image_id = {"imageDigest": digest}
    if tag is not None:
        image_id["imageTag"] = tag
    return {"image": {"registryId": ctx.registry_id, "repositoryName": repo, "imageId": image_id,
                      "imageManifest": p["imageManifest"], "imageManifestMediaType": media_type}}


def _resolve(db: Any, repo: str, image_id: Dict[str, Any]) -> Tuple[Optional[ImageRow], Optional[Dict[str, Any]]]:
    """(image, None) or (None, failure) for one ImageIdentifier."""
    digest, tag = image_id.get("imageDigest"), image_id.get("imageTag")

    def failure(code: str, reason: str) -> Tuple[None, Dict[str, Any]]:
        return None, {"imageId": image_id, "failureCode": code, "failureReason": reason}

    if digest is None and tag is None:
        return failure("MissingDigestAndTag", "Requested image has neither digest nor tag")
    if digest is not None and not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        return failure("InvalidImageDigest", "Invalid request parameters: image digest should satisfy the regex "
                       "'[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'")
    img = find_image(db, repo, digest=digest, tag=tag if digest is None else None)
    if img is None:
        return failure("ImageNotFound", "Requested image not found")
    if digest is not None and tag is not None:
        row = db.execute("SELECT digest FROM image_tags WHERE repo=? AND tag=?", (repo, tag)).fetchone()
        if row is None:
            return failure("ImageNotFound", "Requested image not found")
        if row[0] != digest:
            return failure("ImageTagDoesNotMatchDigest", "Invalid request parameters: given tag does not map "
                           "to the given digest")
    return img, None


@operation("BatchGetImage", PRIVATE)
def batch_get_image(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    repo = p["repositoryName"]
    images, failures = [], []
    with ctx.store.read() as db:
        require_repo(ctx, db, repo)
        for image_id in p["imageIds"]:
            img, failure = _resolve(db, repo, image_id)
            if failure:
                failures.append(failure)
                continue
            ident = {"imageDigest": img.digest}
            if image_id.get("imageTag"):
                ident["imageTag"] = image_id["imageTag"]
            images.append({"registryId": ctx.registry_id, "repositoryName": repo, "imageId": ident,
                           "imageManifest": img.manifest.decode("utf-8"), "imageManifestMediaType": img.media_type})
    return {"images": images, "failures": failures}


@operation("BatchDeleteImage")
def batch_delete_image(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    repo = p["repositoryName"]
    deleted, failures = [], []
    with ctx.store.tx() as db:
        require_repo(ctx, db, repo)
        for image_id in p["imageIds"]:
            img, failure = _resolve(db, repo, image_id)
            if failure:
                failures.append(failure)
                continue
            only_tag = image_id.get("imageDigest") is None
            tags = image_tags(db, repo, img.digest)
            if only_tag and len(tags) > 1:
                db.execute("DELETE FROM image_tags WHERE repo=? AND tag=?", (repo, image_id["imageTag"]))
                deleted.append({"imageDigest": img.digest, "imageTag": image_id["imageTag"]})
                continue
            parent = db.execute("SELECT parent FROM image_children WHERE repo=? AND child=?",
                                (repo, img.digest)).fetchone()
            if parent is not None:
                failures.append({"imageId": image_id, "failureCode": "ImageReferencedByManifestList",
                                 "failureReason": f"Requested image is referenced by the index {parent[0]}"})
                continue
            db.execute("DELETE FROM image_tags WHERE repo=? AND digest=?", (repo, img.digest))
            db.execute("DELETE FROM images WHERE repo=? AND digest=?", (repo, img.digest))
            db.execute("DELETE FROM image_children WHERE repo=? AND parent=?", (repo, img.digest))
            if tags:
                deleted.extend({"imageDigest": img.digest, "imageTag": t} for t in tags)
            else:
                deleted.append({"imageDigest": img.digest})
    return {"imageIds": deleted, "failures": failures}


def _all_images(db: Any, repo: str) -> List[ImageRow]:
    return [ImageRow(*r) for r in db.execute(
        f"SELECT {IMAGE_COLUMNS} FROM images WHERE repo=? ORDER BY pushed_at, digest", (repo,))]


def _tag_filter(p: Dict[str, Any]) -> str:
    return ((p.get("filter") or {}).get("tagStatus")) or "ANY"


@operation("DescribeImages")
def describe_images(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    no_paging_with(p, "imageIds")
    repo = p["repositoryName"]
    with ctx.store.read() as db:
        require_repo(ctx, db, repo)
        if p.get("imageIds") is not None:
            rows = []
            for image_id in p["imageIds"]:
                img, failure = _resolve(db, repo, image_id)
                if failure:
                    raise ApiError("ImageNotFoundException", f"The image with imageId {image_id} does not exist "
                                   f"within the repository with name '{repo}'")
                rows.append(img)
            return {"imageDetails": [image_detail(ctx, db, repo, r) for r in rows]}
        details = [image_detail(ctx, db, repo, r) for r in _all_images(db, repo)]
    status = _tag_filter(p)
    if status != "ANY":
        details = [d for d in details if bool(d.get("imageTags")) == (status == "TAGGED")]
    page, nxt = paginate(details, p, f"DescribeImages/{repo}")
    return _with_token({"imageDetails": page}, nxt)


def _with_token(out: Dict[str, Any], nxt: Optional[str]) -> Dict[str, Any]:
    if nxt:
        out["nextToken"] = nxt
    return out


@operation("DescribeImageTags", PUBLIC)
def describe_image_tags(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    repo = p["repositoryName"]
    with ctx.store.read() as db:
        require_repo(ctx, db, repo)
        rows = db.execute(
            f"SELECT t.tag, t.created_at, {', '.join('i.' + c.strip() for c in IMAGE_COLUMNS.split(','))} "
            "FROM image_tags t JOIN images i ON i.repo=t.repo AND i.digest=t.digest WHERE t.repo=? ORDER BY t.tag",
            (repo,),
        ).fetchall()
    details = []
    for tag, created, *image in rows:
        img = ImageRow(*image)
        ref = {"imageDigest": img.digest, "imageSizeInBytes": img.size, "imagePushedAt": img.pushed_at,
               "imageManifestMediaType": img.media_type}
        if img.artifact_type:
            ref["artifactMediaType"] = img.artifact_type
        details.append({"imageTag": tag, "createdAt": created, "imageDetail": ref})
    page, nxt = paginate(details, p, f"DescribeImageTags/{repo}")
    return _with_token({"imageTagDetails": page}, nxt)


@operation("ListImages", PRIVATE)
def list_images(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    repo = p["repositoryName"]
    status = _tag_filter(p)
    ids: List[Dict[str, str]] = []
    with ctx.store.read() as db:
        require_repo(ctx, db, repo)
        for img in _all_images(db, repo):
            tags = image_tags(db, repo, img.digest)
            if tags and status != "UNTAGGED":
                ids.extend({"imageDigest": img.digest, "imageTag": t} for t in tags)
            elif not tags and status != "TAGGED":
                ids.append({"imageDigest": img.digest})
    page, nxt = paginate(ids, p, f"ListImages/{repo}")
    return _with_token({"imageIds": page}, nxt)


def iter_operations() -> Iterable[Tuple[str, str]]:
    """(service, operation) pairs implemented."""
    return OPERATIONS.keys()
