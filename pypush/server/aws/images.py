"""Image operations: PutImage, BatchGetImage, BatchDeleteImage, DescribeImages, DescribeImageTags,
ListImages; and the image lookups the v2 read API shares."""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Tuple

from pypush.name.patterns import DIGEST
from pypush.image.model import INDEX_TYPES, MANIFEST_TYPES, is_foreign
from pypush.server.aws.context import (FREE, PREMIUM, Context, no_paging_with, paginate, repository_type,
                                       require_premium, require_repo, require_typed, with_token)
from pypush.server.aws.protocol import PRIVATE, PUBLIC, ApiError, invalid
from pypush.server.store.store import is_premium_key, name_of_key


@dataclass
class ImageRow:
    """One stored manifest of a repository."""

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


def subject_of(manifest: bytes) -> Optional[str]:
    """The digest of a manifest's ``subject`` (the image an SBOM or signature refers to), if any."""
    try:
        doc = json.loads(manifest)
    except ValueError:
        return None
    subject = doc.get("subject") if isinstance(doc, dict) else None
    digest = subject.get("digest") if isinstance(subject, dict) else None
    return digest if isinstance(digest, str) and DIGEST.fullmatch(digest) else None


def image_status(db: Any, repo: str, digest: str) -> Dict[str, Any]:
    """``imageStatus`` (and ``scheduledDeletionAt`` while DEPRECATED) of a premium repository's image."""
    row = db.execute("SELECT status, scheduled_at FROM image_status WHERE repo=? AND digest=?",
                     (repo, digest)).fetchone()
    if row is None:
        return {"imageStatus": "ACTIVE"}
    return {"imageStatus": row[0], "scheduledDeletionAt": row[1]}


def image_detail(ctx: Context, db: Any, repo: str, img: ImageRow) -> Dict[str, Any]:
    """ImageDetail of an image of the repository whose store key is ``repo``."""
    out: Dict[str, Any] = {
        "registryId": ctx.registry_id,
        "repositoryName": name_of_key(repo),
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
    out["repositoryType"] = PREMIUM if is_premium_key(repo) else FREE
    subject = subject_of(img.manifest)
    if subject:
        out["subjectManifestDigest"] = subject
    if is_premium_key(repo):
        out.update(image_status(db, repo, img.digest))
    return out


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


def put_image(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    tag = p.get("imageTag")
    raw, digest, doc, media_type = _parse_manifest(p)
    with ctx.store.tx() as db:
        repo = require_typed(ctx, db, p)
        settings = {} if is_premium_key(repo) else json.loads(require_repo(ctx, db, repo)[4] or "{}")
        children: List[str] = []
        if media_type in MANIFEST_TYPES:
            config = doc.get("config")
            refs = ([config] if isinstance(config, dict) else []) + _manifest_refs(doc, "layers")
            if not isinstance(config, dict) or not isinstance(config.get("digest"), str):
                raise invalid("Invalid parameter at 'imageManifest': the manifest has no config descriptor")
            missing = [r["digest"] for r in refs if not is_foreign(r)
                       and not db.execute("SELECT 1 FROM layers WHERE repo=? AND digest=?", (repo, r["digest"])).fetchone()]
            if missing:
                raise ApiError("LayersNotFoundException",
                               f"Layers with digests {sorted(set(missing))} required for pushing image into "
                               f"repository with name '{name_of_key(repo)}' do not exist")
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
                               f"in repository '{name_of_key(repo)}'")
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
                           f"in the repository with name '{name_of_key(repo)}'")
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
    image = {"registryId": ctx.registry_id, "repositoryName": p["repositoryName"], "imageId": image_id,
             "imageManifest": p["imageManifest"], "imageManifestMediaType": media_type}
    if ctx.service == PUBLIC:
        image["repositoryType"] = repository_type(p)
        subject = subject_of(raw)
        if subject:
            image["subjectManifestDigest"] = subject
    return {"image": image}


def resolve_id(db: Any, repo: str, image_id: Dict[str, Any]) -> Tuple[Optional[ImageRow], Optional[Dict[str, Any]]]:
    """(image, None) or (None, failure) for one ImageIdentifier."""
    digest, tag = image_id.get("imageDigest"), image_id.get("imageTag")

    def failure(code: str, reason: str) -> Tuple[None, Dict[str, Any]]:
        return None, {"imageId": image_id, "failureCode": code, "failureReason": reason}

    if digest is None and tag is None:
        return failure("MissingDigestAndTag", "Requested image has neither digest nor tag")
    if digest is not None and not DIGEST.fullmatch(digest):
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


