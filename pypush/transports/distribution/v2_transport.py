"""The OCI distribution v2 transport: push blobs and manifests to any registry over HTTP(S).

One ``requests.Session`` (connection reuse, a pool as large as the engine's threads) serves every
thread. Blobs stream from their source through ``VerifyingReader`` in 1 MiB pieces, never whole in
memory: monolithic ``POST`` + ``PUT ?digest=`` up to ``chunk_size``, ``PATCH`` chunks above it (or
when the registry sends ``OCI-Chunk-Min-Length``), resumed from the registry's ``Range`` after a
failure. A blob whose digest is unknown until read (a compression stream) goes up as one streamed
``PATCH`` and is committed by ``PUT ?digest=<computed>``. ECR's registry endpoints accept only one
PATCH per session (later chunks are dropped: aws/containers-roadmap#2831), so there blobs go up whole
and a failed upload restarts instead of resuming. Elsewhere a chunked session is written down after every
chunk (pypush.transports.resume_state), and a later run continues it from its ``Range``.

Schemes: ``https`` with certificate verification (``REQUESTS_CA_BUNDLE`` names extra CAs).
``insecure`` turns verification off and, when the server does not speak TLS, falls back to plain
http (like crane). Loopback hosts (``localhost``, 127.0.0.0/8, ``::1``) need no ``insecure`` (like
docker): plain http is tried first, then https — whose certificate must verify unless ``insecure``.
"""
from __future__ import annotations

import hashlib
import http.client
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, Callable, Dict, Iterator, Optional, Sequence, Set, Tuple, TypeVar, Union
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

import requests

from pypush.transports.distribution.docker_credentials import Credentials, login_hint
from pypush.transports.distribution.token_auth import Authenticator, Scopes
from pypush.image.digest import VerifyingReader
from pypush.errors import AuthError, PypushError, RegistryError, TransientError
from pypush.image.model import DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, Blob, Descriptor
from pypush.image.verify_ahead import BackgroundCheck
from pypush.net.connections import (KeepAlive, Verify, registry_api_host, registry_schemes, registry_verify,
                                    requests_session)
from pypush.net.zero_copy import FileRange, can_send_file, file_range, send_file
from pypush.net.retry import (Backoff, RetryPolicy, describe_network_error, gave_up, parse_retry_after,
                              unreachable)
from pypush.name.patterns import is_ecr_host
from pypush.net.stats import TransferStats
from pypush.transports.base import ProgressFn, Transport
from pypush.transports.resume_state import ResumeStore, TrackedUpload, UploadKey, keeps_upload

log = logging.getLogger(__name__)

T = TypeVar("T")

READ_SIZE = 1 << 20
"""Bytes per read from the source and per socket write."""
DEFAULT_CHUNK_SIZE = 32 << 20
"""Blobs larger than this go up in PATCH chunks of this size (resumable, within a run and across runs: see
pypush.transports.resume_state); smaller ones in one PUT. A stopped push finishes the chunk under way (the
distribution registry gives up a session whose request was cut off midway)."""
TIMEOUT = (15.0, 300.0)
"""(connect, read) seconds for every request."""
_MANIFEST_TYPES = ", ".join((OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST))


class _Resync(Exception):
    """The upload must continue from the registry's idea of the offset (retried as transient)."""

    retry_after = 0.0


