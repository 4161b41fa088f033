"""One blob's upload to a v2 registry, as named steps.

``BlobUpload.run`` retries ``_attempt``, which goes through:

- **session**: ``_open_session`` (``POST /v2/<repo>/blobs/uploads/``, or a mount's answer ``_adopt``-ed),
  which also picks monolithic or chunked; ``_load_state`` takes up an earlier run's session and
  ``_resync`` asks the registry how far it got (``_start_over`` when it is gone);
- **whole blob**: ``_put_zero_copy`` (a file range by sendfile on plain http, hashed meanwhile by another
  thread) or ``_put_whole`` (``PUT ?digest=`` streamed through ``VerifyingReader``), up to ``chunk_size``;
- **chunks**: ``_patch_zero_copy`` or ``_send_chunks`` (``PATCH`` with ``Content-Range``; one streamed
  ``PATCH`` when the digest is unknown until read), each acknowledged by ``_chunk_stored``, which writes the
  session down (pypush.transports.resume_state) so a later run can continue it from its ``Range``;
- **commit**: ``_commit_chunks`` (``PUT ?digest=`` with no body) and ``_committed`` (the digest the registry
  reports checked).

Blobs stream from their source in 1 MiB pieces, never whole in memory, and are verified before the
final request leaves, so a bad blob is never committed. A stopped push finishes the chunk under way (the
distribution registry gives up a session whose request was cut off midway).
"""
from __future__ import annotations

import logging
from dataclasses import replace
from typing import Iterator, Optional, Protocol, Tuple
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests

from pypush.errors import RegistryError
from pypush.image.digest import VerifyingReader
from pypush.image.model import Blob, Descriptor
from pypush.image.verify_ahead import BackgroundCheck
from pypush.net.zero_copy import file_range
from pypush.transports.base import ProgressFn
from pypush.net.stats import TransferStats
from pypush.transports.distribution.client import RegistryClient, RequestBody, Resync, SizedBody, oci_error
from pypush.transports.distribution.token_auth import Scopes
from pypush.transports.resume_state import ResumeStore, TrackedUpload, UploadKey, keeps_upload

log = logging.getLogger(__name__)

READ_SIZE = 1 << 20
"""Bytes per read from the source and per socket write."""
DEFAULT_CHUNK_SIZE = 32 << 20
"""Blobs larger than this go up in PATCH chunks of this size (resumable, within a run and across runs: see
pypush.transports.resume_state); smaller ones in one PUT."""


class Repository(Protocol):
    """What an upload needs of the repository it goes to (pypush.transports.distribution.destination)."""

    client: RegistryClient
    registry: str
    repository: str
    push_scopes: Scopes
    chunk_size: int
    resumable: bool  # set False when the registry turns out to keep one PATCH per session
    resume_store: Optional[ResumeStore]
    stats: TransferStats

    def upload_key(self, digest: str) -> UploadKey: ...

    def has_blob(self, digest: str) -> bool: ...


