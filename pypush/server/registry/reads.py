"""The OCI distribution v2 *read* side over the store: manifests, blobs (with Range), tags/list and
_catalog paging (``n``, ``last``, ``Link``), and the OCI 1.1 referrers API.

Repositories are addressed as ``<repo>`` or ``<alias>/<repo>``. Routing and login: router.py.
"""
from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import quote

from pypush.image.model import INDEX_TYPES
from pypush.server.aws.images import IMAGE_COLUMNS, ImageRow, find_image
from pypush.server.reply import Reply
from pypush.name.patterns import BLOB_DIGEST, DIGEST
from pypush.server.store.store import Store, repo_exists, repo_key

API_HEADER = {"Docker-Distribution-API-Version": "registry/2.0"}
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def v2_error(status: int, code: str, message: str, **headers: str) -> Reply:
    """The distribution spec's error body ``{"errors": [{"code", "message"}]}``."""
    body = json.dumps({"errors": [{"code": code, "message": message, "detail": None}]}).encode()
    return Reply(status, {"Content-Type": "application/json", **API_HEADER, **headers}, body)


def json_reply(obj: object, status: int = 200, **headers: str) -> Reply:
    return Reply(status, {"Content-Type": "application/json", **API_HEADER, **headers}, json.dumps(obj).encode())


def page_of(items: List[str], query: Dict[str, List[str]], link: str) -> Tuple[Optional[List[str]], Dict[str, str]]:
    """(items after ``last``, at most ``n`` of them; a ``Link`` header to the next page). None: bad ``n``."""
    last = next(iter(query.get("last") or []), None)
    if last is not None:
        items = [t for t in items if t > last]
    n = next(iter(query.get("n") or []), None)
    if n is None:
        return items, {}
    if not n.isdigit() or len(n) > 9:
        return None, {}
    count = int(n)
    if len(items) <= count:
        return items[:count], {}
    page = items[:count]
    if not page:
        return page, {}
    return page, {"Link": f'<{link}?n={count}&last={quote(page[-1], safe="")}>; rel="next"'}


def strip_alias(alias: str, name: str) -> str:
    """``<repo>`` for ``<alias>/<repo>`` (the name as ECR Public's registry host spells it), else ``name``."""
    return name[len(alias) + 1 :] if name.startswith(alias + "/") else name


def resolve_repo(store: Store, alias: str, name: str, premium: bool = False) -> Optional[str]:
    """The store key of the FREE (or ``premium``) repository ``name`` or ``<alias>/<repo>`` means, if it exists."""
    with store.read() as db:
        for candidate in dict.fromkeys((name, strip_alias(alias, name))):
            if candidate and repo_exists(db, repo_key(candidate, premium)):
                return repo_key(candidate, premium)
    return None


