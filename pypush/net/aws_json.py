"""A small AWS JSON 1.1 client over ``http.client``: SigV4-signed POSTs on a keep-alive connection per
thread, the proxies and TLS trust of pypush.net.connections, error replies raised as AwsApiError (code from
``__type`` as botocore reads it). No retries here: callers retry through pypush.net.retry.

Used when the credentials need no botocore (``env_credentials``); every other source goes through botocore.
"""
from __future__ import annotations

import base64
import copy
import hashlib
import http.client
import json
import os
import socket
import ssl
from typing import Any, Callable, Dict, Iterable, Optional, Union
from urllib.parse import unquote, urlsplit

from pypush.net.aws_errors import AwsApiError, AwsConnectionError, AwsTlsError
from pypush.net.connections import KeepAlive, Verify, open_connection, proxies_for
from pypush.net.retry import parse_retry_after
from pypush.net.sigv4_signer import AwsCredentials, sign

ECR_PUBLIC_REGION = "us-east-1"
TARGETS = {"ecr-public": "SpencerFrontendService", "ecr": "AmazonEC2ContainerRegistry_V20150921"}
LOCAL_CREDENTIALS = AwsCredentials("pypush-local", "pypush-local")
"""The placeholder credentials of a loopback endpoint when none are configured (as botocore's path uses)."""
_STANDARD_REGION = __import__("re").compile(r"^(us|eu|ap|ca|sa|me|af|il|mx)(-gov)?-[a-z]+-\d$")


def env_credentials(profile: Optional[str], endpoint_url: Optional[str]) -> Optional[AwsCredentials]:
    """The credentials when the environment alone decides them, else None (botocore's chain must ask):
    AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY(/AWS_SESSION_TOKEN) with no profile named, or placeholders for
    a loopback endpoint with no AWS configuration at all. FIPS, dual-stack and configured endpoint URLs
    are botocore's to resolve, so they give None too."""
    from pypush.net.connections import is_loopback

    env = os.environ
    if profile or env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE") or env.get("AWS_USE_FIPS_ENDPOINT") \
            or env.get("AWS_USE_DUALSTACK_ENDPOINT") or any(k.startswith("AWS_ENDPOINT_URL") for k in env):
        return None
    key, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
    home = os.path.expanduser("~")
    config = env.get("AWS_CONFIG_FILE") or os.path.join(home, ".aws", "config")
    if key and secret:
        if os.path.exists(config) and _endpoint_configured(config):
            return None
        return AwsCredentials(key, secret, env.get("AWS_SESSION_TOKEN", ""))
    files = [env.get("AWS_SHARED_CREDENTIALS_FILE") or os.path.join(home, ".aws", "credentials"), config]
    if is_loopback(endpoint_url) and not any(os.path.exists(f) for f in files):
        return LOCAL_CREDENTIALS
    return None


def _endpoint_configured(path: str) -> bool:
    """Whether the default profile of the config file at ``path`` changes which endpoint botocore would use
    (or cannot be read: then botocore decides)."""
    import configparser

    parser = configparser.RawConfigParser()
    try:
        parser.read(path)
    except (configparser.Error, OSError, UnicodeDecodeError):
        return True
    return any(parser.has_option("default", k) for k in ("endpoint_url", "services", "use_fips_endpoint",
                                                          "use_dualstack_endpoint"))


def default_endpoint(service: str, region: str) -> Optional[str]:
    """The service's endpoint in a standard AWS region (None elsewhere: botocore knows the partitions)."""
    if not _STANDARD_REGION.match(region or ""):
        return None
    return f"https://api.{'ecr-public' if service == 'ecr-public' else 'ecr'}.{region}.amazonaws.com"


Body = Iterable[Union[bytes, bytearray]]
"""A request body as pieces; iterated again for each attempt, so it must be replayable (not an iterator)."""


