"""The OCI distribution authentication flows: ``WWW-Authenticate`` challenges answered with Basic
credentials or the Bearer token flow (realm, service, scope), with a token cache per scope that is
refreshed before it expires. Secrets never appear in ``repr``, logs or error messages.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Tuple, Union, cast

from pypush.errors import AuthError, TransientError
from pypush.net.connections import is_loopback, proxies_for
from pypush.net.retry import parse_retry_after
from pypush.transports.distribution.docker_credentials import Credentials, credentials_for, login_hint

if TYPE_CHECKING:  # requests is imported by the transport that hands us its session
    import requests

log = logging.getLogger(__name__)

_TOKEN_TIMEOUT = (15.0, 60.0)
clock = time.monotonic
"""When tokens are judged fresh or stale (tests move it forward instead of waiting)."""


_SCHEME = re.compile(r"\s*,?\s*([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)(?=\s|,|$)")
_PARAM = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,"]*)\s*(?:,|$)')


def parse_challenges(header: str) -> List[Tuple[str, Dict[str, str]]]:
    """``WWW-Authenticate`` → [(lower-case scheme, {param: value})], in order."""
    out: List[Tuple[str, Dict[str, str]]] = []
    pos = 0
    while pos < len(header):
        m = _SCHEME.match(header, pos)
        if not m:
            break
        pos = m.end()
        params: Dict[str, str] = {}
        while True:
            p = _PARAM.match(header, pos)
            if not p or p.end() == pos:
                break
            value = p.group(2)
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            params[p.group(1).lower()] = value
            pos = p.end()
        out.append((m.group(1).lower(), params))
    return out


Scopes = Tuple[str, ...]


@dataclass
class _Token:
    value: str
    refresh_at: float


class Authenticator:
    """Per-registry authentication state, shared by a transport's threads.

    Before each request the transport asks ``authorization(scopes)`` for a header value; after a 401
    it calls ``challenge(response, scopes)`` and retries once when that returns True. ``scopes`` are
    token scopes like ``repository:NAME:pull,push``.
    """

    def __init__(self, registry: str, session: "requests.Session", credentials: Optional[Credentials] = None,
                 *, lookup: bool = True, verify: Union[bool, str] = True):
        self.registry = registry
        self._session = session
        self._creds = credentials
        self._looked_up = credentials is not None or not lookup
        self._verify = verify
        self._lock = threading.Lock()
        self._scheme: Optional[str] = None  # "basic" or "bearer" once challenged
        self._realm = ""
        self._service = ""
        self._tokens: Dict[Scopes, _Token] = {}
        self._fetch_locks: Dict[Scopes, threading.Lock] = {}
        self.token_requests = 0  # how many tokens were fetched (observable in tests)

    @property
    def credentials(self) -> Optional[Credentials]:
        """The credentials in use, resolved from the docker config on first need."""
        with self._lock:
            if not self._looked_up:
                self._looked_up = True
                self._creds = credentials_for(self.registry)
            return self._creds

    def describe(self) -> str:
        """Where the credentials come from, for error messages (never the secret itself)."""
        creds = self.credentials
        return f"credentials {creds.source}" if creds else "no credentials (anonymous)"

    def authorization(self, scopes: Scopes) -> Optional[str]:
        """The ``Authorization`` header value to send for a request needing ``scopes``, if any."""
        if self._scheme == "basic":
            creds = self.credentials
            return creds.basic() if creds else None
        if self._scheme == "bearer":
            token = self._tokens.get(scopes)
            if token is None or clock() >= token.refresh_at:
                token = self._fetch(scopes, stale=token)
            return "Bearer " + token.value if token.value else None
        return None

    def challenge(self, response: "requests.Response", scopes: Scopes, sent: Optional[str]) -> bool:
        """Learn from a 401 to a request that carried ``sent``; True when a retry may succeed."""
        challenges = parse_challenges(response.headers.get("WWW-Authenticate", ""))
        for scheme, params in challenges:
            if scheme == "bearer" and params.get("realm"):
                with self._lock:
                    self._scheme, self._realm = "bearer", params["realm"]
                    self._service = params.get("service", "")
                    current = self._tokens.get(scopes)
                if current is not None and sent != "Bearer " + current.value:
                    return True  # another thread refreshed the token meanwhile: retry with it
                extra = tuple(s for s in params.get("scope", "").split(" ") if s and not _covered(s, scopes))
                self._fetch(scopes, stale=current, extra=extra)
                return True
        for scheme, _ in challenges:
            if scheme == "basic":
                creds = self.credentials
                with self._lock:
                    self._scheme = "basic"
                basic = creds.basic() if creds else None
                return basic is not None and basic != sent
        return False

    def _fetch(self, scopes: Scopes, stale: Optional[_Token], extra: Scopes = ()) -> _Token:
        """A fresh token for ``scopes`` replacing ``stale``; one fetch at a time per scope, shared."""
        with self._lock:
            lock = self._fetch_locks.setdefault(scopes, threading.Lock())
        with lock:
            current = self._tokens.get(scopes)
            if current is not None and current is not stale and clock() < current.refresh_at:
                return current
            token = self._request_token(scopes + extra)
            with self._lock:
                self._tokens[scopes] = token
            return token

    def _proxies(self) -> Dict[str, str]:
        """Proxies from the environment for the token service (which may be another host)."""
        if self._session.trust_env:
            return {}  # requests reads the environment itself
        # None: no session proxy (requests drops None settings; its annotations only allow str)
        return proxies_for(self._realm) or cast(Dict[str, str], {"http": None, "https": None})

    def _request_token(self, scopes: Sequence[str]) -> _Token:
        creds = self.credentials
        params: List[Tuple[str, str]] = []
        if self._service:
            params.append(("service", self._service))
        params.extend(("scope", s) for s in scopes)
        self.token_requests += 1
        where = _host_of(self._realm)
        if creds is not None and self._realm.lower().startswith("http://") and self._verify is not False \
                and not is_loopback(where):
            raise AuthError(f"{self.registry}: the token service {where} is plain http: credentials are not "
                            f"sent there unless --insecure is given")
        try:
            if creds is not None and creds.identity_token:
                form = dict(params, grant_type="refresh_token", refresh_token=creds.identity_token,
                            client_id="pypush", scope=" ".join(scopes))
                resp = self._session.post(self._realm, data=form, timeout=_TOKEN_TIMEOUT, verify=self._verify,
                                          proxies=self._proxies())
            else:
                headers = {}
                basic = creds.basic() if creds else None
                if basic:
                    headers["Authorization"] = basic
                resp = self._session.get(self._realm, params=params, headers=headers, timeout=_TOKEN_TIMEOUT,
                                         verify=self._verify, proxies=self._proxies())
        except OSError as exc:  # requests' ConnectionError/Timeout derive from OSError
            raise TransientError(f"{self.registry}: token service {where} unreachable "
                                 f"({exc.__class__.__name__})") from None
        if resp.status_code in (401, 403):
            raise AuthError(f"{self.registry}: the token service {where} refused {self.describe()} "
                            f"(HTTP {resp.status_code}); {login_hint(self.registry, creds)}",
                            code=str(resp.status_code))
        if resp.status_code == 429 or resp.status_code >= 500:
            err = TransientError(f"{self.registry}: token service {where} answered HTTP {resp.status_code}",
                                 code=str(resp.status_code))
            err.retry_after = parse_retry_after(resp.headers.get("Retry-After"))  # type: ignore[attr-defined]
            raise err
        try:
            doc = resp.json()
            value = doc.get("token") or doc.get("access_token") or ""
            expires_in = float(doc.get("expires_in") or 60)
        except (ValueError, AttributeError, TypeError):
            raise AuthError(f"{self.registry}: the token service {where} answered HTTP {resp.status_code} "
                            f"without a token") from None
        if resp.status_code != 200 or not isinstance(value, str) or not value:
            raise AuthError(f"{self.registry}: the token service {where} answered HTTP {resp.status_code} "
                            f"without a token")
        # Refresh well before expiry: a request must not start with a token about to lapse.
        lifetime = max(0.0, min(expires_in - 10.0, expires_in * 0.8))
        return _Token(value, clock() + lifetime)


def _covered(scope: str, scopes: Scopes) -> bool:
    """Whether ``scopes`` already ask for ``scope`` (``type:name:actions``; actions in any order)."""
    resource, _, actions = scope.rpartition(":")
    wanted = set(actions.split(","))
    for have in scopes:
        have_resource, _, have_actions = have.rpartition(":")
        if have_resource == resource and wanted <= set(have_actions.split(",")):
            return True
    return False


def _host_of(url: str) -> str:
    m = re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://([^/?#]*)", url)
    return m.group(1).rpartition("@")[2] if m else url
