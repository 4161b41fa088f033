"""How pypush reaches a host: which CAs it trusts, which proxy it goes through, and the connections.

The one place both transports ask. TLS trust: for AWS endpoints what botocore trusts (``AWS_CA_BUNDLE``,
else the profile's ``ca_bundle``, else botocore's bundle), applied to botocore's own calls and to the
hand-built AWS JSON requests (pypush.net.aws_json) alike; for OCI registries ``REQUESTS_CA_BUNDLE`` /
``CURL_CA_BUNDLE``, else requests' bundle. Proxies: ``HTTP(S)_PROXY`` unless ``NO_PROXY`` (or the
system's proxy settings) exempt the host, read once per transport.
"""
from __future__ import annotations

import base64
import http.client
import ipaddress
import os
import ssl
import threading
import urllib.request
from typing import Any, Callable, Dict, Hashable, List, Optional, Union
from urllib.parse import SplitResult, unquote, urlsplit

from pypush.name.patterns import DOCKER_HUB_HOST, DOCKER_HUB_NAMES

Verify = Union[bool, str]
"""``True`` (the default bundle), ``False`` (no verification) or the path of a CA bundle."""


def is_loopback(host: Optional[str]) -> bool:
    """Whether ``host`` (``host``, ``host:port``, ``[::1]:5000`` or a URL) is this machine: ``localhost``,
    127.0.0.0/8 or ``::1``."""
    if not host:
        return False
    if "://" in host:
        host = urlsplit(host).netloc.rpartition("@")[2]
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.startswith("[") else host
    name = name.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def registry_api_host(registry: str) -> str:
    """The host that serves ``registry``'s distribution API (Docker Hub's is not docker.io itself)."""
    return DOCKER_HUB_HOST if registry.lower() in DOCKER_HUB_NAMES else registry


def registry_schemes(host: str, insecure: bool) -> List[str]:
    """Schemes to try for a registry, in order: https only, unless ``insecure`` (then http after it) or on
    loopback (http first: nothing to protect there, and a TLS server answers http with 400)."""
    if is_loopback(host):
        return ["http", "https"]
    return ["https", "http"] if insecure else ["https"]


def aws_verify(session: Any) -> Verify:
    """What an AWS endpoint's certificate is checked against, in botocore's order of precedence:
    ``AWS_CA_BUNDLE``, then ``ca_bundle`` of the config profile, then botocore's default bundle."""
    return session.get_config_variable("ca_bundle") or True


def aws_verify_from_files(profile: Optional[str] = None) -> Verify:
    """``aws_verify``'s answer without loading botocore (the re-push probe): ``AWS_CA_BUNDLE``, then
    ``ca_bundle`` of the profile (``profile``, AWS_PROFILE, AWS_DEFAULT_PROFILE, else ``default``) in
    AWS_CONFIG_FILE (~/.aws/config), else botocore's default bundle."""
    if os.environ.get("AWS_CA_BUNDLE"):
        return os.environ["AWS_CA_BUNDLE"]
    import configparser

    name = profile or os.environ.get("AWS_PROFILE") or os.environ.get("AWS_DEFAULT_PROFILE") or "default"
    parser = configparser.RawConfigParser()
    try:
        parser.read(os.environ.get("AWS_CONFIG_FILE") or os.path.join(os.path.expanduser("~"), ".aws", "config"))
    except (configparser.Error, OSError, UnicodeDecodeError):
        return True
    for section in ([name] if name == "default" else []) + [f"profile {name}"]:
        value = parser.get(section, "ca_bundle", fallback=None)
        if value:
            return os.path.expanduser(value.strip())
    return True


def registry_verify(insecure: bool = False) -> Verify:
    """``verify`` for an OCI registry: off when ``insecure``, else REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE or True."""
    if insecure:
        return False
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True