class RegistryTransport(Transport):
    """Push to one repository of an OCI distribution (v2) registry; safe to share between threads."""

    def __init__(self, registry: str, repository: str, *, insecure: bool = False,
                 credentials: Optional[Credentials] = None, mount_from: Sequence[str] = (),
                 chunk_size: int = DEFAULT_CHUNK_SIZE, session: Optional[requests.Session] = None,
                 pool_size: int = 8, backoff: Backoff = Backoff(), lookup_credentials: bool = True,
                 resumable: Optional[bool] = None):
        """``registry`` is ``host[:port]``. Without ``credentials`` they are looked up in docker's
        config.json when the registry first asks (unless ``lookup_credentials`` is False).
        ``resumable``: the registry takes several PATCH chunks per upload (default: unless ECR)."""
        self.registry = registry
        self.repository = repository
        self.insecure = insecure
        self.mount_from = [r for r in dict.fromkeys(mount_from) if r and r != repository]
        self.chunk_size = max(1, chunk_size)
        self.resumable = not _is_ecr(registry) if resumable is None else resumable
        self.backoff = backoff
        self._own_session = session is None
        self._session = session or requests_session(pool_size, f"https://{registry}/")
        self._verify: Verify = registry_verify(insecure)
        if insecure:
            import urllib3

            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        self._auth = Authenticator(registry, self._session, credentials, lookup=lookup_credentials,
                                   verify=self._verify)
        host = registry_api_host(registry)
        self._host = host
        self._schemes = registry_schemes(host, insecure)
        self._base: Optional[str] = None if len(self._schemes) > 1 else f"{self._schemes[0]}://{host}"
        self._base_lock = threading.Lock()
        self._open_api = False  # the probe saw GET /v2/ answer 200 without credentials
        self.stats = TransferStats()  # also: patches, resumes
        self._retry = RetryPolicy(backoff, self.stats, registry)
        self.push_scopes: Scopes = (f"repository:{repository}:pull,push",)
        self._files = KeepAlive()  # per-thread plain-http connection for sendfile bodies
        self.resume_store: Optional[ResumeStore] = ResumeStore.default()  # half-sent blobs, kept between runs

    # ----- the Transport protocol -------------------------------------------------------------

    def prepare(self, create_repository: bool = False) -> None:
        """GET /v2/: the registry answers and accepts our credentials (v2 repositories need no creating)."""
        self._base_url()
        if self._open_api:  # the scheme probe already had the answer
            return
        resp = self.call("GET", "/v2/", scopes=self.push_scopes, ok=(200, 404), what="API check (GET /v2/)")
        if resp.status_code == 404:
            raise RegistryError(f"{self.registry}: GET /v2/ answered 404: not an OCI distribution registry",
                                code="404")

    def check_login(self) -> bool:
        """GET /v2/ with the credentials (a token of no scope, as ``docker login`` asks): an AuthError when the
        registry refuses them; False when it asks for none (nothing to check)."""
        self._base_url()
        if self._open_api:
            return False
        self.call("GET", "/v2/", scopes=(), ok=(200,), what="login (GET /v2/)")
        return True

    def missing(self, digests: Sequence[str]) -> Set[str]:
        """HEAD each blob (a few at a time); the digests the repository does not have."""
        unique = list(dict.fromkeys(digests))
        if len(unique) <= 1:
            present = [self._has_blob(d) for d in unique]
        else:
            with ThreadPoolExecutor(max_workers=min(8, len(unique)), thread_name_prefix="pypush-head") as pool:
                present = list(pool.map(self._has_blob, unique))
        return {d for d, has in zip(unique, present) if not has}

    def upload(self, blob: Blob, progress: ProgressFn) -> Descriptor:
        """Mount or stream ``blob``; the descriptor of what the registry stored."""
        desc = blob.descriptor
        started = None
        if desc.digest and self.mount_from:
            started = self._mount(desc.digest)
            if started is None:
                if desc.digest.startswith("sha256:") or self._has_blob(desc.digest):
                    return desc
                # mounted under the registry's canonical sha256 only (docker-registry does so for sha512): upload
                log.info("mount of %s linked it only by sha256; uploading it", desc.digest)
                self.stats.add("mounted", -1)
        return _BlobUpload(self, blob, progress, started).run()

    def upload_key(self, digest: str) -> UploadKey:
        """What a half-sent upload of blob ``digest`` here is remembered by: registry host and repository."""
        return UploadKey("v2", f"{self.registry}/{self.repository}", digest)

    def put_manifest(self, raw: bytes, media_type: str, digest: str, tags: Sequence[str]) -> None:
        """PUT the exact bytes by digest (no tags) or once per tag, checking the digest the registry reports."""
        for ref in list(dict.fromkeys(tags)) or [digest]:
            what = f"manifest PUT {self.repository}:{ref}" if ref != digest else f"manifest PUT {self.repository}@{ref}"
            resp = self.call("PUT", f"/v2/{self.repository}/manifests/{ref}", scopes=self.push_scopes,
                             ok=(200, 201, 202), what=what, data=raw, headers={"Content-Type": media_type})
            got = resp.headers.get("Docker-Content-Digest")
            if got and digest and got != digest:
                raise RegistryError(f"{self.registry}: {what}: the registry stored digest {got}, expected {digest}",
                                    code="DIGEST_MISMATCH")

    def put_referrer(self, raw: bytes, media_type: str, digest: str, artifact_type: str) -> None:
        """PUT a manifest with a ``subject`` by digest; a registry without the referrers API (no ``OCI-Subject``
        in its answer) gets the tag fallback: the index tagged ``sha256-<hex>`` of the subject lists it."""
        what = f"manifest PUT {self.repository}@{digest}"
        resp = self.call("PUT", f"/v2/{self.repository}/manifests/{digest}", scopes=self.push_scopes,
                         ok=(200, 201, 202), what=what, data=raw, headers={"Content-Type": media_type})
        if resp.headers.get("OCI-Subject"):
            return
        subject = json.loads(raw)["subject"]["digest"]
        tag = subject.replace(":", "-")
        index_type = "application/vnd.oci.image.index.v1+json"
        got = self.call("GET", f"/v2/{self.repository}/manifests/{tag}", scopes=self.push_scopes, ok=(200, 404),
                        what=f"manifest GET {self.repository}:{tag}", headers={"Accept": index_type})
        doc = {"schemaVersion": 2, "mediaType": index_type, "manifests": []}
        if got.status_code == 200:
            try:
                old = json.loads(got.content)
                doc["manifests"] = [m for m in old.get("manifests") or [] if m.get("digest") != digest]
            except (ValueError, AttributeError):
                pass
        entry: Dict[str, Any] = {"mediaType": media_type, "digest": digest, "size": len(raw)}
        if artifact_type:
            entry["artifactType"] = artifact_type
        doc["manifests"].append(entry)
        body = json.dumps(doc, separators=(",", ":")).encode()
        self.put_manifest(body, index_type, "sha256:" + hashlib.sha256(body).hexdigest(), [tag])

    def tag_digest(self, tag: str) -> Optional[str]:
        """The digest of the manifest the repository has under ``tag`` (None when it has none)."""
        resp = self.call("HEAD", f"/v2/{self.repository}/manifests/{tag}", scopes=self.push_scopes, ok=(200, 404),
                         what=f"manifest HEAD {self.repository}:{tag}", headers={"Accept": _MANIFEST_TYPES})
        return resp.headers.get("Docker-Content-Digest") if resp.status_code == 200 else None

    def close(self) -> None:
        """Close the pooled connections (only of a session this transport created) and every thread's
        sendfile connection."""
        self._files.close()
        if self._own_session:
            self._session.close()

    def __enter__(self) -> "RegistryTransport":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- requests ---------------------------------------------------------------------------

    def url(self, path: str) -> str:
        """Absolute URL of an API path (probing the scheme on first use when there is a choice)."""
        if path.startswith(("http://", "https://")):
            return path
        return self._base_url() + path

    def _base_url(self) -> str:
        if self._base is not None:
            return self._base
        with self._base_lock:
            if self._base is None:
                self._base = self._probe()
            return self._base

    def _probe(self) -> str:
        """The first scheme whose GET /v2/ answers like a registry (else the first that answers at all)."""
        return self.retrying(self._probe_once, "API check (GET /v2/)")

    def _probe_once(self) -> str:
        last: Optional[BaseException] = None
        answered: Optional[str] = None
        for scheme in self._schemes:
            base = f"{scheme}://{self._host}"
            try:
                resp = self._session.get(base + "/v2/", timeout=TIMEOUT, verify=self._verify, allow_redirects=False)
            except requests.ConnectionError as exc:  # includes SSLError: try the next scheme
                if _untrusted_certificate(exc):
                    raise  # TLS, but not trusted: not a reason to try plain http
                log.debug("%s unusable: %s", base, exc.__class__.__name__)
                if last is None or isinstance(last, requests.exceptions.SSLError):
                    last = exc  # the preferred scheme's failure, unless it only says "this is not TLS"
                continue
            resp.close()
            if resp.status_code in (200, 401) or resp.headers.get("Docker-Distribution-API-Version"):
                self._open_api = resp.status_code == 200
                return base
            answered = answered or base  # e.g. HTTP 400 from a TLS server asked in plain http
        if answered is not None:
            return answered
        assert last is not None
        raise last

    def send(self, method: str, url: str, *, scopes: Scopes, headers: Optional[dict] = None,
             data: Optional[RequestBody] = None, replayable: bool = True,
             timeout: Tuple[float, float] = TIMEOUT, stream: bool = False) -> requests.Response:
        """One request with credentials; after a 401 the challenge is answered and, if ``replayable``,
        the request sent once more. Statuses are the caller's to judge; ``stream``: the body is read
        by the caller (``resp.raw``)."""
        full = self.url(url)
        ours = _same_host(full, self._host)  # credentials go to the registry only
        for attempt in (0, 1):
            auth = self._auth.authorization(scopes) if ours else None
            hdrs = dict(headers or {})
            if auth:
                hdrs["Authorization"] = auth
            resp = self._session.request(method, full, headers=hdrs, data=data, timeout=timeout,
                                         verify=self._verify, allow_redirects=False, stream=stream)
            log.debug("%s %s -> %s", method, urlsplit(resp.url).path, resp.status_code)
            if resp.status_code != 401 or attempt or not ours or not self._auth.challenge(resp, scopes, auth):
                return resp
            if not replayable:
                raise _Resync("credentials refreshed")
            resp.close()
        raise AssertionError("unreachable")

    def send_file(self, method: str, url: str, source: FileRange, count: int, *, scopes: Scopes,
                  headers: dict, progress: ProgressFn) -> requests.Response:
        """``send`` with ``count`` bytes of a file range as the body, by sendfile (``can_send_file(url)``)
        on a per-thread keep-alive connection. Connection failures raise requests.ConnectionError."""
        full = self.url(url)
        parts = urlsplit(full)
        for attempt in (0, 1):
            auth = self._auth.authorization(scopes)
            hdrs = {"User-Agent": "pypush", **headers, **({"Authorization": auth} if auth else {})}
            conn = self._file_connection(parts.netloc)
            try:
                raw = send_file(conn, method, urlunsplit(("", "", parts.path, parts.query, "")), hdrs, source,
                                count, progress)
                resp = _response(raw, method, full)
            except (OSError, http.client.HTTPException) as exc:
                self._drop_file_connection()
                raise requests.ConnectionError(f"{method} {parts.path}: {exc}") from None
            except BaseException:
                self._drop_file_connection()  # stopped half-way through the body
                raise
            if raw.will_close:
                self._drop_file_connection()
            log.debug("%s %s -> %s (sendfile)", method, parts.path, resp.status_code)
            if resp.status_code != 401 or attempt or not self._auth.challenge(resp, scopes, auth):
                return resp
        raise AssertionError("unreachable")

    def can_send_file(self, url: str) -> bool:
        """Whether a body to ``url`` may go by sendfile (plain http, no proxy)."""
        return can_send_file(self.url(url), self._session.proxies)

    def _file_connection(self, netloc: str) -> http.client.HTTPConnection:
        return self._files.get(netloc, lambda: http.client.HTTPConnection(netloc, timeout=TIMEOUT[1]))

    def _drop_file_connection(self) -> None:
        self._files.drop()

    def call(self, method: str, path: str, *, scopes: Scopes, ok: Sequence[int], what: str,
             headers: Optional[dict] = None, data: Optional[bytes] = None) -> requests.Response:
        """``send`` with retries of transient failures; a status outside ``ok`` raises."""
        def once() -> requests.Response:
            resp = self.send(method, path, scopes=scopes, headers=headers, data=data)
            if resp.status_code not in ok:
                raise self.refusal(resp, what)
            return resp
        return self.retrying(once, what)

    def retrying(self, fn: Callable[[], T], what: str) -> T:
        """Run ``fn`` under the retry policy; exhausted connection failures become TransientError."""
        try:
            return self._retry.call(fn, what, _is_transient)
        except requests.RequestException as exc:
            raise self._connection_error(exc, what) from None
        except _Resync as exc:
            raise TransientError(f"{self.registry}: {what}: {exc} (gave up after {self.backoff.attempts} attempts)",
                                 code="RESYNC") from None

    def _connection_error(self, exc: BaseException, what: str) -> PypushError:
        if isinstance(exc, requests.exceptions.SSLError):
            return RegistryError(f"{self.registry}: {what}: TLS failed ({_short(exc)}); trust its CA through "
                                 f"REQUESTS_CA_BUNDLE, or use --insecure for a self-signed certificate or plain HTTP",
                                 code="TLS")
        if isinstance(exc, requests.exceptions.ProxyError):
            return TransientError(f"{self.registry}: {what}: the proxy (HTTP_PROXY/HTTPS_PROXY) could not be reached "
                                  f"or refused the request ({_short(exc)}; gave up after {self.backoff.attempts} "
                                  f"attempts); fix it or exempt this host through NO_PROXY", code="PROXY")
        if _is_transient(exc):
            return TransientError(f"{self.registry}: {what}: {gave_up(exc, self.backoff.attempts)}",
                                  code="UNREACHABLE" if unreachable(exc) else "CONNECTION")
        return RegistryError(f"{self.registry}: {what}: {_short(exc)}")

    def refusal(self, resp: requests.Response, what: str) -> PypushError:
        """The error for an unexpected answer, with the registry's OCI error code and message."""
        status = resp.status_code
        code, message = _oci_error(resp)
        detail = f"HTTP {status}" + (f" {code}" if code else "") + (f": {message}" if message else "")
        if status in (401, 403):
            rights = f"; and check push rights to {self.repository}" if self.repository else ""
            return AuthError(f"{self.registry}: {what} refused with {self._auth.describe()}: {detail}; "
                             f"{login_hint(self.registry, self._auth.credentials)}{rights}", code=code or str(status))
        if status >= 500 and _REFUSALS.intersection(code.split(",")):  # a refusal wrapped in a server error
            hint = (" (a layer with urls its policy does not allow? docker-registry: validation.manifests.urls)"
                    if "MANIFEST_BLOB_UNKNOWN" in code else "")
            return RegistryError(f"{self.registry}: {what} refused: {detail}{hint}", code=code)
        if status == 429 or status >= 500:
            err = TransientError(f"{self.registry}: {what}: {detail}", code=code or str(status))
            err.retry_after = parse_retry_after(resp.headers.get("Retry-After"))  # type: ignore[attr-defined]
            return err
        return RegistryError(f"{self.registry}: {what} refused: {detail}", code=code or str(status))

    # ----- blobs --------------------------------------------------------------------------------

    def _has_blob(self, digest: str) -> bool:
        resp = self.call("HEAD", f"/v2/{self.repository}/blobs/{digest}", scopes=self.push_scopes,
                         ok=(200, 307, 302, 404), what=f"blob HEAD {digest}")
        return resp.status_code != 404

    def _mount(self, digest: str) -> Optional[requests.Response]:
        """Try ``mount_from`` in order: None when mounted, else the answer that opened an upload."""
        resp = None
        for i, source in enumerate(self.mount_from):
            resp = self._mount_request(digest, source)
            if resp.status_code == 201:
                return None
            if i + 1 < len(self.mount_from):
                self.cancel(self.location(resp))
        return resp

    def mount(self, digest: str, source: str) -> bool:
        """Mount blob ``digest`` from repository ``source`` of this registry; False when the registry did not
        (the upload session it opened instead is cancelled)."""
        resp = self._mount_request(digest, source)
        if resp.status_code == 201:
            return True
        self.cancel(self.location(resp))
        return False

    def _mount_request(self, digest: str, source: str) -> requests.Response:
        scopes = self.push_scopes + (f"repository:{source}:pull",)
        query = urlencode({"mount": digest, "from": source})
        resp = self.call("POST", f"/v2/{self.repository}/blobs/uploads/?{query}", scopes=scopes,
                         ok=(201, 202), what=f"blob mount {digest} from {source}")
        if resp.status_code == 201:
            self.count("mounted")
        return resp

    def location(self, resp: requests.Response) -> str:
        """The absolute upload URL a response names."""
        loc = resp.headers.get("Location")
        if not loc:
            raise RegistryError(f"{self.registry}: upload answer HTTP {resp.status_code} without a Location",
                                code="NO_LOCATION")
        return urljoin(resp.url, loc)

    def cancel(self, location: str) -> None:
        """Best effort DELETE of an upload session."""
        try:
            self.send("DELETE", location, scopes=self.push_scopes, timeout=(5.0, 10.0)).close()
        except (requests.RequestException, PypushError) as exc:
            log.debug("could not cancel upload: %s", _short(exc))

    def count(self, key: str, n: int = 1) -> None:
        """Add to a statistic (thread-safe)."""
        self.stats.add(key, n)


