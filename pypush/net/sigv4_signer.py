"""AWS Signature Version 4 for the hand-built AWS JSON requests (no botocore needed).

Signs the way botocore's ``SigV4Auth`` does: every header but User-Agent, Expect, X-Amzn-Trace-Id and
Authorization is signed, values whitespace-collapsed, the payload's SHA-256 given by the caller.
"""
from __future__ import annotations

import datetime
import hashlib
import hmac
from typing import Dict, NamedTuple, Optional, Tuple

_UNSIGNED = {"user-agent", "expect", "x-amzn-trace-id", "authorization"}


class AwsCredentials(NamedTuple):
    """An access key, its secret and the session token ("" when none)."""

    access_key: str
    secret_key: str
    token: str = ""


def sign(headers: Dict[str, str], payload_sha256: str, service: str, region: str, creds: AwsCredentials,
         method: str = "POST", path: str = "/", query: str = "", amz_date: Optional[str] = None) -> Dict[str, str]:
    """Add ``X-Amz-Date``, ``X-Amz-Security-Token`` (with a token) and ``Authorization`` to ``headers``
    (which must hold ``Host``); returns ``headers``. ``amz_date`` (``YYYYMMDDTHHMMSSZ``) defaults to now."""
    if amz_date is None:
        amz_date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    headers["X-Amz-Date"] = amz_date
    if creds.token:
        headers["X-Amz-Security-Token"] = creds.token
    values: Dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        if key not in _UNSIGNED:
            values[key] = " ".join(str(value).split())
    names = sorted(values)
    canonical = "\n".join([method, path, query, *(f"{n}:{values[n]}" for n in names), "", ";".join(names),
                           payload_sha256])
    scope, signature = sign_canonical(canonical, amz_date, region, service, creds.secret_key)
    headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={creds.access_key}/{scope}, "
                                f"SignedHeaders={';'.join(names)}, Signature={signature}")
    return headers


def sign_canonical(canonical_request: str, amz_date: str, region: str, service: str,
                   secret_key: str) -> Tuple[str, str]:
    """(credential scope, hex signature) of a SigV4 canonical request made at ``amz_date``."""
    day = amz_date[:8]
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()])
    key = ("AWS4" + secret_key).encode("utf-8")
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return scope, hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
