"""The OCI distribution v2 *read* API over the same store: enough for skopeo, crane or docker to pull.

Repositories are addressed as ``<repo>`` or ``<alias>/<repo>``; no authentication.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Dict, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

from pypush.server.images import find_image
from pypush.server.store import Store

API_HEADER = {"Docker-Distribution-API-Version": "registry/2.0"}
_MANIFEST = re.compile(r"/v2/(?P<name>.+)/(?P<kind>manifests|blobs)/(?P<ref>[^/]+)")
_TAGS = re.compile(r"/v2/(?P<name>.+)/tags/list")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass
class Reply:
    """An HTTP answer: bytes, or a byte range of a file."""

    status: int
    headers: Dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    file: Optional[Path] = None
    offset: int = 0
    length: int = 0


def _error(status: int, code: str, message: str) -> Reply:
    body = json.dumps({"errors": [{"code": code, "message": message}]}).encode()
    return Reply(status, {"Content-Type": "application/json", **API_HEADER}, body)


def _json(obj: object) -> Reply:
    return Reply(200, {"Content-Type": "application/json", **API_HEADER}, json.dumps(obj).encode())


class ReadApi:
    """Answers GET/HEAD requests under /v2/."""

    def __init__(self, store: Store, alias: str):
        self.store = store
        self.alias = alias

    def handle(self, method: str, target: str, headers: Message) -> Reply:
        parts = urlsplit(target)
        path = parts.path
        if method not in ("GET", "HEAD"):
            return _error(405, "UNSUPPORTED", "this endpoint is read-only over /v2/; push with the ECR API")
        if path in ("/v2", "/v2/"):
            return _json({})
        if path == "/v2/_catalog":
            with self.store.read() as db:
                return _json({"repositories": [r[0] for r in db.execute("SELECT name FROM repositories ORDER BY name")]})
        m = _TAGS.fullmatch(path)
        if m:
            return self._tags(m["name"], parse_qs(parts.query))
        m = _MANIFEST.fullmatch(path)
        if not m:
            return _error(404, "NOT_FOUND", f"no route for {path}")
        repo = self._repo(m["name"])
        if repo is None:
            return _error(404, "NAME_UNKNOWN", f"repository {m['name']!r} is not known")
        if m["kind"] == "manifests":
            return self._manifest(repo, m["ref"])
        return self._blob(repo, m["ref"], headers.get("Range"))

    def _repo(self, name: str) -> Optional[str]:
        with self.store.read() as db:
            candidates = [name]
            if name.startswith(self.alias + "/"):
                candidates.append(name[len(self.alias) + 1 :])
            for candidate in candidates:
                if db.execute("SELECT 1 FROM repositories WHERE name=?", (candidate,)).fetchone():
                    return candidate
        return None

    def _tags(self, name: str, query: Dict[str, list]) -> Reply:
        repo = self._repo(name)
        if repo is None:
            return _error(404, "NAME_UNKNOWN", f"repository {name!r} is not known")
        with self.store.read() as db:
            tags = [r[0] for r in db.execute("SELECT tag FROM image_tags WHERE repo=? ORDER BY tag", (repo,))]
        last = (query.get("last") or [None])[0]
        if last is not None:
            tags = [t for t in tags if t > last]
        n = (query.get("n") or [None])[0]
        if n is not None and n.isdigit():
            tags = tags[: int(n)]
        return _json({"name": name, "tags": tags})

    def _manifest(self, repo: str, ref: str) -> Reply:
        with self.store.read() as db:
            if _DIGEST.fullmatch(ref):
                img = find_image(db, repo, digest=ref)
            else:
                img = find_image(db, repo, tag=ref)
        if img is None:
            return _error(404, "MANIFEST_UNKNOWN", f"manifest {ref!r} is not in {repo!r}")
        return Reply(200, {"Content-Type": img.media_type, "Docker-Content-Digest": img.digest,
                           "ETag": f'"{img.digest}"', **API_HEADER}, img.manifest)

    def _blob(self, repo: str, digest: str, range_header: Optional[str]) -> Reply:
        if not _DIGEST.fullmatch(digest):
            return _error(400, "DIGEST_INVALID", f"unsupported digest {digest!r}")
        with self.store.read() as db:
            row = db.execute("SELECT b.size FROM layers l JOIN blobs b ON b.digest=l.digest "
                             "WHERE l.repo=? AND l.digest=?", (repo, digest)).fetchone()
            img = None if row else find_image(db, repo, digest=digest)
        headers = {"Docker-Content-Digest": digest, "Content-Type": "application/octet-stream",
                   "Accept-Ranges": "bytes", **API_HEADER}
        if img is not None:
            return Reply(200, headers, img.manifest)
        if row is None:
            return _error(404, "BLOB_UNKNOWN", f"blob {digest} is not in {repo!r}")
        size = row[0]
        start, end = 0, size - 1
        status = 200
        if range_header:
            parsed = _parse_range(range_header, size)
            if parsed is None:
                return Reply(416, {"Content-Range": f"bytes */{size}", **API_HEADER})
            start, end = parsed
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        return Reply(status, headers, file=self.store.blob_path(digest), offset=start, length=end - start + 1)


def _parse_range(value: str, size: int) -> Optional[Tuple[int, int]]:
    m = re.fullmatch(r"bytes=(\d*)-(\d*)", value.strip())
    if not m or (not m[1] and not m[2]):
        return None
    if not m[1]:
        start, end = max(0, size - int(m[2])), size - 1
    else:
        start = int(m[1])
        end = min(int(m[2]), size - 1) if m[2] else size - 1
    if start > end or start >= size:
        return None
    return start, end