class ReadApi:
    """Answers the GET/HEAD requests under /v2/ (the router has resolved the repository)."""

    def __init__(self, store: Store, premium: bool = False):
        self.store = store
        self.premium = premium

    def catalog(self, query: Dict[str, List[str]]) -> Reply:
        table = "premium_repositories" if self.premium else "repositories"
        with self.store.read() as db:
            names = [r[0] for r in db.execute(f"SELECT name FROM {table} ORDER BY name")]
        page, link = page_of(names, query, "/v2/_catalog")
        if page is None:
            return v2_error(400, "PAGINATION_NUMBER_INVALID", "n must be a non-negative integer")
        return json_reply({"repositories": page}, 200, **link)

    def tags(self, name: str, repo: str, query: Dict[str, List[str]]) -> Reply:
        with self.store.read() as db:
            tags = [r[0] for r in db.execute("SELECT tag FROM image_tags WHERE repo=? ORDER BY tag", (repo,))]
        page, link = page_of(tags, query, f"/v2/{name}/tags/list")
        if page is None:
            return v2_error(400, "PAGINATION_NUMBER_INVALID", "n must be a non-negative integer")
        return json_reply({"name": name, "tags": page}, 200, **link)

    def manifest(self, repo: str, ref: str) -> Reply:
        with self.store.read() as db:
            if DIGEST.fullmatch(ref):
                img = find_image(db, repo, digest=ref)
            else:
                img = find_image(db, repo, tag=ref)
        if img is None:
            return v2_error(404, "MANIFEST_UNKNOWN", f"manifest {ref!r} is not in {repo!r}")
        return Reply(200, {"Content-Type": img.media_type, "Docker-Content-Digest": img.digest,
                           "ETag": f'"{img.digest}"', **API_HEADER}, img.manifest)

    def blob(self, repo: str, digest: str, range_header: Optional[str]) -> Reply:
        if not BLOB_DIGEST.fullmatch(digest):
            return v2_error(400, "DIGEST_INVALID", f"unsupported digest {digest!r}")
        with self.store.read() as db:
            row = db.execute("SELECT b.size FROM layers l JOIN blobs b ON b.digest=l.digest "
                             "WHERE l.repo=? AND l.digest=?", (repo, digest)).fetchone()
            img = None if row else find_image(db, repo, digest=digest)
        headers = {"Docker-Content-Digest": digest, "Content-Type": "application/octet-stream",
                   "Accept-Ranges": "bytes", **API_HEADER}
        if img is not None:
            return Reply(200, headers, img.manifest)
        if row is None:
            return v2_error(404, "BLOB_UNKNOWN", f"blob {digest} is not in {repo!r}")
        size = row[0]
        start, end = 0, size - 1
        status = 200
        if range_header:
            parsed = _parse_range(range_header, size)
            if parsed is None:
                return Reply(416, {"Content-Range": f"bytes */{size}", **API_HEADER})
            if parsed != _WHOLE:
                start, end = parsed
                status = 206
                headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        return Reply(status, headers, file=self.store.blob_path(digest), offset=start, length=end - start + 1)

    def referrers(self, repo: str, digest: str, query: Dict[str, List[str]]) -> Reply:
        """OCI 1.1: an image index of the manifests whose ``subject`` is ``digest``."""
        if not DIGEST.fullmatch(digest):
            return v2_error(400, "DIGEST_INVALID", f"unsupported digest {digest!r}")
        wanted = next(iter(query.get("artifactType") or []), None)
        with self.store.read() as db:
            rows = [ImageRow(*r) for r in db.execute(
                f"SELECT {IMAGE_COLUMNS} FROM images WHERE repo=? AND instr(manifest, ?) > 0 ORDER BY pushed_at",
                (repo, digest.encode()))]
        found: List[Dict[str, Any]] = []
        for img in rows:
            desc = referrer_descriptor(img, digest)
            if desc is not None and (wanted is None or desc.get("artifactType") == wanted):
                found.append(desc)
        headers = {"OCI-Filters-Applied": "artifactType"} if wanted is not None else {}
        body = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": found}
        return Reply(200, {"Content-Type": OCI_INDEX, **API_HEADER, **headers}, json.dumps(body).encode())


def referrer_descriptor(img: ImageRow, subject: str) -> Optional[Dict[str, Any]]:
    """The descriptor of ``img`` in a referrers list when its subject is ``subject``."""
    try:
        doc = json.loads(img.manifest)
    except ValueError:
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("subject"), dict) or doc["subject"].get("digest") != subject:
        return None
    desc: Dict[str, Any] = {"mediaType": img.media_type, "digest": img.digest, "size": len(img.manifest)}
    artifact = doc.get("artifactType")
    if artifact is None and img.media_type not in INDEX_TYPES and isinstance(doc.get("config"), dict):
        artifact = doc["config"].get("mediaType")
    if isinstance(artifact, str):
        desc["artifactType"] = artifact
    if isinstance(doc.get("annotations"), dict):
        desc["annotations"] = doc["annotations"]
    return desc


_WHOLE = (-1, -1)


def _parse_range(value: str, size: int) -> Optional[Tuple[int, int]]:
    """``(first, last)`` of a single satisfiable byte range; None when it is unsatisfiable (416); ``_WHOLE``
    when the header is not one valid byte range (several ranges, last before first, another unit): ignored
    and the blob served whole, as RFC 9110 allows."""
    m = re.fullmatch(r"bytes=(\d*)-(\d*)", value.strip())
    if not m or (not m[1] and not m[2]) or len(value) > 60 or (m[1] and m[2] and int(m[2]) < int(m[1])):
        return _WHOLE
    if not m[1]:
        start, end = max(0, size - int(m[2])), size - 1
    else:
        start = int(m[1])
        end = min(int(m[2]), size - 1) if m[2] else size - 1
    if start > end or start >= size:
        return None
    return start, end
