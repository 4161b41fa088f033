"""The v2 blob uploads: POST (session, monolithic ``?digest=``, ``?mount=&from=``), PATCH chunks
(``Content-Range``), PUT ``?digest=``, GET status (``Range``), DELETE; into the store the ECR API uses.

Upload sessions are the store's ``Upload``s (the same files, hashing and commit as UploadLayerPart).
A chunk is all or nothing: a body cut off midway leaves the session as it was. ECR's registry
behaviours come from ``Settings.quirks`` (operations.QUIRKS).
"""
from __future__ import annotations

import re
from email.message import Message
from typing import Dict, List, Optional

from pypush.server.http_body import RequestBody
from pypush.server.registry.reads import API_HEADER, resolve_repo, v2_error
from pypush.server.reply import Reply
from pypush.server.settings import Settings
from pypush.name.patterns import BLOB_DIGEST
from pypush.server.store.store import Store, Upload, is_premium_key, repo_exists

_CONTENT_RANGE = re.compile(r"(?:bytes )?(\d{1,18})-(\d{1,18})(?:/(?:\d{1,18}|\*))?")


class UploadApi:
    """Blob upload sessions of the registry door."""

    def __init__(self, store: Store, settings: Settings):
        self.store = store
        self.settings = settings

    @property
    def min_chunk(self) -> int:
        return self.settings.min_part_size

    # -- POST -------------------------------------------------------------------------------------
    def start(self, name: str, repo: str, query: Dict[str, List[str]], body: RequestBody) -> Reply:
        mount = _one(query, "mount")
        if mount is not None:
            reply = self._mount(name, repo, mount, _one(query, "from"))
            if reply is not None:
                return reply
        digest = _one(query, "digest")
        upload = self.store.new_upload(repo)
        if digest is not None:  # monolithic: the body is the whole blob
            with upload.lock:
                return self._finish(name, repo, upload, digest, body)
        headers = self._session_headers(name, upload)
        if "min-chunk" in self.settings.quirks:
            headers["OCI-Chunk-Min-Length"] = str(self.min_chunk)
        return Reply(202, headers)

    def _mount(self, name: str, repo: str, digest: str, source: Optional[str]) -> Optional[Reply]:
        """201 when ``digest`` is in ``source`` (any repository when not named); None: upload instead."""
        if not BLOB_DIGEST.fullmatch(digest):
            return v2_error(400, "DIGEST_INVALID", f"unsupported digest {digest!r}")
        from_repo = resolve_repo(self.store, self.settings.alias, source, is_premium_key(repo)) if source else None
        if source and from_repo is None:
            return None
        with self.store.tx() as db:
            if from_repo is not None:
                row = db.execute("SELECT b.size FROM layers l JOIN blobs b ON b.digest=l.digest "
                                 "WHERE l.repo=? AND l.digest=?", (from_repo, digest)).fetchone()
            else:
                row = db.execute("SELECT b.size FROM blobs b WHERE b.digest=? AND EXISTS "
                                 "(SELECT 1 FROM layers l WHERE l.digest=b.digest)", (digest,)).fetchone()
            if row is None or not self.store.blob_path(digest).exists():
                return None
            if not repo_exists(db, repo):
                return _name_unknown(name)
            self.store.link_blob(db, repo, digest, row[0])
        return _created(name, digest)

    # -- PATCH --------------------------------------------------------------------------------------
    def patch(self, name: str, repo: str, upload_id: str, headers: Message, body: RequestBody) -> Reply:
        upload = self._upload(repo, upload_id)
        if upload is None:
            return _upload_unknown(upload_id)
        quirks = self.settings.quirks
        with upload.lock:
            if self._upload(repo, upload_id) is None:
                return _upload_unknown(upload_id)
            refused = self._check_range(name, upload, headers.get("Content-Range"), body)
            if refused is not None:
                return refused
            if "single-patch" in quirks and upload.part_sizes:
                dropped = sum(len(p) for p in body.pieces())  # accepted, and dropped (as ECR does)
                upload.claimed += dropped
            else:
                small = self._too_small(upload)
                if small is not None:
                    return small
                upload.append(body.pieces())
        status = 201 if "patch-201" in quirks else 202
        return Reply(status, self._session_headers(name, upload))

    # -- PUT / GET / DELETE on a session -------------------------------------------------------
    def put(self, name: str, repo: str, upload_id: str, query: Dict[str, List[str]], headers: Message,
            body: RequestBody) -> Reply:
        upload = self._upload(repo, upload_id)
        if upload is None:
            return _upload_unknown(upload_id)
        digest = _one(query, "digest")
        if digest is None:
            return v2_error(400, "DIGEST_INVALID", "PUT needs ?digest=")
        with upload.lock:
            if self._upload(repo, upload_id) is None:
                return _upload_unknown(upload_id)
            if not body.done:  # a last chunk with a Content-Range is checked as a PATCH's (the session kept)
                refused = self._check_range(name, upload, headers.get("Content-Range"), body)
                if refused is not None:
                    return refused
            return self._finish(name, repo, upload, digest, body)

    def _check_range(self, name: str, upload: Upload, content_range: Optional[str],
                     body: RequestBody) -> Optional[Reply]:
        """The refusal of a chunk whose ``Content-Range`` is malformed, disagrees with its length or does not
        start where the session ends (416, the session kept; a restart from byte 0 is allowed unless
        no-restart); None when it fits (or names no range)."""
        if content_range is None:
            return None
        m = _CONTENT_RANGE.fullmatch(content_range.strip())
        if m is None or int(m[2]) < int(m[1]):
            return v2_error(416, "BLOB_UPLOAD_INVALID", f"malformed Content-Range {content_range!r}",
                            **self._session_headers(name, upload))
        start, end = int(m[1]), int(m[2])
        if body.length is not None and body.length != end - start + 1:
            return v2_error(400, "SIZE_INVALID", f"Content-Range {start}-{end} does not match "
                            f"Content-Length {body.length}")
        if start != upload.claimed:
            if start != 0 or "no-restart" in self.settings.quirks:
                return v2_error(416, "BLOB_UPLOAD_INVALID",
                                f"the chunk starts at byte {start}; the upload holds {upload.claimed} bytes",
                                **self._session_headers(name, upload))
            upload.restart()
        return None

    def status(self, name: str, repo: str, upload_id: str) -> Reply:
        upload = self._upload(repo, upload_id)
        if upload is None:
            return _upload_unknown(upload_id)
        return Reply(204, self._session_headers(name, upload))

    def cancel(self, repo: str, upload_id: str) -> Reply:
        if self._upload(repo, upload_id) is None:
            return _upload_unknown(upload_id)
        self.store.drop_upload(upload_id)
        return Reply(204, dict(API_HEADER))

    # -- helpers ------------------------------------------------------------------------------------
    def _finish(self, name: str, repo: str, upload: Upload, digest: str, body: RequestBody) -> Reply:
        """Append the final chunk (if any), check the digest, and make the blob part of ``repo``."""
        if not BLOB_DIGEST.fullmatch(digest):
            self.store.drop_upload(upload.id)
            return v2_error(400, "DIGEST_INVALID", f"unsupported digest {digest!r}")
        if not body.done:
            small = self._too_small(upload)
            if small is not None:
                return small
            upload.append(body.pieces())
        computed = upload.digest(digest.partition(":")[0])
        if computed != digest or upload.claimed != upload.size:
            self.store.drop_upload(upload.id)
            return v2_error(400, "DIGEST_INVALID", f"the uploaded content has digest {computed}, not {digest}"
                            + ("" if upload.claimed == upload.size else
                               f" ({upload.claimed - upload.size} bytes of later PATCHes were dropped)"))
        try:
            self.store.sync_upload(upload, digest)
            with self.store.tx() as db:
                if not repo_exists(db, repo):
                    return _name_unknown(name)
                self.store.commit_upload_file(upload, digest)
                self.store.link_blob(db, repo, digest, upload.size)
        finally:
            self.store.drop_upload(upload.id)
        return _created(name, digest)

    def _too_small(self, upload: Upload) -> Optional[Reply]:
        """With min-chunk: BLOB_UPLOAD_INVALID when the previous chunk was short (it was not the last)."""
        if "min-chunk" not in self.settings.quirks or not upload.part_sizes:
            return None
        if upload.part_sizes[-1] >= self.min_chunk:
            return None
        return v2_error(400, "BLOB_UPLOAD_INVALID",
                        f"chunk {len(upload.part_sizes)} has {upload.part_sizes[-1]} bytes; every chunk but "
                        f"the last must have at least {self.min_chunk}")

    def _upload(self, repo: str, upload_id: str) -> Optional[Upload]:
        upload = self.store.get_upload(upload_id)
        return upload if upload is not None and upload.repo == repo else None

    @staticmethod
    def _session_headers(name: str, upload: Upload) -> Dict[str, str]:
        return {"Location": f"/v2/{name}/blobs/uploads/{upload.id}", "Docker-Upload-UUID": upload.id,
                "Range": f"0-{max(upload.claimed - 1, 0)}", **API_HEADER}


def _one(query: Dict[str, List[str]], key: str) -> Optional[str]:
    values = query.get(key)
    return values[0] if values else None


def _created(name: str, digest: str) -> Reply:
    return Reply(201, {"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": digest, **API_HEADER})


def _upload_unknown(upload_id: str) -> Reply:
    return v2_error(404, "BLOB_UPLOAD_UNKNOWN", f"upload {upload_id!r} is not known (finished, cancelled or expired)")


def _name_unknown(name: str) -> Reply:
    return v2_error(404, "NAME_UNKNOWN", f"repository {name!r} is not known")

