"""ECR's login for the registry door (/v2/): passwords from GetAuthorizationToken, Basic and Bearer.

A password is ``pw.<expires>.<nonce>.<mac>``: an HMAC under a key kept in the store's ``meta`` table,
so it survives a restart and needs no table of its own; it is valid until the ``expiresAt`` the
service returned. ``GET /token`` (ECR Public's Bearer flow) trades Basic ``AWS:<password>`` for a
push token, or nothing for an anonymous pull token. Private ECR answers ``GET /v2/`` with a Basic
challenge, ECR Public with a Bearer one (``Settings.login``).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
import time
from email.message import Message
from typing import Dict, Optional, Tuple
from urllib.parse import urlsplit

from pypush.server.store import Store

PUSH, PULL = "push", "pull"
ANONYMOUS_TOKEN_LIFETIME = 3600
KEY_META = "registry_token_key"
_key_lock = threading.Lock()


def _key(store: Store) -> bytes:
    """The HMAC key of this data directory (made once, kept in meta)."""
    cached = getattr(store, "_registry_token_key", None)
    if cached is not None:
        return cached
    with _key_lock:
        value = store.meta(KEY_META)
        if value is None:
            value = secrets.token_hex(32)
            store.set_meta(KEY_META, value)
        key = bytes.fromhex(value)
        setattr(store, "_registry_token_key", key)
        return key


def _mint(store: Store, kind: str, expires: int) -> str:
    body = f"{kind}.{expires}.{secrets.token_urlsafe(12)}"
    mac = hmac.new(_key(store), body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


def issue_password(store: Store, expires: int) -> str:
    """A password for user ``AWS``, valid until ``expires`` (epoch seconds)."""
    return _mint(store, "pw", expires)


def check_token(store: Store, token: str, kinds: Tuple[str, ...], now: Optional[float] = None) -> Optional[int]:
    """The expiry of a valid, unexpired ``token`` of one of ``kinds``; None otherwise."""
    parts = token.split(".")
    if len(parts) != 4 or parts[0] not in kinds or not parts[1].isdigit() or len(token) > 200:
        return None
    mac = hmac.new(_key(store), ".".join(parts[:3]).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac, parts[3]):
        return None
    expires = int(parts[1])
    return expires if expires > (time.time() if now is None else now) else None


def _basic(value: str) -> Optional[Tuple[str, str]]:
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, ValueError):
        return None
    return (user, password) if sep else None


def access(store: Store, headers: Message) -> Tuple[Optional[str], bool]:
    """(PUSH / PULL / None, credentials were presented) for a /v2/ request's Authorization header."""
    value = headers.get("Authorization")
    if not value:
        return None, False
    scheme, _, rest = value.strip().partition(" ")
    scheme = scheme.lower()
    if scheme == "basic":
        creds = _basic(rest)
        if creds and creds[0] == "AWS" and check_token(store, creds[1], ("pw",)):
            return PUSH, True
    elif scheme == "bearer":
        token = rest.strip()
        if check_token(store, token, ("pw", PUSH)):
            return PUSH, True
        if check_token(store, token, (PULL,)):
            return PULL, True
    return None, True


def challenge(url: str, login: str, host: Optional[str] = None) -> str:
    """The ``Www-Authenticate`` value ECR sends, with this endpoint's own URL (or the Host asked for)."""
    base = f"{urlsplit(url).scheme or 'http'}://{host}" if host else url
    if login == "private":
        return f'Basic realm="{base}/",service="ecr.amazonaws.com"'
    return f'Bearer realm="{base}/token/",service="{urlsplit(base).netloc}",scope="aws"'


def token_response(store: Store, headers: Message) -> Tuple[int, Dict[str, str], bytes]:
    """``GET /token``: Basic ``AWS:<password>`` buys a push token valid as long as the password; no
    credentials an anonymous pull token; anything else 401."""
    value = headers.get("Authorization", "")
    now = time.time()
    if value:
        scheme, _, rest = value.strip().partition(" ")
        creds = _basic(rest) if scheme.lower() == "basic" else None
        expires = check_token(store, creds[1], ("pw",), now) if creds and creds[0] == "AWS" else None
        if expires is None:
            denied = {"errors": [{"code": "DENIED", "message": "Your authorization token is invalid or has expired."}]}
            return 401, {"Content-Type": "application/json"}, json.dumps(denied).encode()
        token = _mint(store, PUSH, expires)
    else:
        expires = int(now) + ANONYMOUS_TOKEN_LIFETIME
        token = _mint(store, PULL, expires)
    issued = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    body = {"token": token, "access_token": token, "expires_in": max(1, int(expires - now)), "issued_at": issued}
    return 200, {"Content-Type": "application/json", "Cache-Control": "no-store"}, json.dumps(body).encode()
