"""The one question of a re-push, asked without loading requests: which manifest does each tag name?

``HEAD /v2/<repo>/manifests/<tag>`` over ``http.client`` (pypush.net.connections: the same trust and
proxies as the transport), anonymously, on one connection. It answers only when it can do so plainly;
anything else (credentials needed, TLS trouble, an odd answer) gives ``None`` and the full transport asks
instead, with its credentials and retries.
"""
from __future__ import annotations

import http.client
from typing import Dict, Optional, Sequence

from pypush.image.model import INDEX_TYPES, MANIFEST_TYPES

ACCEPT = ", ".join(sorted(MANIFEST_TYPES | INDEX_TYPES))
"""Every manifest type pypush pushes, so the registry reports the stored manifest's own digest."""
_TIMEOUT = 15.0


def tag_digests(registry: str, repository: str, tags: Sequence[str], insecure: bool = False
                ) -> Optional[Dict[str, Optional[str]]]:
    """tag -> digest it names (None when the tag does not exist), or None when this cannot tell."""
    from pypush.net.connections import registry_api_host, registry_schemes

    host = registry_api_host(registry)
    for scheme in registry_schemes(host, insecure):
        try:
            return _ask(scheme, host, repository, tags, insecure)
        except (OSError, http.client.HTTPException):
            continue  # e.g. plain http to a TLS server: try the next scheme, else let the transport decide
    return None


def _ask(scheme: str, host: str, repository: str, tags: Sequence[str], insecure: bool
         ) -> Optional[Dict[str, Optional[str]]]:
    from urllib.parse import urlsplit

    from pypush.net.connections import open_connection, registry_verify

    conn = open_connection(urlsplit(f"{scheme}://{host}"), registry_verify(insecure), timeout=_TIMEOUT)
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
