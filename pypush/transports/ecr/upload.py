"""One layer's upload through the ECR API, as named steps.

``upload_layer`` runs a ``LayerUpload`` and starts it over when the service loses the upload
(UploadNotFoundException). A ``LayerUpload`` goes through:

- **start**: continue the upload an earlier run left half-sent (pypush.transports.resume_state), or
  InitiateLayerUpload (its ``partSize`` is the size of every part);
- **parts**: ``send_parts`` reads, hashes and encodes the next part (``encode_part``) on a helper thread
  while this one is in flight (``send_part``: UploadLayerPart, retried; a part the service kept only in
  part resumes from its ``lastValidByteReceived``);
- **complete**: CompleteLayerUpload with the digest the reader computed over every byte.

UploadLayerPart is the hot path: its ~14 MB JSON body (a base64 string) is built as bytes by hand, hashed
once, signed (pypush.net.sigv4_signer) and streamed over a per-thread keep-alive connection; a part of a
file is encoded again from the page cache when it is sent instead of being held (``PartBody``).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Dict, Iterator, List, Optional, Protocol, Set, Tuple

from pypush import b64
from pypush.errors import RegistryError, SourceError, TransientError
from pypush.image.digest import VerifyingReader
from pypush.image.model import Blob, Descriptor
from pypush.net import aws_errors
from pypush.net.aws_errors import AwsApiError, AwsConnectionError, AwsFailure, AwsTlsError
from pypush.net.aws_json import AwsJsonClient
from pypush.net.retry import Backoff, RetryPolicy
from pypush.net.stats import TransferStats
from pypush.net.zero_copy import FileRange
from pypush.transports.base import ProgressFn
from pypush.transports.resume_state import TrackedUpload, keeps_upload

log = logging.getLogger("pypush")

_ENCODE_CHUNK = 3 << 18  # raw bytes per base64 piece (a multiple of 3, so pieces concatenate)
# 768 KiB in, 1 MiB out: pieces this size are reused by the allocator from part to part (3 MiB pieces
# kept the high-water mark of every part unless glibc was told to mmap them): pushing the 200 MB
# benchmark image, 86-101 MiB peak RSS against 103-105 with 3 MiB pieces, same wall and CPU time.
PART_BACKOFF = Backoff(attempts=9, base=0.2, cap=20.0)  # parts: more patience (each holds ~14 MB sent)
_BLOB_RESTARTS = 3

_PARTS_IN_MEMORY = threading.BoundedSemaphore(3)  # encoded parts held at once, whatever --jobs says, when they
# cannot be read again (a registry source, a stream): copying big.oci from docker-registry into pypush serve,
# 3 parts took 0.74 s at 73 MiB peak RSS, 2 parts 0.78 s at 60 MiB, 4 parts 0.77 s at 88 MiB.
# Parts of a file (a layout's blob, a tar member read in place) are not held: see PartBody.
_REREAD = hasattr(os, "pread")  # not on Windows: there every part is held in memory
_HEAD = b'{"layerPartBlob": "'


def translate(exc: BaseException, action: str) -> Exception:
    """aws_errors.translate with the hints of a push (a missing repository is created)."""
    return aws_errors.translate(exc, action, aws_errors.PUSH_HINTS)


class LayerRepository(Protocol):
    """What a layer upload needs of the repository it goes to (pypush.transports.ecr.ecr_transport)."""

    part_api: AwsJsonClient  # UploadLayerPart's own client (the hot path)
    part_retry: RetryPolicy
    stats: TransferStats

    def ids(self) -> Dict[str, str]: ...

    def call(self, operation: str, what: str, **params: Any) -> Dict[str, Any]: ...

    def retrying(self, operation: str, what: str, params: Dict[str, Any]) -> Dict[str, Any]: ...

    def missing(self, digests: List[str]) -> Set[str]: ...

    def encoder(self) -> ThreadPoolExecutor: ...


def upload_layer(dest: LayerRepository, blob: Blob, progress: ProgressFn, tracked: TrackedUpload) -> Descriptor:
    """Initiate → UploadLayerPart… → Complete; restarts the blob if the upload is lost. A layer of known
    digest continues the upload an earlier run left half-sent (``tracked``)."""
    for restart in range(_BLOB_RESTARTS + 1):
        try:
            return LayerUpload(dest, blob, progress, tracked).run()
        except UploadLost as lost:
            tracked.drop()
            progress(-lost.sent)
            if restart == _BLOB_RESTARTS:
                raise TransientError(f"uploading {blob.name or blob.descriptor.digest}: the upload was lost "
                                     f"{restart + 1} times (UploadNotFoundException)", "UploadNotFoundException")
            log.info("upload of %s lost; restarting it", blob.descriptor.digest)
        except BaseException as exc:
            if not keeps_upload(exc):
                tracked.drop()
            raise
    raise AssertionError("unreachable")


class LayerUpload:
    """One attempt at one layer: start, parts, complete (UploadLost when the service loses it)."""

    def __init__(self, dest: LayerRepository, blob: Blob, progress: ProgressFn, tracked: TrackedUpload):
        self.dest = dest
        self.blob = blob
        self.desc = blob.descriptor
        self.name = blob.name or self.desc.digest
        self.progress = progress
        self.tracked = tracked
        self.expected_size = self.desc.size if self.desc.digest else None
        self.upload_id = ""
        self.part_size = 0
        self.resumed = 0  # bytes an earlier run sent
        self.sent = 0  # bytes the service holds
        self.reader: Optional[VerifyingReader] = None

    def run(self) -> Descriptor:
        """The steps in order; the descriptor of the layer stored."""
        self.start()
        self.sent = self.resumed
        self.reader = self.open_reader(self.resumed)  # a resumed upload's bytes are read and hashed too
        try:
            if self.resumed:
                self.progress(self.resumed)
            self.send_parts()
        except UploadLost as lost:
            lost.sent = self.sent
            raise
        finally:
            self.reader.close()
        return self.complete(self.reader.digest)

    # ----- start ---------------------------------------------------------------------------------------

    def start(self) -> None:
        """Take up the session an earlier run left (when it still fits the blob), else InitiateLayerUpload."""
        state = self.tracked.load()
        if state is not None and state.offset > self.desc.size:
            self.tracked.drop()
            state = None
        if state is not None:
            self.upload_id, self.part_size, self.resumed = state.session, state.part_size, state.offset
            log.info("%s: continuing upload %s of an earlier run at byte %d", self.name, self.upload_id,
                     self.resumed)
            return
        resp = self.dest.call("InitiateLayerUpload", f"InitiateLayerUpload for {self.name}", **self.dest.ids())
        self.upload_id, self.part_size, self.resumed = resp["uploadId"], int(resp.get("partSize") or 10 << 20), 0
        self.tracked.save(self.upload_id, 0, self.part_size)

    def open_reader(self, offset: int) -> VerifyingReader:
        """A verifying reader of the blob, its first ``offset`` bytes (which the service holds) read and hashed."""
        reader = VerifyingReader(self.blob.open(), self.desc.digest, self.expected_size, self.name, self.blob.hashed)
        if offset:
            try:
                reader.skip(offset, "the service")
            except BaseException:
                reader.close()
                raise
        return reader

    # ----- parts ---------------------------------------------------------------------------------------

    def send_parts(self) -> None:
        """UploadLayerPart from ``sent`` to the end of the blob; the next part is read, hashed and encoded on a
        helper thread while this one is in flight."""
        encoder = self.dest.encoder()
        upcoming = encoder.submit(self.encode_part, self.sent)
        try:
            while True:
                part = upcoming.result()
                n = part.n
                if n == 0:
                    break
                upcoming = encoder.submit(self.encode_part, self.sent + n)
                try:
                    resume_at = self.send_part(part, self.sent)
                finally:
                    if part.in_memory:
                        _PARTS_IN_MEMORY.release()
                    del part
                if resume_at != self.sent + n:  # the service kept fewer bytes than were sent: resume there
                    self.resumed = min(self.resumed, resume_at)  # (fewer than an earlier run's state said, even)
                    _drop(upcoming)
                    self.progress(resume_at - self.sent)
                    assert self.reader is not None
                    self.reader.close()
                    self.reader = self.open_reader(resume_at)
                    upcoming = encoder.submit(self.encode_part, resume_at)
                self.sent = resume_at
            if self.sent == 0:
                raise SourceError(f"blob {self.name} is empty: ECR cannot store a 0-byte layer")
        finally:
            _drop(upcoming)

    def encode_part(self, first: int) -> "PartBody":
        """The next part's body from the reader (starting at byte ``first``); its text is held, under a
        _PARTS_IN_MEMORY permit, only when the bytes cannot be read again from a file."""
        reader = self.reader
        assert reader is not None
        source = reader.file_range() if _REREAD else None
        if source is None:
            _PARTS_IN_MEMORY.acquire()  # released once the part is sent (or found empty, or on failure)
        try:
            part = self._encode(reader, first, source)
        except BaseException:
            if source is None:
                _PARTS_IN_MEMORY.release()
            raise
        if source is None and not part.in_memory:
            _PARTS_IN_MEMORY.release()
        return part

    def _encode(self, reader: VerifyingReader, first: int, source: Optional[FileRange]) -> "PartBody":
        """Read up to ``part_size`` bytes and build the UploadLayerPart body; its text is kept only when the
        bytes cannot be read again from ``source`` (the reader's file range)."""
        encoded: Optional[List[bytes]] = [] if source is None else None
        h = hashlib.sha256(_HEAD)
        n = 0
        part_size = self.part_size
        while n < part_size:
            raw = reader.read_exactly(min(_ENCODE_CHUNK, part_size - n))
            if not raw:
                break
            n += len(raw)
            piece = b64.encode(raw)
            h.update(piece)
            if encoded is not None:
                encoded.append(piece)
        members = json.dumps(dict(self.dest.ids(), uploadId=self.upload_id, partFirstByte=first,
                                  partLastByte=first + n - 1))
        tail = b'", ' + members[1:].encode()
        h.update(tail)
        return PartBody(encoded, source[:2] if source else None, n, tail, h.hexdigest(), reader.name)

    def send_part(self, part: "PartBody", first: int) -> int:
        """Send one part with retries; returns the next byte offset the service expects (``first + n``,
        or less when the service reports it kept fewer bytes than were sent), written down first."""
        what, n = f"UploadLayerPart for {part.name}", part.n

        def attempt() -> int:
            try:
                self.dest.part_api.send("UploadLayerPart", part, part.sha256, len(part))
            except AwsApiError as err:
                if err.code == "InvalidLayerPartException" and "lastValidByteReceived" in err.body:
                    last = int(err.body["lastValidByteReceived"])
                    if last + 1 < first + n and last + 1 != first:
                        log.info("%s: the service holds %d bytes, not %d; resuming at byte %d", what, last + 1,
                                 first, last + 1)
                        self._acked(last + 1)
                        return last + 1  # the service kept fewer bytes: resume after the last it holds
                    if last + 1 < first + n:
                        raise RegistryError(f"{what}: {err}", err.code) from None
                    log.info("%s: bytes %d-%d had arrived (the answer was lost)", what, first, first + n - 1)
                elif err.code == "UploadNotFoundException":
                    raise UploadLost(first) from None
                elif err.status >= 500 or err.code in aws_errors.TRANSIENT_CODES:
                    raise TransientError(f"{what}: {err}", err.code) from None
                else:
                    raise translate(err, what) from None
            except AwsTlsError as exc:
                raise RegistryError(f"{what}: TLS failed ({exc.verify_message}); trust its CA through "
                                    f"AWS_CA_BUNDLE or ca_bundle in the AWS profile", "TLS") from None
            except AwsConnectionError as exc:
                raise TransientError(f"{what}: connection failed ({exc.cause})") from None
            self._acked(first + n)  # before progress, which raises when the push is being stopped
            self.progress(n)
            return first + n

        return self.dest.part_retry.call(attempt, what, lambda exc: isinstance(exc, TransientError))

    def _acked(self, offset: int) -> None:
        """The service holds ``offset`` bytes: write the session down for a later run."""
        self.tracked.save(self.upload_id, offset, self.part_size)

    # ----- complete ------------------------------------------------------------------------------------

    def complete(self, digest: str) -> Descriptor:
        """CompleteLayerUpload naming the digest the reader computed; an upload an earlier attempt completed
        counts, one the service lost (or an earlier run's that does not add up) raises UploadLost."""
        desc, name, sent = self.desc, self.name, self.sent
        try:
            resp = self.dest.retrying("CompleteLayerUpload", f"CompleteLayerUpload for {name}",
                                      dict(self.dest.ids(), uploadId=self.upload_id, layerDigests=[digest]))
            stored = resp.get("layerDigest", digest)
            if stored != digest:
                raise RegistryError(f"CompleteLayerUpload for {name}: registry computed {stored}, pypush sent {digest}")
        except AwsApiError as exc:
            code = exc.code
            if code == "UploadNotFoundException":
                if digest not in self.dest.missing([digest]):  # an earlier attempt completed it
                    self.tracked.drop()
                    return Descriptor(desc.media_type, digest, sent, desc.annotations, desc.platform,
                                      desc.artifact_type)
                raise UploadLost(sent) from None
            if self.resumed and code in ("InvalidLayerException", "LayerPartTooSmallException"):
                log.info("%s: the upload continued from an earlier run does not add up (%s); starting over", name,
                         code)
                raise UploadLost(sent) from None
            if code != "LayerAlreadyExistsException":
                raise translate(exc, f"CompleteLayerUpload for {name}") from None
        except AwsFailure as exc:
            raise translate(exc, f"CompleteLayerUpload for {name}") from None
        self.tracked.drop()
        self.dest.stats.blob_uploaded(sent - self.resumed)
        if self.resumed:
            self.dest.stats.add("resumed", self.resumed)
        return Descriptor(desc.media_type, digest, sent, desc.annotations, desc.platform, desc.artifact_type)


class PartBody:
    """One UploadLayerPart body, replayable: ``{"layerPartBlob": "<base64 of n source bytes>", <ids>}``.

    The base64 text is held in memory, or, when the source is a file range (``source``: fd and offset), encoded
    again from the page cache each time the body is sent, so a part in flight holds no memory. The blob
    member comes first so that the body's SHA-256 (for SigV4) is taken as the text is produced, before
    the part's length is known."""

    def __init__(self, encoded: Optional[List[bytes]], source: Optional[Tuple[int, int]], n: int, tail: bytes,
                 sha256: str, name: str):
        self.encoded, self.source, self.n, self.tail, self.sha256, self.name = encoded, source, n, tail, sha256, name

    @property
    def in_memory(self) -> bool:
        """Whether this part holds its text (and a _PARTS_IN_MEMORY permit)."""
        return self.encoded is not None and self.n > 0

    def __len__(self) -> int:
        return len(_HEAD) + (self.n + 2) // 3 * 4 + len(self.tail)

    def __iter__(self) -> Iterator[bytes]:
        yield _HEAD
        if self.encoded is not None:
            yield from self.encoded
        else:
            assert self.source is not None
            fd, offset = self.source
            for done in range(0, self.n, _ENCODE_CHUNK):
                want = min(_ENCODE_CHUNK, self.n - done)
                raw = os.pread(fd, want, offset + done)
                if len(raw) != want:
                    raise SourceError(f"blob {self.name} changed while it was being pushed (it shrank)")
                yield b64.encode(raw)
        yield self.tail


def _drop(upcoming: "Future[PartBody]") -> None:
    """Discard a part read ahead that will not be sent (giving its memory permit back)."""
    try:
        if upcoming.result().in_memory:
            _PARTS_IN_MEMORY.release()
    except BaseException:  # its error, if any, was or will be reported by the part that matters
        pass


class UploadLost(Exception):
    """The service no longer has the upload: the layer starts over (``sent``: bytes to take back from progress)."""

    def __init__(self, sent: int):
        super().__init__("upload lost")
        self.sent = sent
