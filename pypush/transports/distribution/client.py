"""One OCI distribution (v2) registry over HTTP(S): the scheme, credentials, retries and the requests.

``RegistryClient`` is what a registry source (pypush.sources.remote) and a push destination
(pypush.transports.distribution.destination) both talk through. One ``requests.Session`` (connection
reuse, a pool as large as the engine's threads) serves every thread; bodies that are file ranges can go
by sendfile on a per-thread plain-http connection.

Schemes: ``https`` with certificate verification (``REQUESTS_CA_BUNDLE`` names extra CAs).
``insecure`` turns verification off and, when the server does not speak TLS, falls back to plain
http (like crane). Loopback hosts (``localhost``, 127.0.0.0/8, ``::1``) need no ``insecure`` (like
docker): plain http is tried first, then https — whose certificate must verify unless ``insecure``.
"""
from __future__ import annotations

import http.client
import logging
import threading
from typing import Callable, Iterator, Optional, Sequence, Tuple, TypeVar, Union
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests

from pypush.errors import AuthError, PypushError, RegistryError, TransientError
from pypush.net.connections import (KeepAlive, Verify, registry_api_host, registry_schemes, registry_verify,
                                    requests_session)
from pypush.net.retry import (Backoff, RetryPolicy, describe_network_error, gave_up, parse_retry_after,
                              unreachable)
from pypush.net.stats import TransferStats
from pypush.net.zero_copy import FileRange, can_send_file, send_file
from pypush.transports.base import ProgressFn
from pypush.transports.distribution.docker_credentials import Credentials, login_hint
from pypush.transports.distribution.token_auth import Authenticator, Scopes

log = logging.getLogger(__name__)

T = TypeVar("T")

TIMEOUT = (15.0, 300.0)
"""(connect, read) seconds for every request."""


class Resync(Exception):
    """An upload must continue from the registry's idea of the offset (retried as transient)."""

    retry_after = 0.0


class SizedBody:
    """A request body of known length streamed from pieces: requests sends Content-Length, not chunked."""

    def __init__(self, pieces: Iterator[bytes], length: int):
        self._pieces = pieces
        self._length = length

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[bytes]:
        return self._pieces


RequestBody = Union[bytes, SizedBody, Iterator[bytes]]
"""What ``send`` streams: bytes (replayable), a ``SizedBody``, or pieces sent chunked."""