class _Body:
    """A request body of known length streamed from a reader: requests sends Content-Length, not chunked."""

    def __init__(self, pieces: Iterator[bytes], length: int):
        self._pieces = pieces
        self._length = length

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[bytes]:
        return self._pieces


RequestBody = Union[bytes, _Body, Iterator[bytes]]
"""What ``send`` streams: bytes (replayable), a ``_Body`` of known length, or pieces sent chunked."""


class _BlobUpload:
    """One blob's upload session: start, stream (monolithic or chunked), resume, commit or abort."""

    def __init__(self, transport: RegistryTransport, blob: Blob, progress: ProgressFn,
                 started: Optional[requests.Response] = None):
        self.t = transport
        self.blob = blob
        self.desc = blob.descriptor
        self.progress = progress
        self.known = bool(self.desc.digest)
        self.size: Optional[int] = self.desc.size if self.known else None  # unknown digest: unknown size
        self.location: Optional[str] = None  # the open upload session, if any
        self.chunked = False
        self.chunk = transport.chunk_size
        self.reported = 0  # bytes reported to ``progress`` so far
        self.offset = 0  # bytes the registry holds
        self.fresh = False  # the session was just opened (no resync needed)
        self.name = blob.name or self.desc.digest or "blob"
        self.what = f"blob upload {self.name}"
        key = transport.upload_key(self.desc.digest) if self.known and transport.resumable else None
        self.tracked = TrackedUpload(transport.resume_store, key)
        self.saved = False  # the session is written down (to be resumed by a later run)
        self.from_state = False  # the session is an earlier run's, not asked about yet
        self.resumed = 0  # bytes an earlier run sent
        self.stopped: Optional[Exception] = None  # what progress raised while a chunk was under way
        if started is not None:
            self._adopt(started)

    def run(self) -> Descriptor:
        continued = self.location is None and self._load_state()
        try:
            digest, size = self.t.retrying(self._attempt, self.what)
        except BaseException as exc:
            if not (self.saved and keeps_upload(exc)):
                # Best effort: a registry that tracks the session's offset in the URL (docker-registry's
                # _state) refuses to delete a session whose request was cut off mid-body.
                self.tracked.drop()
                if self.location is not None:
                    self.t.cancel(self.location)
                if continued and isinstance(exc, RegistryError):
                    log.info("%s: the upload continued from an earlier run was refused (%s); starting it over",
                             self.what, exc)
                    self.location, self.saved, self.from_state, self.resumed = None, False, False, 0
                    self.chunk, self.chunked, self.offset = self.t.chunk_size, False, 0
                    return self.run()  # a fresh session: no state is left to continue
            raise
        self.tracked.drop()
        self.t.stats.blob_uploaded(size - self.resumed)
        if self.resumed:
            self.t.count("resumed", self.resumed)
        if self.known:
            return self.desc
        return replace(self.desc, digest=digest, size=size)

    # one attempt; raises transient errors for retry_call -------------------------------------

    def _attempt(self) -> Tuple[str, int]:
        if self.location is None or (not self.fresh and not (self.chunked and self.t.resumable)):
            if self.location is not None:  # a failed PUT (or non-resumable PATCH) cannot resume: start over
                self.t.cancel(self.location)
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

    def _open_session(self) -> None:
        self.location = None
        self._adopt(self.t.call("POST", f"/v2/{self.t.repository}/blobs/uploads/", scopes=self.t.push_scopes,
                                ok=(202,), what=f"{self.what} (POST)"))

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

    def _start_over(self, why: str) -> None:
        log.info("%s: %s; starting it over", self.what, why)
        self.tracked.drop()
        self.saved = self.from_state = False
        self.resumed = 0
        self._open_session()

    def _adopt(self, resp: requests.Response) -> None:
        """Use the upload session a POST answer opened; pick monolithic or chunked."""
        self.location = self.t.location(resp)
        self.offset = 0
        self.fresh = True
        self.from_state = False
        min_chunk = resp.headers.get("OCI-Chunk-Min-Length", "")
        asks = min_chunk.isdigit()
        if asks:
            self.chunk = max(self.chunk, int(min_chunk))
        if not self.t.resumable and self.size is not None:
            self.chunk = max(self.chunk, self.size)  # one PATCH per session there
        big = self.size is not None and self.size > self.chunk
        self.chunked = asks or not self.known or self.size is None or big
        if self.chunked:
            self._save()

    def _resync(self) -> None:
        """Learn the registry's offset (GET the upload URL); start over if the session is gone."""
        assert self.location is not None
        resp = self.t.send("GET", self.location, scopes=self.t.push_scopes)
        resp.close()
        if resp.status_code in (404, 416) or (self.from_state and resp.status_code not in (200, 204)):
            return self._start_over(f"the registry no longer has the upload session (HTTP {resp.status_code})")
        if resp.status_code not in (200, 204):
            raise self.t.refusal(resp, f"{self.what} (status GET)")
        self.location = self.t.location(resp) if resp.headers.get("Location") else self.location
        self.offset = _range_end(resp) or 0
        if self.from_state:
            if self.size is not None and self.offset > self.size:
                return self._start_over(f"the registry holds {self.offset} bytes of a {self.size}-byte blob")
            self.from_state, self.resumed = False, self.offset
            log.info("%s: continuing the upload of an earlier run at byte %d", self.what, self.offset)
        self.t.count("resumes")

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

    def _put_zero_copy(self) -> Optional[Tuple[str, int]]:
        """PUT the whole blob by sendfile when it is a file range and the registry plain http; meanwhile
        another thread hashes it from the page cache, and a mismatch raises before this returns (so
        before any manifest). None when the blob cannot go this way."""
        assert self.location is not None and self.size is not None
        url = _with_query(self.location, digest=self.desc.digest)
        if not self.known or self.size == 0 or not self.t.can_send_file(url):
            return None
        with self.blob.open() as stream:
            source = file_range(stream)
            if source is None or source[2] < self.size:
                return None
            check = BackgroundCheck(self.blob)
            try:
                resp = self.t.send_file("PUT", url, source, self.size, scopes=self.t.push_scopes,
                                        headers={"Content-Type": "application/octet-stream"},
                                        progress=lambda n: self._report(self.reported + n))
            finally:
                check.result()  # every byte checked against the digest, whatever the registry said
        self._committed(resp, self.desc.digest)
        self.t.count("sendfile")
        return self.desc.digest, self.size

    def _put_whole(self, reader: VerifyingReader) -> Tuple[str, int]:
        assert self.location is not None and self.size is not None
        body: RequestBody = _Body(self._pieces(reader, self.size, last=True), self.size)
        if self.size == 0:
            reader.read(1)  # verifies the empty blob
            body = b""
        resp = self._send("PUT", _with_query(self.location, digest=self.desc.digest), body,
                          {"Content-Type": "application/octet-stream"})
        self._committed(resp, self.desc.digest)
        return self.desc.digest, self.size

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
                body = _Body(self._pieces(reader, n, last=self.offset + n == self.size), n)
            self._chunk_stored(self._send("PATCH", self.location, body, headers), reader.count)
            patches += 1
        return self._commit_chunks(self.desc.digest or reader.digest, patches), reader.count

    def _chunk_stored(self, resp: requests.Response, upto: int) -> None:
        """Check a PATCH's answer — the registry must now hold ``upto`` bytes — and write the session down
        (then stop, if the push is being stopped)."""
        if resp.status_code == 416:
            raise _Resync("the registry holds a different range")
        if resp.status_code not in (201, 202, 204):  # 202 per the spec; ECR answers 201
            raise self.t.refusal(resp, f"{self.what} (PATCH)")
        self.location = self.t.location(resp) if resp.headers.get("Location") else self.location
        self.t.count("patches")
        end = _range_end(resp) if resp.headers.get("Range") else upto
        if end is None and upto <= 1:  # "0-0": zero or one byte
            end = upto
        if end != upto:
            self.offset = end or 0  # None: "0-0", zero or one byte; the retry asks the registry again
            raise _Resync(f"the registry holds {end} bytes, {upto} were sent")
        self.offset = end
        self._acked()

    def _commit_chunks(self, digest: str, patches: int) -> str:
        """PUT ``?digest=`` with no body after the chunks."""
        assert self.location is not None
        resp = self._send("PUT", _with_query(self.location, digest=digest), b"", {"Content-Length": "0"})
        if self.resumed and resp.status_code == 400 and "DIGEST_INVALID" in _oci_error(resp)[0]:
            # Our bytes verified, so what the earlier run's session held was not this blob's start
            self.location, self.resumed = None, 0
            self.tracked.drop()
            self.saved = False
            raise _Resync("the upload continued from an earlier run does not add up to the blob")
        if patches > 1 and resp.status_code == 400 and "DIGEST_INVALID" in _oci_error(resp)[0]:
            # Our bytes verified, so the registry dropped chunks (ECR keeps one PATCH a session):
            # from now on one PATCH per session, and this blob starts over.
            self.t.resumable = False
            self.location = None
            self.tracked.drop()
            self.saved = False
            raise _Resync("the registry kept only part of a chunked upload")
        self._committed(resp, digest)
        return digest

    def _patch_zero_copy(self) -> Optional[Tuple[str, int]]:
        """The chunks from ``offset`` on by sendfile (a file range, plain http), then the commit; meanwhile
        another thread hashes the whole blob (the bytes the registry holds included), and a mismatch raises
        before the commit. None when the blob cannot go this way."""
        assert self.location is not None and self.size is not None
        if not self.t.can_send_file(self.location):
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
                resp = self.t.send_file("PATCH", self.location, (fd, start + self.offset, self.size - self.offset),
                                        n, scopes=self.t.push_scopes, headers=headers,
                                        progress=lambda k: self._report(self.reported + k, defer=True))
                self._chunk_stored(resp, self.offset + n)
                patches += 1
            check.result()
        self.t.count("sendfile")
        return self._commit_chunks(self.desc.digest, patches), self.size

    def _send(self, method: str, url: str, body: RequestBody, headers: dict) -> requests.Response:
        return self.t.send(method, url, scopes=self.t.push_scopes, headers=headers, data=body,
                           replayable=isinstance(body, bytes))

    def _committed(self, resp: requests.Response, digest: str) -> None:
        if resp.status_code not in (200, 201, 202, 204):  # 201 per the spec
            raise self.t.refusal(resp, f"{self.what} (PUT)")
        self.location = None  # nothing left to cancel
        got = resp.headers.get("Docker-Content-Digest")
        if not got or got == digest:
            return
        if got.partition(":")[0] == digest.partition(":")[0]:
            raise RegistryError(f"{self.t.registry}: {self.what}: the registry stored {got}, expected {digest}",
                                code="DIGEST_MISMATCH")
        # A sha512 blob named by the registry's canonical sha256 (docker-registry links both): it must answer
        # to the digest the manifest will name, too
        if not self.t._has_blob(digest):
            raise RegistryError(f"{self.t.registry}: {self.what}: the registry stored it only as {got}: it does not "
                                f"address blobs by {digest.partition(':')[0]}", code="DIGEST_UNSUPPORTED")