def proxies_for(url: str) -> Dict[str, str]:
    """The proxies (by scheme) for ``url``: the environment's, none when NO_PROXY exempts its host."""
    parts = urlsplit(url if "://" in url else f"https://{url}")
    host = parts.hostname or ""
    if host and (urllib.request.proxy_bypass(host) or urllib.request.proxy_bypass(parts.netloc)
                 or _in_no_proxy_network(host)):
        return {}
    return {scheme: proxy for scheme, proxy in urllib.request.getproxies().items()
            if scheme in ("http", "https", "all") and proxy}


def _in_no_proxy_network(host: str) -> bool:
    """An IP address inside a network NO_PROXY names (``10.0.0.0/8``; requests honours these, urllib does not)."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    for entry in (os.environ.get("no_proxy") or os.environ.get("NO_PROXY") or "").replace(" ", "").split(","):
        if "/" in entry:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
    return False


def ssl_context(verify: Verify) -> ssl.SSLContext:
    """A client context trusting ``verify`` (botocore's default bundle for ``True``, nothing checked for False)."""
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if verify is True:
        try:  # botocore's default bundle: certifi's when installed (imported without botocore)
            import certifi

            return ssl.create_default_context(cafile=certifi.where())
        except ImportError:
            from botocore.httpsession import get_cert_path

            return ssl.create_default_context(cafile=get_cert_path(True))
    return ssl.create_default_context(cafile=verify)


def open_connection(url: SplitResult, verify: Verify = True, timeout: float = 120.0,
                    proxies: Optional[Dict[str, str]] = None) -> http.client.HTTPConnection:
    """A keep-alive connection to ``url``'s host, tunnelled (CONNECT) through its proxy if it has one."""
    host, port = url.hostname or "", url.port or (443 if url.scheme == "https" else 80)
    if proxies is None:
        proxies = proxies_for(url.geturl())
    proxy = proxies.get(url.scheme) or proxies.get("all")
    target, headers = (host, port), {}
    if proxy:
        p = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        target = (p.hostname or "", p.port or 8080)
        if p.username:
            creds = f"{unquote(p.username)}:{unquote(p.password or '')}".encode()
            headers["Proxy-Authorization"] = "Basic " + base64.b64encode(creds).decode()
    conn: http.client.HTTPConnection
    if url.scheme == "https":
        conn = http.client.HTTPSConnection(*target, timeout=timeout, context=ssl_context(verify))
    else:
        conn = http.client.HTTPConnection(*target, timeout=timeout)
    if proxy:
        conn.set_tunnel(host, port, headers=headers)
    return conn


def requests_session(pool_size: int, url: str) -> Any:
    """A pooled ``requests.Session`` for ``url``'s host with the proxies decided here. The environment is
    read once rather than on every request (requests' ``trust_env`` costs ~1 ms a request); ~/.netrc is
    not consulted; requests never retries by itself (the retry policy is pypush.net.retry's)."""
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(4, pool_size), max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = "pypush"
    session.trust_env = False
    session.proxies.update(proxies_for(url))
    return session


class KeepAlive:
    """One keep-alive ``http.client`` connection per thread (they are not thread-safe), reopened when the
    thread asks for another target; ``close`` closes every thread's."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._open: List[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def get(self, target: Hashable, opener: Callable[[], http.client.HTTPConnection]) -> http.client.HTTPConnection:
        """This thread's connection to ``target``, opened by ``opener`` when there is none yet."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.target == target:
            return conn
        self.drop()
        conn = self._local.conn = opener()
        self._local.target = target
        with self._lock:
            self._open.append(conn)
        return conn

    def drop(self) -> None:
        """Close this thread's connection (after an error, or when the server will close it)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            self._local.conn = None
            conn.close()
            with self._lock:
                if conn in self._open:
                    self._open.remove(conn)

    def close(self) -> None:
        """Close every thread's connection."""
        with self._lock:
            conns, self._open = self._open, []
        for conn in conns:
            conn.close()
