"""The registry door's credentials, shared by both doors: GetAuthorizationToken issues passwords, the
registry door checks them and trades them for push tokens.

A password is ``pw.<expires>.<nonce>.<mac>``: an HMAC under a key kept in the store's ``meta`` table,
so it survives a restart and needs no table of its own; it is valid until the ``expiresAt`` the
service returned. Tokens are the same with ``push`` or ``pull`` as their kind.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from typing import Optional, Tuple

from pypush.server.store.store import Store

PUSH, PULL = "push", "pull"
BUYER_PASSWORD, BUYER_PULL = "bpw", "bpull"
"""A buyer's password (GetAuthorizationToken called by a buyer account) and the pull token it buys: they
carry the account, and pull only what it is entitled to."""
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


def mint(store: Store, kind: str, expires: int, account: str = "") -> str:
    """A token of ``kind`` (``pw``, PUSH, PULL or a buyer's) valid until ``expires`` (epoch seconds), carrying
    ``account`` when given."""
    body = f"{kind}.{expires}.{account + '~' if account else ''}{secrets.token_urlsafe(12)}"
    mac = hmac.new(_key(store), body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


def issue_password(store: Store, expires: int, buyer: str = "") -> str:
    """A password for user ``AWS``, valid until ``expires`` (epoch seconds): the registry owner's, or with
    ``buyer`` that buyer account's."""
    return mint(store, BUYER_PASSWORD, expires, buyer) if buyer else mint(store, "pw", expires)


def account_of(token: str) -> str:
    """The account a (checked) buyer's token carries."""
    parts = token.split(".")
    return parts[2].partition("~")[0] if len(parts) == 4 and "~" in parts[2] else ""


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