class RegistryClient:
    """Requests to one registry with its credentials and retries; safe to share between threads."""

    def __init__(self, registry: str, *, repository: str = "", access: str = "push", insecure: bool = False,
                 credentials: Optional[Credentials] = None, session: Optional[requests.Session] = None,
                 pool_size: int = 8, backoff: Backoff = Backoff(), lookup_credentials: bool = True):
        """``registry`` is ``host[:port]``. Without ``credentials`` they are looked up in docker's
        config.json when the registry first asks (unless ``lookup_credentials`` is False). ``repository``
        and ``access`` (push or pull) only word the message of a refusal."""
        self.registry = registry
        self.repository = repository
        self.access = access
        self.insecure = insecure
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
        self.open_api = False
        """The scheme probe saw GET /v2/ answer 200 without credentials."""
        self.stats = TransferStats()  # retries, throttling; a destination adds its uploads
        self._retry = RetryPolicy(backoff, self.stats, registry)
        self._files = KeepAlive()  # per-thread plain-http connection for sendfile bodies

    def check_login(self) -> bool:
        """GET /v2/ with the credentials (a token of no scope, as ``docker login`` asks): an AuthError when the
        registry refuses them; False when it asks for none (nothing to check)."""
        self.base_url()
        if self.open_api:
            return False
        self.call("GET", "/v2/", scopes=(), ok=(200,), what="login (GET /v2/)")
        return True

    def close(self) -> None:
        """Close the pooled connections (only of a session this client created) and every thread's
        sendfile connection."""
        self._files.close()
        if self._own_session:
            self._session.close()

    def __enter__(self) -> "RegistryClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- the scheme -------------------------------------------------------------------------

    def url(self, path: str) -> str:
        """Absolute URL of an API path (probing the scheme on first use when there is a choice)."""
        if path.startswith(("http://", "https://")):
            return path
        return self.base_url() + path

    def base_url(self) -> str:
        """``scheme://host``, the scheme probed on first use when there is a choice."""
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
                self.open_api = resp.status_code == 200
                return base
            answered = answered or base  # e.g. HTTP 400 from a TLS server asked in plain http
        if answered is not None:
            return answered
        assert last is not None
        raise last

    # ----- requests ---------------------------------------------------------------------------

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
                raise Resync("credentials refreshed")
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
                self._files.drop()
                raise requests.ConnectionError(f"{method} {parts.path}: {exc}") from None
            except BaseException:
                self._files.drop()  # stopped half-way through the body
                raise
            if raw.will_close:
                self._files.drop()
            log.debug("%s %s -> %s (sendfile)", method, parts.path, resp.status_code)
            if resp.status_code != 401 or attempt or not self._auth.challenge(resp, scopes, auth):
                return resp
        raise AssertionError("unreachable")

    def can_send_file(self, url: str) -> bool:
        """Whether a body to ``url`` may go by sendfile (plain http, no proxy)."""
        return can_send_file(self.url(url), self._session.proxies)

    def _file_connection(self, netloc: str) -> http.client.HTTPConnection:
        return self._files.get(netloc, lambda: http.client.HTTPConnection(netloc, timeout=TIMEOUT[1]))

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
        except Resync as exc:
            raise TransientError(f"{self.registry}: {what}: {exc} (gave up after {self.backoff.attempts} attempts)",
                                 code="RESYNC") from None

    def location(self, resp: requests.Response) -> str:
        """The absolute upload URL a response names."""
        loc = resp.headers.get("Location")
        if not loc:
            raise RegistryError(f"{self.registry}: upload answer HTTP {resp.status_code} without a Location",
                                code="NO_LOCATION")
        return urljoin(resp.url, loc)

    def cancel(self, location: str, scopes: Scopes) -> None:
        """Best effort DELETE of an upload session."""
        try:
            self.send("DELETE", location, scopes=scopes, timeout=(5.0, 10.0)).close()
        except (requests.RequestException, PypushError) as exc:
            log.debug("could not cancel upload: %s", _short(exc))

    # ----- errors -----------------------------------------------------------------------------

    def _connection_error(self, exc: BaseException, what: str) -> PypushError:
        if isinstance(exc, requests.exceptions.SSLError):
            return RegistryError(f"{self.registry}: {what}: TLS failed ({_short(exc)}); trust its CA through "
                                 f"REQUESTS_CA_BUNDLE, or use --insecure for a self-signed certificate or plain HTTP",
                                 code="TLS")
        if isinstance(exc, requests.exceptions.ProxyError):
            tries = "not retried" if unreachable(exc) else f"gave up after {self.backoff.attempts} attempts"
            return TransientError(f"{self.registry}: {what}: the proxy (HTTP_PROXY/HTTPS_PROXY) could not be reached "
                                  f"or refused the request ({_short(exc)}; {tries}); fix it or exempt this host "
                                  f"through NO_PROXY", code="PROXY")
        if _is_transient(exc):
            return TransientError(f"{self.registry}: {what}: {gave_up(exc, self.backoff.attempts)}",
                                  code="UNREACHABLE" if unreachable(exc) else "CONNECTION")
        return RegistryError(f"{self.registry}: {what}: {_short(exc)}")

    def refusal(self, resp: requests.Response, what: str) -> PypushError:
        """The error for an unexpected answer, with the registry's OCI error code and message."""
        status = resp.status_code
        code, message = oci_error(resp)
        detail = f"HTTP {status}" + (f" {code}" if code else "") + (f": {message}" if message else "")
        if status == 403 and "resource-based policy" in message:  # ECR's words: the repository's policy, not a login
            return AuthError(f"{self.registry}: {what} refused: {detail}; the repository's policy denies it "
                             f"(pypush policy get REPO shows it)", code=code or str(status))
        if status in (401, 403):
            rights = f"; and check {self.access} rights to {self.repository}" if self.repository else ""
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


# OCI error codes that say the request itself is wrong: retrying cannot help, whatever the HTTP status (the
# distribution registry answers 500 UNKNOWN,MANIFEST_BLOB_UNKNOWN for a foreign layer's URL it does not allow)
_REFUSALS = frozenset({"BLOB_UNKNOWN", "DIGEST_INVALID", "MANIFEST_BLOB_UNKNOWN", "MANIFEST_INVALID",
                       "MANIFEST_UNVERIFIED", "NAME_INVALID", "SIZE_INVALID", "TAG_INVALID", "UNSUPPORTED"})


def oci_error(resp: requests.Response) -> Tuple[str, str]:
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


def _same_host(url: str, host: str) -> bool:
    """Whether ``url`` points at ``host`` (``host[:port]``; a default port need not be spelled)."""
    target, ours = urlsplit(url), urlsplit("//" + host)
    default = {"https": 443, "http": 80}.get(target.scheme)
    return target.hostname == ours.hostname and (target.port or default) == (ours.port or default)


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, (TransientError, Resync)):
        return True
    if isinstance(exc, requests.exceptions.SSLError):
        return False
    return isinstance(exc, (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError))


def _untrusted_certificate(exc: BaseException) -> bool:
    """The server speaks TLS but its certificate did not verify (no point trying plain http)."""
    return isinstance(exc, requests.exceptions.SSLError) and "CERTIFICATE_VERIFY_FAILED" in str(exc).upper()


def _response(raw: http.client.HTTPResponse, method: str, url: str) -> requests.Response:
    """A requests.Response of an http.client answer (read whole: registry answers to uploads are small)."""
    resp = requests.Response()
    resp.status_code, resp.reason, resp.url = raw.status, raw.reason, url
    resp.headers = requests.structures.CaseInsensitiveDict(raw.getheaders())
    resp._content = raw.read()
    resp.request = requests.Request(method, url).prepare()
    return resp


def _short(exc: BaseException) -> str:
    return describe_network_error(exc)