# ----- helpers --------------------------------------------------------------------------------------



def _is_ecr(registry: str) -> bool:
    """An ECR (private or public) registry endpoint."""
    return is_ecr_host(registry)


def _same_host(url: str, host: str) -> bool:
    """Whether ``url`` points at ``host`` (``host[:port]``; a default port need not be spelled)."""
    target, ours = urlsplit(url), urlsplit("//" + host)
    default = {"https": 443, "http": 80}.get(target.scheme)
    return target.hostname == ours.hostname and (target.port or default) == (ours.port or default)


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, (TransientError, _Resync)):
        return True
    if isinstance(exc, requests.exceptions.SSLError):
        return False
    return isinstance(exc, (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError))


def _untrusted_certificate(exc: BaseException) -> bool:
    """The server speaks TLS but its certificate did not verify (no point trying plain http)."""
    return isinstance(exc, requests.exceptions.SSLError) and "CERTIFICATE_VERIFY_FAILED" in str(exc).upper()


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


def _response(raw: http.client.HTTPResponse, method: str, url: str) -> requests.Response:
    """A requests.Response of an http.client answer (read whole: registry answers to uploads are small)."""
    resp = requests.Response()
    resp.status_code, resp.reason, resp.url = raw.status, raw.reason, url
    resp.headers = requests.structures.CaseInsensitiveDict(raw.getheaders())
    resp._content = raw.read()
    resp.request = requests.Request(method, url).prepare()
    return resp


