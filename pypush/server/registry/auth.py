"""ECR's login for the registry door (/v2/): passwords from GetAuthorizationToken, Basic and Bearer.

Passwords and tokens are minted and checked in pypush.server.credentials. ``GET /token`` (ECR
Public's Bearer flow) trades Basic ``AWS:<password>`` for a push token, or nothing for an anonymous
pull token. Private ECR answers ``GET /v2/`` with a Basic
challenge, ECR Public with a Bearer one (``Settings.login``).
"""
from __future__ import annotations

import base64
import binascii
import json
import time
from email.message import Message
from typing import Dict, Optional, Tuple
from urllib.parse import urlsplit

from pypush.server.credentials import BUYER_PASSWORD, BUYER_PULL, PULL, PUSH, account_of, check_token, mint
from pypush.server.store.store import Store

ANONYMOUS_TOKEN_LIFETIME = 3600
BUYER = "buyer"
"""The access level of a buyer's password or token: pulls, of premium repositories only what it is entitled to."""


def _basic(value: str) -> Optional[Tuple[str, str]]:
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, ValueError):
        return None
    return (user, password) if sep else None


def access(store: Store, headers: Message) -> Tuple[Optional[str], bool]:
    """(PUSH / PULL / BUYER / None, credentials were presented) for a /v2/ request's Authorization header."""
    value = headers.get("Authorization")
    if not value:
        return None, False
    scheme, _, rest = value.strip().partition(" ")
    scheme = scheme.lower()
    if scheme == "basic":
        creds = _basic(rest)
        if creds and creds[0] == "AWS" and check_token(store, creds[1], ("pw",)):
            return PUSH, True
        if creds and creds[0] == "AWS" and check_token(store, creds[1], (BUYER_PASSWORD,)):
            return BUYER, True
    elif scheme == "bearer":
        token = rest.strip()
        if check_token(store, token, ("pw", PUSH)):
            return PUSH, True
        if check_token(store, token, (PULL,)):
            return PULL, True
        if check_token(store, token, (BUYER_PASSWORD, BUYER_PULL)):
            return BUYER, True
    return None, True


def buyer_account(headers: Message) -> str:
    """The buyer account of a request whose credentials ``access`` found to be a buyer's."""
    scheme, _, rest = (headers.get("Authorization") or "").strip().partition(" ")
    creds = _basic(rest) if scheme.lower() == "basic" else None
    return account_of(creds[1] if creds else rest.strip())


def challenge(url: str, login: str, host: Optional[str] = None) -> str:
    """The ``Www-Authenticate`` value ECR sends, with this endpoint's own URL (or the Host asked for)."""
    base = f"{urlsplit(url).scheme or 'http'}://{host}" if host else url
    if login == "private":
        return f'Basic realm="{base}/",service="ecr.amazonaws.com"'
    return f'Bearer realm="{base}/token/",service="{urlsplit(base).netloc}",scope="aws"'


def token_response(store: Store, headers: Message) -> Tuple[int, Dict[str, str], bytes]:
    """``GET /token``: Basic ``AWS:<password>`` buys a push token valid as long as the password (a buyer's
    password a buyer's pull token); no credentials an anonymous pull token; anything else 401."""
    value = headers.get("Authorization", "")
    now = time.time()
    if value:
        scheme, _, rest = value.strip().partition(" ")
        creds = _basic(rest) if scheme.lower() == "basic" else None
        password = creds[1] if creds and creds[0] == "AWS" else ""
        owner = check_token(store, password, ("pw",), now) if password else None
        buyer = check_token(store, password, (BUYER_PASSWORD,), now) if password else None
        if owner is not None:
            expires, token = owner, mint(store, PUSH, owner)
        elif buyer is not None:  # a buyer's password buys a buyer's pull token
            expires, token = buyer, mint(store, BUYER_PULL, buyer, account_of(password))
        else:
            denied = {"errors": [{"code": "DENIED", "message": "Your authorization token is invalid or has expired."}]}
            return 401, {"Content-Type": "application/json"}, json.dumps(denied).encode()
    else:
        expires = int(now) + ANONYMOUS_TOKEN_LIFETIME
        token = mint(store, PULL, expires)
    issued = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    body = {"token": token, "access_token": token, "expires_in": max(1, int(expires - now)), "issued_at": issued}
    return 200, {"Content-Type": "application/json", "Cache-Control": "no-store"}, json.dumps(body).encode()