def _resolve_all(db: Any, repo: str, image_ids: List[Dict[str, Any]],
                 failures: List[Dict[str, Any]]) -> Iterator[Tuple[Dict[str, Any], ImageRow]]:
    """(image id, image) for each id that names an image; the others' failures go to ``failures``."""
    for image_id in image_ids:
        img, failure = resolve_id(db, repo, image_id)
        if img is None:
            failures.append(failure or {})
        else:
            yield image_id, img


def batch_get_image(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    repo = p["repositoryName"]
    images: List[Dict[str, Any]] = []
    failures: List[Dict[str, Any]] = []
    with ctx.store.read() as db:
        require_repo(ctx, db, repo)
        for image_id, img in _resolve_all(db, repo, p["imageIds"], failures):
            ident = {"imageDigest": img.digest}
            if image_id.get("imageTag"):
                ident["imageTag"] = image_id["imageTag"]
            images.append({"registryId": ctx.registry_id, "repositoryName": repo, "imageId": ident,
                           "imageManifest": img.manifest.decode("utf-8"), "imageManifestMediaType": img.media_type})
    return {"images": images, "failures": failures}


def batch_delete_image(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    deleted: List[Dict[str, Any]] = []
    failures: List[Dict[str, Any]] = []
    with ctx.store.tx() as db:
        repo = require_typed(ctx, db, p)
        if is_premium_key(repo):
            state = require_premium(ctx, db, p["repositoryName"])[2]
            if state != "DRAFT":
                raise ApiError("DeletionNotAllowedException",
                               f"The premium repository '{p['repositoryName']}' is {state}: its images cannot be "
                               "deleted any more; use SetImageStatus to deprecate them")
        for image_id, img in _resolve_all(db, repo, p["imageIds"], failures):
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
            delete_image_rows(db, repo, img.digest)
            if tags:
                deleted.extend({"imageDigest": img.digest, "imageTag": t} for t in tags)
            else:
                deleted.append({"imageDigest": img.digest})
    return {"imageIds": deleted, "failures": failures}


def delete_image_rows(db: Any, repo: str, digest: str) -> None:
    """Inside a transaction: the image ``digest`` of ``repo``, its tags, its children links and its status."""
    db.execute("DELETE FROM image_tags WHERE repo=? AND digest=?", (repo, digest))
    db.execute("DELETE FROM images WHERE repo=? AND digest=?", (repo, digest))
    db.execute("DELETE FROM image_children WHERE repo=? AND parent=?", (repo, digest))
    db.execute("DELETE FROM image_status WHERE repo=? AND digest=?", (repo, digest))


def _all_images(db: Any, repo: str) -> List[ImageRow]:
    return [ImageRow(*r) for r in db.execute(
        f"SELECT {IMAGE_COLUMNS} FROM images WHERE repo=? ORDER BY pushed_at, digest", (repo,))]


def _tag_filter(p: Dict[str, Any]) -> str:
    return ((p.get("filter") or {}).get("tagStatus")) or "ANY"


def describe_images(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    no_paging_with(p, "imageIds")
    with ctx.store.read() as db:
        repo = require_typed(ctx, db, p)
        if p.get("imageIds") is not None:
            rows = []
            for image_id in p["imageIds"]:
                img, _ = resolve_id(db, repo, image_id)
                if img is None:
                    raise ApiError("ImageNotFoundException", f"The image with imageId {image_id} does not exist "
                                   f"within the repository with name '{p['repositoryName']}'")
                rows.append(img)
            return {"imageDetails": [image_detail(ctx, db, repo, r) for r in rows]}
        details = [image_detail(ctx, db, repo, r) for r in _all_images(db, repo)]
    status = _tag_filter(p)
    if status != "ANY":
        details = [d for d in details if bool(d.get("imageTags")) == (status == "TAGGED")]
    page, nxt = paginate(details, p, f"DescribeImages/{repo}")
    return with_token({"imageDetails": page}, nxt)


def describe_image_tags(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    with ctx.store.read() as db:
        repo = require_typed(ctx, db, p)
        details = tag_details(db, repo)
    page, nxt = paginate(details, p, f"DescribeImageTags/{repo}")
    return with_token({"imageTagDetails": page}, nxt)


def tag_details(db: Any, repo: str) -> List[Dict[str, Any]]:
    """ImageTagDetail of every tag of the repository whose store key is ``repo``, by tag."""
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
        if is_premium_key(repo):
            ref.update(image_status(db, repo, img.digest))
        details.append({"imageTag": tag, "createdAt": created, "imageDetail": ref})
    return details


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
    return with_token({"imageIds": page}, nxt)