class BlobUpload:
    """One blob's upload session: start, stream (monolithic or chunked), resume, commit or abort."""

    def __init__(self, dest: Repository, blob: Blob, progress: ProgressFn,
                 started: Optional[requests.Response] = None):
        """``started``: the answer of a mount that opened an upload session instead."""
        self.dest = dest
        self.client = dest.client
        self.scopes = dest.push_scopes
        self.blob = blob
        self.desc = blob.descriptor
        self.progress = progress
        self.known = bool(self.desc.digest)
        self.size: Optional[int] = self.desc.size if self.known else None  # unknown digest: unknown size
        self.location: Optional[str] = None  # the open upload session, if any
        self.chunked = False
        self.chunk = dest.chunk_size
        self.reported = 0  # bytes reported to ``progress`` so far
        self.offset = 0  # bytes the registry holds
        self.fresh = False  # the session was just opened (no resync needed)
        self.name = blob.name or self.desc.digest or "blob"
        self.what = f"blob upload {self.name}"
        key = dest.upload_key(self.desc.digest) if self.known and dest.resumable else None
        self.tracked = TrackedUpload(dest.resume_store, key)
        self.saved = False  # the session is written down (to be resumed by a later run)
        self.from_state = False  # the session is an earlier run's, not asked about yet
        self.resumed = 0  # bytes an earlier run sent
        self.stopped: Optional[Exception] = None  # what progress raised while a chunk was under way
        if started is not None:
            self._adopt(started)

    def run(self) -> Descriptor:
        """Upload under the client's retry policy; the descriptor of what the registry stored. A failed upload
        is cancelled, unless it is written down for a later run to continue."""
        continued = self.location is None and self._load_state()
        try:
            digest, size = self.client.retrying(self._attempt, self.what)
        except BaseException as exc:
            if not (self.saved and keeps_upload(exc)):
                # Best effort: a registry that tracks the session's offset in the URL (docker-registry's
                # _state) refuses to delete a session whose request was cut off mid-body.
                self.tracked.drop()
                if self.location is not None:
                    self.client.cancel(self.location, self.scopes)
                if continued and isinstance(exc, RegistryError):
                    log.info("%s: the upload continued from an earlier run was refused (%s); starting it over",
                             self.what, exc)
                    self.location, self.saved, self.from_state, self.resumed = None, False, False, 0
                    self.chunk, self.chunked, self.offset = self.dest.chunk_size, False, 0
                    return self.run()  # a fresh session: no state is left to continue
            raise
        self.tracked.drop()
        self.dest.stats.blob_uploaded(size - self.resumed)
        if self.resumed:
            self.dest.stats.add("resumed", self.resumed)
        if self.known:
            return self.desc
        return replace(self.desc, digest=digest, size=size)

    def _attempt(self) -> Tuple[str, int]:
        """One try: (digest, size) stored; raises transient errors (Resync among them) for the retry."""
        if self.location is None or (not self.fresh and not (self.chunked and self.dest.resumable)):
            if self.location is not None:  # a failed PUT (or non-resumable PATCH) cannot resume: start over
                self.client.cancel(self.location, self.scopes)
            self._open_session()
        elif not self.fresh:
            self._resync()
        self.fresh = False
        self._report(self.offset)
        if not self.chunked and self.offset == 0:
            done = self._put_zero_copy()
            if done is not None:
                return done
        if self.chunked and self.known:
            done = self._patch_zero_copy()
            if done is not None:
                return done
        with VerifyingReader(self.blob.open(), self.desc.digest, self.size, self.name,
                             self.blob.hashed) as reader:
            reader.skip(self.offset)
            if not self.chunked:
                return self._put_whole(reader)
            return self._send_chunks(reader)

    # ----- session -------------------------------------------------------------------------------------

    def _open_session(self) -> None:
        self.location = None
        self._adopt(self.client.call("POST", f"/v2/{self.dest.repository}/blobs/uploads/", scopes=self.scopes,
                                ok=(202,), what=f"{self.what} (POST)"))

    def _adopt(self, resp: requests.Response) -> None:
        """Use the upload session a POST answer opened; pick monolithic or chunked."""
        self.location = self.client.location(resp)
        self.offset = 0
        self.fresh = True
        self.from_state = False
        min_chunk = resp.headers.get("OCI-Chunk-Min-Length", "")
        asks = min_chunk.isdigit()
        if asks:
            self.chunk = max(self.chunk, int(min_chunk))
        if not self.dest.resumable and self.size is not None:
            self.chunk = max(self.chunk, self.size)  # one PATCH per session there
        big = self.size is not None and self.size > self.chunk
        self.chunked = asks or not self.known or self.size is None or big
        if self.chunked:
            self._save()

    def _load_state(self) -> bool:
        """Take up the session an earlier run left (asked about by the first attempt's ``_resync``); whether
        there was one."""
        state = self.tracked.load()
        if state is None:
            return False
        if self.size is None or state.offset > self.size:
            self.tracked.drop()
            return False
        self.location, self.chunk, self.chunked = state.session, state.part_size, True
        self.saved = self.from_state = True
        self.fresh = False
        return True

    def _resync(self) -> None:
        """Learn the registry's offset (GET the upload URL); start over if the session is gone."""
        assert self.location is not None
        resp = self.client.send("GET", self.location, scopes=self.scopes)
        resp.close()
        if resp.status_code in (404, 416) or (self.from_state and resp.status_code not in (200, 204)):
            return self._start_over(f"the registry no longer has the upload session (HTTP {resp.status_code})")
        if resp.status_code not in (200, 204):
            raise self.client.refusal(resp, f"{self.what} (status GET)")
        self.location = self.client.location(resp) if resp.headers.get("Location") else self.location
        self.offset = _range_end(resp) or 0
        if self.from_state:
            if self.size is not None and self.offset > self.size:
                return self._start_over(f"the registry holds {self.offset} bytes of a {self.size}-byte blob")
            self.from_state, self.resumed = False, self.offset
            log.info("%s: continuing the upload of an earlier run at byte %d", self.what, self.offset)
        self.dest.stats.add("resumes")

    def _start_over(self, why: str) -> None:
        log.info("%s: %s; starting it over", self.what, why)
        self.tracked.drop()
        self.saved = self.from_state = False
        self.resumed = 0
        self._open_session()

    # ----- whole blob ----------------------------------------------------------------------------------

    def _put_zero_copy(self) -> Optional[Tuple[str, int]]:
        """PUT the whole blob by sendfile when it is a file range and the registry plain http; meanwhile
        another thread hashes it from the page cache, and a mismatch raises before this returns (so
        before any manifest). None when the blob cannot go this way."""
        assert self.location is not None and self.size is not None
        url = _with_query(self.location, digest=self.desc.digest)
        if not self.known or self.size == 0 or not self.client.can_send_file(url):
            return None
        with self.blob.open() as stream:
            source = file_range(stream)
            if source is None or source[2] < self.size:
                return None
            check = BackgroundCheck(self.blob)
            try:
                resp = self.client.send_file("PUT", url, source, self.size, scopes=self.scopes,
                                        headers={"Content-Type": "application/octet-stream"},
                                        progress=lambda n: self._report(self.reported + n))
            finally:
                check.result()  # every byte checked against the digest, whatever the registry said
        self._committed(resp, self.desc.digest)
        self.dest.stats.add("sendfile")
        return self.desc.digest, self.size

    def _put_whole(self, reader: VerifyingReader) -> Tuple[str, int]:
        assert self.location is not None and self.size is not None
        body: RequestBody = SizedBody(self._pieces(reader, self.size, last=True), self.size)
        if self.size == 0:
            reader.read(1)  # verifies the empty blob
            body = b""
        resp = self._send("PUT", _with_query(self.location, digest=self.desc.digest), body,
                          {"Content-Type": "application/octet-stream"})
        self._committed(resp, self.desc.digest)
        return self.desc.digest, self.size

    # ----- chunks --------------------------------------------------------------------------------------

    def _patch_zero_copy(self) -> Optional[Tuple[str, int]]:
        """The chunks from ``offset`` on by sendfile (a file range, plain http), then the commit; meanwhile
        another thread hashes the whole blob (the bytes the registry holds included), and a mismatch raises
        before the commit. None when the blob cannot go this way."""
        assert self.location is not None and self.size is not None
        if not self.client.can_send_file(self.location):
            return None
        with self.blob.open() as stream:
            source = file_range(stream)
            if source is None or source[2] < self.size:
                return None
            fd, start, _ = source
            check = BackgroundCheck(self.blob)  # not waited for when the upload stops early
            patches = 0
            while self.offset < self.size:
                n = min(self.chunk, self.size - self.offset)
                headers = {"Content-Type": "application/octet-stream",
                           "Content-Range": f"{self.offset}-{self.offset + n - 1}"}
                resp = self.client.send_file("PATCH", self.location, (fd, start + self.offset, self.size - self.offset),
                                        n, scopes=self.scopes, headers=headers,
                                        progress=lambda k: self._report(self.reported + k, defer=True))
                self._chunk_stored(resp, self.offset + n)
                patches += 1
            check.result()
        self.dest.stats.add("sendfile")
        return self._commit_chunks(self.desc.digest, patches), self.size

    def _send_chunks(self, reader: VerifyingReader) -> Tuple[str, int]:
        assert self.location is not None
        patches = 0
        while not reader.at_eof():
            headers = {"Content-Type": "application/octet-stream"}
            if self.size is None:  # unknown length: one streamed PATCH to the end
                body: RequestBody = self._pieces(reader, None, last=False)
            else:
                n = min(self.chunk, self.size - self.offset)
                if n <= 0:
                    reader.read(1)  # verifies at EOF
                    break
                headers["Content-Range"] = f"{self.offset}-{self.offset + n - 1}"
                body = SizedBody(self._pieces(reader, n, last=self.offset + n == self.size), n)
            self._chunk_stored(self._send("PATCH", self.location, body, headers), reader.count)
            patches += 1
        return self._commit_chunks(self.desc.digest or reader.digest, patches), reader.count

    def _chunk_stored(self, resp: requests.Response, upto: int) -> None:
        """Check a PATCH's answer — the registry must now hold ``upto`` bytes — and write the session down
        (then stop, if the push is being stopped)."""
        if resp.status_code == 416:
            raise Resync("the registry holds a different range")
        if resp.status_code not in (201, 202, 204):  # 202 per the spec; ECR answers 201
            raise self.client.refusal(resp, f"{self.what} (PATCH)")
        self.location = self.client.location(resp) if resp.headers.get("Location") else self.location
        self.dest.stats.add("patches")
        end = _range_end(resp) if resp.headers.get("Range") else upto
        if end is None and upto <= 1:  # "0-0": zero or one byte
            end = upto
        if end != upto:
            self.offset = end or 0  # None: "0-0", zero or one byte; the retry asks the registry again
            raise Resync(f"the registry holds {end} bytes, {upto} were sent")
        self.offset = end
        self._acked()

    # ----- commit --------------------------------------------------------------------------------------

    def _commit_chunks(self, digest: str, patches: int) -> str:
        """PUT ``?digest=`` with no body after the chunks."""
        assert self.location is not None
        resp = self._send("PUT", _with_query(self.location, digest=digest), b"", {"Content-Length": "0"})
        if self.resumed and resp.status_code == 400 and "DIGEST_INVALID" in oci_error(resp)[0]:
            # Our bytes verified, so what the earlier run's session held was not this blob's start
            self.location, self.resumed = None, 0
            self.tracked.drop()
            self.saved = False
            raise Resync("the upload continued from an earlier run does not add up to the blob")
        if patches > 1 and resp.status_code == 400 and "DIGEST_INVALID" in oci_error(resp)[0]:
            # Our bytes verified, so the registry dropped chunks (ECR keeps one PATCH a session):
            # from now on one PATCH per session, and this blob starts over.
            self.dest.resumable = False
            self.location = None
            self.tracked.drop()
            self.saved = False
            raise Resync("the registry kept only part of a chunked upload")
        self._committed(resp, digest)
        return digest

    def _committed(self, resp: requests.Response, digest: str) -> None:
        if resp.status_code not in (200, 201, 202, 204):  # 201 per the spec
            raise self.client.refusal(resp, f"{self.what} (PUT)")
        self.location = None  # nothing left to cancel
        got = resp.headers.get("Docker-Content-Digest")
        if not got or got == digest:
            return
        if got.partition(":")[0] == digest.partition(":")[0]:
            raise RegistryError(f"{self.dest.registry}: {self.what}: the registry stored {got}, expected {digest}",
                                code="DIGEST_MISMATCH")
        # A sha512 blob named by the registry's canonical sha256 (docker-registry links both): it must answer
        # to the digest the manifest will name, too
        if not self.dest.has_blob(digest):
            raise RegistryError(f"{self.dest.registry}: {self.what}: the registry stored it only as {got}: it does not "
                                f"address blobs by {digest.partition(':')[0]}", code="DIGEST_UNSUPPORTED")

    # ----- streaming and bookkeeping -------------------------------------------------------------------

    def _pieces(self, reader: VerifyingReader, limit: Optional[int], last: bool) -> Iterator[bytes]:
        """Up to ``limit`` bytes (all when None) in READ_SIZE pieces; when this is the ``last`` part of a
        blob of known size, the reader is checked at EOF before the final piece leaves."""
        left = limit
        while left is None or left > 0:
            piece = reader.read(READ_SIZE if left is None else min(READ_SIZE, left))
            if not piece:
                return
            if left is not None:
                left -= len(piece)
                if left == 0 and last:
                    reader.read(1)  # EOF: verifies size and digest, or raises on extra bytes
            yield piece
            self._report(self.reported + len(piece), defer=True)

    def _send(self, method: str, url: str, body: RequestBody, headers: dict) -> requests.Response:
        return self.client.send(method, url, scopes=self.scopes, headers=headers, data=body,
                           replayable=isinstance(body, bytes))

    def _report(self, upto: int, defer: bool = False) -> None:
        """Tell ``progress``; with ``defer`` (a chunk of a written-down session under way) what it raises (the
        push is being stopped) waits in ``stopped`` until the chunk is acknowledged (``_acked``)."""
        delta = upto - self.reported
        if delta:
            self.reported = upto
            if self.stopped is not None:
                return
            try:
                self.progress(delta)
            except Exception as exc:
                if not (defer and self.saved):
                    raise
                self.stopped = exc

    def _save(self) -> None:
        if self.location is not None and self.size is not None:
            self.saved = self.tracked.save(self.location, self.offset, self.chunk)

    def _acked(self) -> None:
        """A chunk is stored: write the session down, then stop if the push is being stopped."""
        self._save()
        if self.stopped is not None:
            raise self.stopped


def _range_end(resp: requests.Response) -> Optional[int]:
    """Bytes held according to ``Range: 0-<last>`` (0 when absent; None for the ambiguous "0-0")."""
    value = resp.headers.get("Range", "").strip()
    _, _, last = value.rpartition("-")
    if not last.isdigit():
        return 0
    return None if int(last) == 0 else int(last) + 1


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
