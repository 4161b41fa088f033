"""The one question of a re-push, asked without loading requests: which manifest does each tag name?

``HEAD /v2/<repo>/manifests/<tag>`` over ``http.client``, anonymously, on one connection. It answers only
when it can do so plainly; anything else (credentials needed, a proxy, TLS trouble, an odd answer) gives
``None`` and the full transport asks instead, with its credentials, proxies and retries.
"""
from __future__ import annotations

import http.client
import os
from typing import Dict, List, Optional, Sequence

from pypush.image.model import INDEX_TYPES, MANIFEST_TYPES

ACCEPT = ", ".join(sorted(MANIFEST_TYPES | INDEX_TYPES))
"""Every manifest type pypush pushes, so the registry reports the stored manifest's own digest."""
_TIMEOUT = 15.0


def tag_digests(registry: str, repository: str, tags: Sequence[str], insecure: bool = False
                ) -> Optional[Dict[str, Optional[str]]]:
    """tag -> digest it names (None when the tag does not exist), or None when this cannot tell."""
    from pypush.transports.distribution.auth import is_loopback

    host = "registry-1.docker.io" if registry.lower() in ("docker.io", "index.docker.io") else registry
    if _proxied(host):
        return None
    schemes = ["http", "https"] if is_loopback(host) else ["https", "http"] if insecure else ["https"]
    for scheme in schemes:
        try:
            return _ask(scheme, host, repository, tags, insecure)
        except (OSError, http.client.HTTPException):
            continue  # e.g. plain http to a TLS server: try the next scheme, else let the transport decide
    return None


def _ask(scheme: str, host: str, repository: str, tags: Sequence[str], insecure: bool
         ) -> Optional[Dict[str, Optional[str]]]:
    conn = _connection(scheme, host, insecure)
    try:
        out: Dict[str, Optional[str]] = {}
        for tag in dict.fromkeys(tags):
            conn.request("HEAD", f"/v2/{repository}/manifests/{tag}",
                         headers={"Accept": ACCEPT, "User-Agent": "pypush"})
            resp = conn.getresponse()
            resp.read()
            digest = resp.getheader("Docker-Content-Digest")
            if resp.status == 404:
                out[tag] = None
            elif resp.status == 200 and digest:
                out[tag] = digest
            else:
                return None  # 401/403 (credentials), redirects, errors: the transport knows how
        return out
    finally:
        conn.close()


def _connection(scheme: str, host: str, insecure: bool) -> http.client.HTTPConnection:
    if scheme == "http":
        return http.client.HTTPConnection(host, timeout=_TIMEOUT)
    import ssl

    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None
    context = ssl.create_default_context(cafile=bundle)
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return http.client.HTTPSConnection(host, timeout=_TIMEOUT, context=context)


def _proxied(host: str) -> bool:
    """Whether a proxy variable may apply to ``host`` (then requests' proxy handling is used instead)."""
    names: List[str] = ["http_proxy", "https_proxy", "all_proxy"]
    if not any(os.environ.get(n) or os.environ.get(n.upper()) for n in names):
        return False
    from urllib.request import proxy_bypass_environment

    return not proxy_bypass_environment(host.rsplit(":", 1)[0] if host.count(":") == 1 else host)
