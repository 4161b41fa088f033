"""The ECR transport: ECR Public and private ECR through their JSON APIs.

When the environment alone gives the credentials (AWS_ACCESS_KEY_ID/..., or a loopback endpoint with no
AWS configuration) every call goes through pypush.net.aws_json's small SigV4 client and botocore is never
loaded; any other credential source (profiles, SSO, roles, credential_process) goes through a botocore
client, made only then. UploadLayerPart is the hot path either way: its ~14 MB JSON body (a base64
string) is built as bytes by hand, hashed once, signed (pypush.net.sigv4_signer) and streamed over a
per-thread keep-alive connection. Every request is retried by the same policy (pypush.net.retry), paced
by the same token buckets, and reaches the service with the same TLS trust and proxies
(pypush.net.connections); failures are translated by pypush.net.aws_errors.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple
from urllib.parse import urlsplit

from pypush import b64
from pypush.image.digest import VerifyingReader
from pypush.errors import RegistryError, SourceError, TransientError, UsageError
from pypush.image.model import Blob, Descriptor
from pypush.transports.ecr.ecr_tag_probe import ask_tags
from pypush.transports.ecr.pacing import Pacer
from pypush.name.reference import ECR_PUBLIC, Destination, repository_type as parse_repository_type
from pypush.net import aws_errors
from pypush.net.aws_errors import AwsApiError, AwsConnectionError, AwsFailure, AwsTlsError
from pypush.net.aws_json import ECR_PUBLIC_REGION, AwsJsonClient, default_endpoint, env_credentials
from pypush.net.retry import Backoff, RetryPolicy
from pypush.net.sigv4_signer import AwsCredentials
from pypush.net.stats import TransferStats
from pypush.net.zero_copy import FileRange
from pypush.transports.base import ProgressFn, Transport
from pypush.transports.resume_state import ResumeStore, TrackedUpload, UploadKey, keeps_upload

log = logging.getLogger("pypush")

_ENCODE_CHUNK = 3 << 18  # raw bytes per base64 piece (a multiple of 3, so pieces concatenate)
# 768 KiB in, 1 MiB out: pieces this size are reused by the allocator from part to part (3 MiB pieces
# kept the high-water mark of every part unless glibc was told to mmap them): pushing the 200 MB
# benchmark image, 86-101 MiB peak RSS against 103-105 with 3 MiB pieces, same wall and CPU time.
_PART_BACKOFF = Backoff(attempts=9, base=0.2, cap=20.0)  # parts: more patience (each holds ~14 MB sent)
_BLOB_RESTARTS = 3


_PARTS_IN_MEMORY = threading.BoundedSemaphore(3)  # encoded parts held at once, whatever --jobs says, when they
# cannot be read again (a registry source, a stream): copying big.oci from docker-registry into pypush serve,
# 3 parts took 0.74 s at 73 MiB peak RSS, 2 parts 0.78 s at 60 MiB, 4 parts 0.77 s at 88 MiB.
# Parts of a file (a layout's blob, a tar member read in place) are not held: see _PartBody.
_REREAD = hasattr(os, "pread")  # not on Windows: there every part is held in memory
_HEAD = b'{"layerPartBlob": "'


def _translate(exc: BaseException, action: str) -> Exception:
    """aws_errors.translate with the hints of a push (a missing repository is created)."""
    return aws_errors.translate(exc, action, aws_errors.PUSH_HINTS)


class _PartBody:
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


class EcrTransport(Transport):
    """Push to one repository of ECR Public (``kind == "ecr-public"``) or private ECR (``"ecr"``)."""

    def __init__(self, destination: Destination, endpoint_url: Optional[str] = None, profile: Optional[str] = None,
                 max_attempts: int = 6, rate_limits: Optional[Dict[str, float]] = None,
                 repository_type: str = "FREE"):
        self.destination = destination
        self.repository = destination.repository
        self.repository_type = parse_repository_type(repository_type)
        if self.repository_type == "PREMIUM" and destination.kind != ECR_PUBLIC:
            raise UsageError(f"premium repositories exist only on ECR Public, not at {destination.name}")
        self.service = "ecr-public" if destination.kind == ECR_PUBLIC else "ecr"
        self.region = destination.region or ECR_PUBLIC_REGION
        self._pacer = Pacer(self.service, rate_limits)
        creds = env_credentials(profile, endpoint_url)
        url = endpoint_url or default_endpoint(self.service, self.region)
        self.api: Any
        if creds is not None and url:  # no botocore: the environment decides everything
            from pypush.net.connections import aws_verify_from_files

            verify = aws_verify_from_files()
            credentials: Callable[[], AwsCredentials] = lambda: creds
            self.api = AwsJsonClient(self.service, self.region, url, credentials, verify, pace=self._pacer.wait,
                                     tunnel=False)
        else:
            from pypush.net import aws
            from pypush.net.connections import aws_verify

            session = aws.make_session(profile)
            resolved = aws.resolve_credentials(session, endpoint_url)
            client = aws.make_client(self.service, self.region, endpoint_url, session, max_attempts=1,
                                     credentials=resolved)  # retried here, by self._retry
            client.meta.events.register("before-send", self._pacer.botocore_handler)
            url, verify = client.meta.endpoint_url, aws_verify(session)
            credentials = lambda: _frozen(resolved)
            self.api = aws.BotocoreApi(client)
        self._parts = AwsJsonClient(self.service, self.region, url, credentials, verify, pace=self._pacer.wait)
        self._endpoint_host = urlsplit(url).netloc
        self.stats = TransferStats()
        self._retry = RetryPolicy(Backoff(attempts=max_attempts), self.stats)
        self._part_retry = RetryPolicy(_PART_BACKOFF, self.stats)
        self._local = threading.local()
        self._encoders: List[ThreadPoolExecutor] = []  # every upload thread's read-ahead helper, closed by close()
        self._encoders_lock = threading.Lock()
        self._registry_id = destination.registry_id
        self.resume_store: Optional[ResumeStore] = ResumeStore.default()  # half-sent layers, kept between runs

    def for_repository(self, destination: Destination) -> "EcrTransport":
        """A transport to another repository of the same registry sharing this one's API clients,
        credentials and quota pacing (a plan of many images is paced as a whole); its own stats."""
        import copy

        other = copy.copy(self)
        other.destination, other.repository = destination, destination.repository
        other._registry_id = destination.registry_id
        other.stats = TransferStats()
        other._retry = RetryPolicy(self._retry.backoff, other.stats)
        other._part_retry = RetryPolicy(self._part_retry.backoff, other.stats)
        other._local = threading.local()
        other._encoders, other._encoders_lock = [], threading.Lock()
        other.api, other._parts = self.api.clone(), self._parts.clone()
        return other

    # -- API calls --------------------------------------------------------------------------------
    def _retrying(self, operation: str, what: str, params: Dict[str, Any]) -> Dict[str, Any]:
        """``operation`` under the transport's retry policy (failures as pypush.net.aws_errors raises them)."""
        return self._retry.call(lambda: self.api.call(operation, params), what, aws_errors.is_transient,
                                aws_errors.retry_after)

    def _ids(self) -> Dict[str, str]:
        """The members naming the repository in every push call (and DescribeImages): its name, the registry's
        alias or account, and ``repositoryType`` for a premium repository (FREE is the service's default)."""
        ids = {"repositoryName": self.repository}
        if self._registry_id:
            ids["registryId"] = self._registry_id
        if self.repository_type != "FREE":
            ids["repositoryType"] = self.repository_type
        return ids

    def _call(self, operation: str, what: str, **params: Any) -> Dict[str, Any]:
        try:
            return self._retrying(operation, what, params)
        except AwsFailure as exc:
            raise _translate(exc, what) from None

    def prepare(self, create_repository: bool = False) -> None:
        """Check the repository exists; create it when asked.

        A push-only IAM policy may not allow DescribeRepositories: then the push goes ahead and a
        missing repository shows as RepositoryNotFoundException on the first push call. A premium
        repository is looked up with DescribePremiumRepositories and never created here (it needs
        Marketplace products: ``pypush premium create``).
        """
        if self.repository_type == "PREMIUM":
            return self._prepare_premium()
        try:
            self._retrying("DescribeRepositories", "DescribeRepositories", {"repositoryNames": [self.repository]})
            return
        except AwsApiError as exc:
            if exc.code == "AccessDeniedException" and not create_repository:
                log.info("not allowed to describe %s; pushing anyway", self.destination.name)
                return
            if exc.code != "RepositoryNotFoundException" or not create_repository:
                raise _translate(exc, f"repository {self.destination.name}") from None
        except AwsFailure as exc:
            raise _translate(exc, f"repository {self.destination.name}") from None
        try:
            self._retrying("CreateRepository", "CreateRepository", {"repositoryName": self.repository})
            log.info("created repository %s", self.destination.name)
        except AwsApiError as exc:
            if exc.code != "RepositoryAlreadyExistsException":
                raise _translate(exc, f"creating repository {self.destination.name}") from None
        except AwsFailure as exc:
            raise _translate(exc, f"creating repository {self.destination.name}") from None

    def _prepare_premium(self) -> None:
        what = f"premium repository {self.destination.name}"
        try:
            self._retrying("DescribePremiumRepositories", "DescribePremiumRepositories",
                           {"repositoryNames": [self.repository]})
        except AwsApiError as exc:
            if exc.code == "AccessDeniedException":
                log.info("not allowed to describe %s; pushing anyway", what)
                return
            if exc.code == "RepositoryNotFoundException":
                raise RegistryError(f"{what}: RepositoryNotFoundException: no premium repository of that name; "
                                    f"create it first: pypush premium create {self.repository} --product ID",
                                    exc.code) from None
            raise aws_errors.translate(exc, what) from None
        except AwsFailure as exc:
            raise aws_errors.translate(exc, what) from None

    def tag_digests(self, tags: Sequence[str]) -> Dict[str, Optional[str]]:
        """tag -> the image digest it names at exactly this destination (None: no such tag), asked as
        ecr_tag_probe.ask_tags asks; {} when the answer could not be about this destination (an ECR Public
        alias that is not the caller's). ECR Public answers ImageNotFoundException if any tag is missing."""
        what = f"looking up tags of {self.destination.name}"
        call = (lambda op, body: self._retrying(op, what, body)) if self.service == "ecr" else self.api.call
        try:
            found = ask_tags(call, self.service, self.destination, tags, self.repository_type)
        except AwsApiError as exc:
            if self.service != "ecr" and exc.code in ("ImageNotFoundException", "ImageTagDoesNotExistException"):
                return dict.fromkeys(tags)
            raise _translate(exc, what) from None
        except AwsFailure as exc:
            raise _translate(exc, what) from None
        return {} if found is None else found

    def missing(self, digests: Sequence[str]) -> Set[str]:
        """BatchCheckLayerAvailability in batches of 100. The engine asks before any upload, so a blob the
        ECR API cannot store (not sha256) is refused here, before anything is pushed."""
        unique = list(dict.fromkeys(digests))
        for digest in unique:
            if not digest.startswith("sha256:"):
                raise RegistryError(f"blob {digest}: the ECR API stores layers by their sha256 only "
                                    f"(CompleteLayerUpload takes the layer's sha256 digest), so this image cannot be "
                                    f"pushed to {self.destination.name} as it is; nothing was pushed",
                                    "UnsupportedDigest")
        absent: Set[str] = set()
        for i in range(0, len(unique), 100):
            batch = unique[i:i + 100]
            resp = self._call("BatchCheckLayerAvailability", f"checking blobs in {self.destination.name}",
                              layerDigests=batch, **self._ids())
            present = {layer["layerDigest"] for layer in resp.get("layers", [])
                       if layer.get("layerAvailability") == "AVAILABLE"}
            for failure in resp.get("failures", []):
                if failure.get("failureCode") == "InvalidLayerDigest":
                    raise RegistryError(f"registry refused digest {failure.get('layerDigest')}: "
                                        f"{failure.get('failureReason', 'InvalidLayerDigest')}", "InvalidLayerDigest")
            absent.update(d for d in batch if d not in present)
        return absent

    def put_manifest(self, raw: bytes, media_type: str, digest: str, tags: Sequence[str]) -> None:
        """PutImage once per tag (or once untagged); identical re-puts count as success."""
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise SourceError(f"manifest {digest} is not UTF-8 text") from None
        for tag in list(tags) or [""]:
            params = dict(self._ids(), imageManifest=text, imageManifestMediaType=media_type, imageDigest=digest)
            if tag:
                params["imageTag"] = tag
            try:
                resp = self._retrying("PutImage", "PutImage", params)
            except AwsApiError as exc:
                if exc.code == "ImageAlreadyExistsException":
                    continue
                raise _translate(exc, f"PutImage {self.destination.name}" + (f":{tag}" if tag else f"@{digest}")) from None
            except AwsFailure as exc:
                raise _translate(exc, f"PutImage {self.destination.name}") from None
            got = resp.get("image", {}).get("imageId", {}).get("imageDigest")
            if got and got != digest:
                raise RegistryError(f"PutImage {self.destination.name}: registry stored digest {got}, expected {digest}")

    def tag_digest(self, tag: str) -> Optional[str]:
        """The digest of the image tagged ``tag`` (None when there is none)."""
        return self.tag_digests([tag]).get(tag)

    def close(self) -> None:
        """Close every thread's connections and stop the read-ahead helpers."""
        self._parts.close()
        self.api.close()
        with self._encoders_lock:
            encoders, self._encoders = self._encoders, []
        for encoder in encoders:
            encoder.shutdown(wait=True)

    # -- blob upload ------------------------------------------------------------------------------
    def upload_key(self, digest: str) -> UploadKey:
        """What a half-sent upload of blob ``digest`` here is remembered by: the API endpoint, the service, the
        repository (registry alias or id included) and its type (ECR Public's FREE and PREMIUM twins)."""
        twin = "" if self.repository_type == "FREE" else f"#{self.repository_type}"
        return UploadKey("ecr", f"{self._endpoint_host}/{self.service}/{self.destination.name}{twin}", digest)

    def upload(self, blob: Blob, progress: ProgressFn) -> Descriptor:
        """Initiate → UploadLayerPart… → Complete; restarts the blob if the upload is lost. A layer of known
        digest continues the upload an earlier run left half-sent (pypush.transports.resume_state)."""
        digest = blob.descriptor.digest
        tracked = TrackedUpload(self.resume_store, self.upload_key(digest) if digest else None)
        for restart in range(_BLOB_RESTARTS + 1):
            try:
                return self._upload_once(blob, progress, tracked)
            except _UploadLost as lost:
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

    def _upload_once(self, blob: Blob, progress: ProgressFn, tracked: TrackedUpload) -> Descriptor:
        desc = blob.descriptor
        name = blob.name or desc.digest
        state = tracked.load()
        if state is not None and state.offset > desc.size:
            tracked.drop()
            state = None
        if state is not None:
            upload_id, part_size, resumed = state.session, state.part_size, state.offset
            log.info("%s: continuing upload %s of an earlier run at byte %d", name, upload_id, resumed)
        else:
            resp = self._call("InitiateLayerUpload", f"InitiateLayerUpload for {name}", **self._ids())
            upload_id, part_size, resumed = resp["uploadId"], int(resp.get("partSize") or 10 << 20), 0
            tracked.save(upload_id, 0, part_size)
        expected_size = desc.size if desc.digest else None
        readers = [VerifyingReader(blob.open(), desc.digest, expected_size, name, blob.hashed)]
        sent = resumed
        if resumed:  # read and hash what the service holds: the digest is checked over every byte
            try:
                readers[0].skip(resumed, "the service")
            except BaseException:
                readers[0].close()
                raise
            progress(resumed)

        def acked(offset: int) -> None:
            tracked.save(upload_id, offset, part_size)

        def encode(first: int) -> _PartBody:
            source = readers[-1].file_range() if _REREAD else None
            if source is None:
                _PARTS_IN_MEMORY.acquire()  # released once the part is sent (or found empty, or on failure)
            try:
                part = self._encode_part(readers[-1], part_size, upload_id, first, source)
            except BaseException:
                if source is None:
                    _PARTS_IN_MEMORY.release()
                raise
            if source is None and not part.in_memory:
                _PARTS_IN_MEMORY.release()
            return part

        # The next part is read, hashed and encoded on a helper thread while this one is in flight.
        encoder = self._encoder()
        upcoming = encoder.submit(encode, sent)
        try:
            while True:
                part = upcoming.result()
                n = part.n
                if n == 0:
                    break
                upcoming = encoder.submit(encode, sent + n)
                try:
                    resume_at = self._send_part(part, sent, progress, acked)
                finally:
                    if part.in_memory:
                        _PARTS_IN_MEMORY.release()
                    del part
                if resume_at != sent + n:  # the service kept fewer bytes than were sent: resume there
                    resumed = min(resumed, resume_at)  # (fewer than an earlier run's state said, even)
                    _drop(upcoming)
                    progress(resume_at - sent)
                    readers[-1].close()
                    readers.append(VerifyingReader(blob.open(), desc.digest, expected_size, name, blob.hashed))
                    readers[-1].skip(resume_at, "the service")
                    upcoming = encoder.submit(encode, resume_at)
                sent = resume_at
            if sent == 0:
                raise SourceError(f"blob {name} is empty: ECR cannot store a 0-byte layer")
        except _UploadLost as lost:
            lost.sent = sent
            raise
        finally:
            _drop(upcoming)
            readers[-1].close()
        reader = readers[-1]
        digest = reader.digest
        try:
            resp = self._retrying("CompleteLayerUpload", f"CompleteLayerUpload for {name}",
                                  dict(self._ids(), uploadId=upload_id, layerDigests=[digest]))
            stored = resp.get("layerDigest", digest)
            if stored != digest:
                raise RegistryError(f"CompleteLayerUpload for {name}: registry computed {stored}, pypush sent {digest}")
        except AwsApiError as exc:
            code = exc.code
            if code == "UploadNotFoundException":
                if digest not in self.missing([digest]):  # an earlier attempt completed it
                    tracked.drop()
                    return Descriptor(desc.media_type, digest, sent, desc.annotations, desc.platform,
                                      desc.artifact_type)
                raise _UploadLost(sent) from None
            if resumed and code in ("InvalidLayerException", "LayerPartTooSmallException"):
                log.info("%s: the upload continued from an earlier run does not add up (%s); starting over", name,
                         code)
                raise _UploadLost(sent) from None
            if code != "LayerAlreadyExistsException":
                raise _translate(exc, f"CompleteLayerUpload for {name}") from None
        except AwsFailure as exc:
            raise _translate(exc, f"CompleteLayerUpload for {name}") from None
        tracked.drop()
        self.stats.blob_uploaded(sent - resumed)
        if resumed:
            self.stats.add("resumed", resumed)
        return Descriptor(desc.media_type, digest, sent, desc.annotations, desc.platform, desc.artifact_type)

    def _encode_part(self, reader: VerifyingReader, part_size: int, upload_id: str, first: int,
                     source: Optional[FileRange]) -> _PartBody:
        """Read up to ``part_size`` bytes and build the UploadLayerPart body; its text is kept only when the
        bytes cannot be read again from ``source`` (the reader's file range)."""
        encoded: Optional[List[bytes]] = [] if source is None else None
        h = hashlib.sha256(_HEAD)
        n = 0
        while n < part_size:
            raw = reader.read_exactly(min(_ENCODE_CHUNK, part_size - n))
            if not raw:
                break
            n += len(raw)
            piece = b64.encode(raw)
            h.update(piece)
            if encoded is not None:
                encoded.append(piece)
        members = json.dumps(dict(self._ids(), uploadId=upload_id, partFirstByte=first, partLastByte=first + n - 1))
        tail = b'", ' + members[1:].encode()
        h.update(tail)
        return _PartBody(encoded, source[:2] if source else None, n, tail, h.hexdigest(), reader.name)

    def _send_part(self, part: _PartBody, first: int, progress: ProgressFn, acked: ProgressFn) -> int:
        """Send one part with retries; returns the next byte offset the service expects (``first + n``,
        or less when the service reports it kept fewer bytes than were sent), told to ``acked`` first."""
        what, n = f"UploadLayerPart for {part.name}", part.n

        def attempt() -> int:
            try:
                self._parts.send("UploadLayerPart", part, part.sha256, len(part))
            except AwsApiError as err:
                if err.code == "InvalidLayerPartException" and "lastValidByteReceived" in err.body:
                    last = int(err.body["lastValidByteReceived"])
                    if last + 1 < first + n and last + 1 != first:
                        log.info("%s: the service holds %d bytes, not %d; resuming at byte %d", what, last + 1,
                                 first, last + 1)
                        acked(last + 1)
                        return last + 1  # the service kept fewer bytes: resume after the last it holds
                    if last + 1 < first + n:
                        raise RegistryError(f"{what}: {err}", err.code) from None
                    log.info("%s: bytes %d-%d had arrived (the answer was lost)", what, first, first + n - 1)
                elif err.code == "UploadNotFoundException":
                    raise _UploadLost(first) from None
                elif err.status >= 500 or err.code in aws_errors.TRANSIENT_CODES:
                    raise TransientError(f"{what}: {err}", err.code) from None
                else:
                    raise aws_part_error(err, part.name) from None
            except AwsTlsError as exc:
                raise RegistryError(f"{what}: TLS failed ({exc.verify_message}); trust its CA through "
                                    f"AWS_CA_BUNDLE or ca_bundle in the AWS profile", "TLS") from None
            except AwsConnectionError as exc:
                raise TransientError(f"{what}: connection failed ({exc.cause})") from None
            acked(first + n)  # before progress, which raises when the push is being stopped
            progress(n)
            return first + n

        return self._part_retry.call(attempt, what, lambda exc: isinstance(exc, TransientError))

    def _encoder(self) -> ThreadPoolExecutor:
        """This upload thread's read-ahead helper, kept for its next blobs (a thread per blob would give
        glibc a new malloc arena each, and the process the high-water mark of every one)."""
        encoder = getattr(self._local, "encoder", None)
        if encoder is None:
            encoder = self._local.encoder = ThreadPoolExecutor(1, thread_name_prefix="pypush-encode")
            with self._encoders_lock:
                self._encoders.append(encoder)
        return encoder


def _drop(upcoming: "Future[_PartBody]") -> None:
    """Discard a part read ahead that will not be sent (giving its memory permit back)."""
    try:
        if upcoming.result().in_memory:
            _PARTS_IN_MEMORY.release()
    except BaseException:  # its error, if any, was or will be reported by the part that matters
        pass


class _UploadLost(Exception):
    def __init__(self, sent: int):
        super().__init__("upload lost")
        self.sent = sent


def aws_part_error(err: AwsApiError, name: str) -> Exception:
    """Map an UploadLayerPart error reply as every other call's."""
    return _translate(err, f"UploadLayerPart for {name}")


def _frozen(credentials: Any) -> AwsCredentials:
    """botocore's (maybe refreshing) credentials as they are now."""
    frozen = credentials.get_frozen_credentials() if hasattr(credentials, "get_frozen_credentials") else credentials
    return AwsCredentials(frozen.access_key, frozen.secret_key, frozen.token or "")