class AwsJsonClient:
    """POSTs of one AWS JSON 1.1 service at ``endpoint_url``. ``tunnel``: reach a plain-http endpoint through
    its proxy with CONNECT (the big UploadLayerPart bodies) instead of forwarding (botocore's way)."""

    def __init__(self, service: str, region: str, endpoint_url: str, credentials: Callable[[], AwsCredentials],
                 verify: Verify = True, proxies: Optional[Dict[str, str]] = None,
                 pace: Optional[Callable[[str], None]] = None, timeout: float = 120.0, tunnel: bool = True):
        self.service, self.region, self.endpoint_url = service, region, endpoint_url.rstrip("/")
        self.url = urlsplit(self.endpoint_url + "/")
        self._credentials, self._verify, self._pace, self._timeout = credentials, verify, pace, timeout
        self._proxies = proxies_for(self.url.geturl()) if proxies is None else proxies
        proxy = self._proxies.get(self.url.scheme) or self._proxies.get("all")
        self._forward = proxy if proxy and self.url.scheme == "http" and not tunnel else None
        self._conns = KeepAlive()

    def call(self, operation: str, params: Dict[str, Any]) -> Dict[str, Any]:
        """One request; the reply's JSON document, or AwsApiError / AwsConnectionError / AwsTlsError."""
        body = json.dumps(params).encode()
        return self.send(operation, [body], hashlib.sha256(body).hexdigest())

    def send(self, operation: str, pieces: Body, body_sha256: str, length: Optional[int] = None) -> Dict[str, Any]:
        """POST a body given as ``pieces`` whose SHA-256 (and, when they are produced as they are sent,
        byte ``length``) the caller computed."""
        headers = {"Host": self.url.netloc, "Content-Type": "application/x-amz-json-1.1",
                   "X-Amz-Target": f"{TARGETS[self.service]}.{operation}",
                   "Content-Length": str(sum(len(p) for p in pieces) if length is None else length)}
        sign(headers, body_sha256, self.service, self.region, self._credentials())
        headers["User-Agent"] = "pypush"
        path = "/"
        if self._forward:
            path = self.endpoint_url + "/"
            auth = _proxy_authorization(self._forward)
            if auth:
                headers["Proxy-Authorization"] = auth
        if self._pace is not None:
            self._pace(operation)
        conn = self._conns.get(None, self._open)
        reused = conn.sock is not None
        try:
            status, data, response_headers = self._exchange(conn, path, headers, pieces)
        except AwsConnectionError as exc:
            if not (reused and exc.cause in ("RemoteDisconnected", "BrokenPipeError", "ConnectionResetError")):
                raise
            conn = self._conns.get(None, self._open)  # the server had closed the idle keep-alive: once more
            status, data, response_headers = self._exchange(conn, path, headers, pieces)
        try:
            doc = json.loads(data) if data else {}
        except ValueError:
            doc = {}
        doc = doc if isinstance(doc, dict) else {}
        if status == 200:
            return doc
        code = str(doc.get("__type") or status)
        code = code.split(":", 1)[0].rsplit("#", 1)[-1]
        raise AwsApiError(status, code, str(doc.get("message", doc.get("Message", "")) or ""), doc,
                          parse_retry_after(response_headers.get("retry-after")))

    def _exchange(self, conn: http.client.HTTPConnection, path: str, headers: Dict[str, str], pieces: Body) -> tuple:
        url = self.endpoint_url + "/"
        if conn.sock is None:
            try:
                conn.connect()
            except ssl.SSLError as exc:
                self._conns.drop()
                raise _tls_error(exc, url) from None
            except (socket.timeout, TimeoutError) as exc:
                self._conns.drop()
                raise AwsConnectionError(f'Connect timeout on endpoint URL: "{url}"', cause=type(exc).__name__) from None
            except (OSError, http.client.HTTPException) as exc:
                self._conns.drop()
                if self._proxies and "Tunnel" in str(exc):
                    proxy = self._proxies.get(self.url.scheme) or self._proxies.get("all") or ""
                    raise AwsConnectionError(f'Failed to connect to proxy URL: "{_redact(proxy)}"',
                                             cause=type(exc).__name__) from None
                raise AwsConnectionError(f'Could not connect to the endpoint URL: "{url}"',
                                         cause=type(exc).__name__) from None
        try:
            conn.putrequest("POST", path, skip_host=True, skip_accept_encoding=True)
            for key, value in headers.items():
                conn.putheader(key, value)
            conn.endheaders()
            try:
                for piece in pieces:
                    conn.send(piece)
            except (OSError, http.client.HTTPException):
                raise
            except BaseException:  # the body stopped half-way (its source failed): the connection is spent
                self._conns.drop()
                raise
            resp = conn.getresponse()
            data = resp.read()
        except ssl.SSLError as exc:
            self._conns.drop()
            raise _tls_error(exc, url) from None
        except (socket.timeout, TimeoutError) as exc:
            self._conns.drop()
            raise AwsConnectionError(f'Read timeout on endpoint URL: "{url}"', closed=True,
                                     cause=type(exc).__name__) from None
        except (OSError, http.client.HTTPException) as exc:
            self._conns.drop()
            raise AwsConnectionError(f'Connection was closed before we received a valid response from endpoint '
                                     f'URL: "{url}".', closed=True, cause=type(exc).__name__) from None
        if resp.will_close:
            self._conns.drop()
        return resp.status, data, {k.lower(): v for k, v in resp.getheaders()}

    def _open(self) -> http.client.HTTPConnection:
        if self._forward:
            p = urlsplit(self._forward if "://" in self._forward else f"http://{self._forward}")
            return http.client.HTTPConnection(p.hostname or "", p.port or 8080, timeout=self._timeout)
        return open_connection(self.url, self._verify, self._timeout, self._proxies)

    def clone(self) -> "AwsJsonClient":
        """The same client with connections of its own (closed by its own ``close``)."""
        other = copy.copy(self)
        other._conns = KeepAlive()
        return other

    def close(self) -> None:
        """Close every thread's connection."""
        self._conns.close()


def _tls_error(exc: ssl.SSLError, url: str) -> AwsTlsError:
    return AwsTlsError(f"SSL validation failed for {url} {exc}", getattr(exc, "verify_message", "") or str(exc))


def _proxy_authorization(proxy: str) -> str:
    p = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if not p.username:
        return ""
    creds = f"{unquote(p.username)}:{unquote(p.password or '')}".encode()
    return "Basic " + base64.b64encode(creds).decode()


def _redact(proxy: str) -> str:
    p = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    return proxy if not p.password else proxy.replace(f":{p.password}@", ":***@")