# OCI error codes that say the request itself is wrong: retrying cannot help, whatever the HTTP status (the
# distribution registry answers 500 UNKNOWN,MANIFEST_BLOB_UNKNOWN for a foreign layer's URL it does not allow)
_REFUSALS = frozenset({"BLOB_UNKNOWN", "DIGEST_INVALID", "MANIFEST_BLOB_UNKNOWN", "MANIFEST_INVALID",
                       "MANIFEST_UNVERIFIED", "NAME_INVALID", "SIZE_INVALID", "TAG_INVALID", "UNSUPPORTED"})


def _oci_error(resp: requests.Response) -> Tuple[str, str]:
    """(code, message) from an OCI error body, both "" when absent; messages are kept short."""
    try:
        doc = resp.json()
        errors = [e for e in doc.get("errors") or [] if isinstance(e, dict)]
        codes = dict.fromkeys(str(e.get("code", "")) for e in errors if e.get("code"))
        messages = dict.fromkeys(_error_text(e) for e in errors if e.get("message"))
        return ",".join(codes), "; ".join(messages)[:300]
    except (ValueError, AttributeError):
        text = (resp.text or "").strip() if resp.request is not None and resp.request.method != "HEAD" else ""
        return "", text[:200]


def _error_text(error: dict) -> str:
    """An OCI error's message, with its detail when that is a short string (often a digest or tag)."""
    detail = error.get("detail")
    if isinstance(detail, dict) and len(detail) == 1:
        detail = next(iter(detail.values()))
    text = str(error["message"])
    return f"{text}: {detail}" if isinstance(detail, str) and 0 < len(detail) <= 100 else text


def _short(exc: BaseException) -> str:
    return describe_network_error(exc)
