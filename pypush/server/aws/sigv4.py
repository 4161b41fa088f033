"""SigV4 on the server side: every request must carry a well-formed signature; with keys
configured the signature is recomputed from the request as received and compared.

The canonical request holds exactly the headers the client's SignedHeaders lists: SDKs differ in
which they sign (JavaScript v3 signs amz-sdk-invocation-id, amz-sdk-request, x-amz-user-agent and
content-length; others sign user-agent or expect too), so no header is left out or added here."""
from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime, timedelta, timezone
from email.message import Message
from typing import List, Optional
from urllib.parse import quote, unquote_plus

from pypush.net.sigv4_signer import sign_canonical
from pypush.server.aws.protocol import ApiError

_AUTH = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<akid>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/,\s]+)/"
    r"(?P<service>[^/,\s]+)/aws4_request,\s*SignedHeaders=(?P<signed>[a-z0-9;\-]+),\s*"
    r"Signature=(?P<sig>[0-9a-f]{64})\s*"
)
MAX_SKEW = 15 * 60


def _stamp(when: datetime) -> str:
    return when.strftime("%Y%m%dT%H%M%SZ")


class Credential:
    """The parsed Authorization header of a request."""

    def __init__(self, match: "re.Match[str]"):
        self.access_key = match["akid"]
        self.date = match["date"]
        self.region = match["region"]
        self.service = match["service"]
        self.signed_headers = match["signed"].split(";")
        self.signature = match["sig"]


def parse_authorization(headers: Message) -> Credential:
    """The request's SigV4 credential, or the service's error for a missing/malformed one."""
    value = headers.get("Authorization")
    if not value:
        raise ApiError("MissingAuthenticationTokenException", "Missing Authentication Token")
    match = _AUTH.fullmatch(value.strip())
    if not match:
        raise ApiError("IncompleteSignatureException", "Authorization header requires Credential, "
                       "SignedHeaders and Signature of AWS4-HMAC-SHA256", status=400)
    cred = Credential(match)
    if "host" not in cred.signed_headers:
        raise ApiError("IncompleteSignatureException", "SignedHeaders must include host", status=400)
    return cred


UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
"""An ``X-Amz-Content-SHA256`` value some SDKs send instead of the body's hash; it is then what was signed."""


def canonical_uri(path: str) -> str:
    """The canonical URI of a request path as received (percent-encoded once): dot segments removed,
    then encoded again, as every SDK signs for services other than S3."""
    out: List[str] = []
    for segment in path.split("/")[1:]:
        if segment == "..":
            if out:
                out.pop()
        elif segment != ".":
            out.append(segment)
    return quote("/" + "/".join(out), safe="/~")


def canonical_query(query: str) -> str:
    """Each name and value decoded, encoded in SigV4's RFC 3986 form, sorted."""
    pairs = []
    for item in filter(None, query.split("&")):
        name, _, value = item.partition("=")
        pairs.append((quote(unquote_plus(name), safe="-_.~"), quote(unquote_plus(value), safe="-_.~")))
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


def canonical_request(method: str, target: str, headers: Message, signed_headers: List[str],
                      payload_hash: str) -> str:
    """The SigV4 canonical request of a received request: exactly the headers its SignedHeaders names
    (repeated headers joined with commas, values whitespace-collapsed), whatever else it carries."""
    path, _, query = target.partition("?")
    lines = [method, canonical_uri(path), canonical_query(query)]
    for name in signed_headers:
        values = headers.get_all(name)
        if values is None:
            raise ApiError("IncompleteSignatureException", f"Signed header {name!r} is missing", status=400)
        lines.append(f"{name}:{','.join(' '.join(str(v).split()) for v in values)}")
    return "\n".join([*lines, "", ";".join(signed_headers), payload_hash])


class Verifier:
    """Checks requests against one access key / secret key pair."""

    def __init__(self, access_key: str, secret_key: str):
        self.access_key = access_key
        self.secret_key = secret_key

    def verify(self, method: str, path: str, headers: Message, body: memoryview,
               now: Optional[datetime] = None) -> Credential:
        """Raise UnrecognizedClientException / InvalidSignatureException unless the request is signed
        with this key pair. ``headers`` as http.server parses them: lookups ignore case."""
        cred = parse_authorization(headers)
        if not hmac.compare_digest(cred.access_key, self.access_key):
            raise ApiError("UnrecognizedClientException", "The security token included in the request is invalid.")
        stamp = headers.get("X-Amz-Date", "")
        try:
            when = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
        except ValueError:
            raise ApiError("IncompleteSignatureException", "X-Amz-Date is missing or malformed") from None
        now = now or datetime.now(timezone.utc)
        skew = (now - when).total_seconds()
        if skew > MAX_SKEW:
            raise ApiError("InvalidSignatureException", f"Signature expired: {stamp} is now earlier than "
                           f"{_stamp(now - timedelta(seconds=MAX_SKEW))} ({_stamp(now)} - 15 min.)")
        if skew < -MAX_SKEW:
            raise ApiError("InvalidSignatureException", f"Signature not yet current: {stamp} is still later than "
                           f"{_stamp(now + timedelta(seconds=MAX_SKEW))} ({_stamp(now)} + 15 min.)")
        if stamp[:8] != cred.date:
            raise ApiError("InvalidSignatureException", f"Date in Credential scope does not match YYYYMMDD from "
                           f"ISO-8601 version of date from HTTP: '{cred.date}' != '{stamp[:8]}', from '{stamp}'.")
        payload_hash = hashlib.sha256(body).hexdigest()
        claimed = headers.get("X-Amz-Content-SHA256")
        if claimed == UNSIGNED_PAYLOAD:
            payload_hash = claimed
        elif claimed is not None and claimed != payload_hash:
            raise ApiError("XAmzContentSHA256Mismatch", "The provided x-amz-content-sha256 header does not "
                           "match what was computed", status=400)
        canonical = canonical_request(method, path, headers, cred.signed_headers, payload_hash)
        _, expected = sign_canonical(canonical, stamp, cred.region, cred.service, self.secret_key)
        if not hmac.compare_digest(expected, cred.signature):
            raise ApiError("InvalidSignatureException", "The request signature we calculated does not match the "
                           "signature you provided. Check your AWS Secret Access Key and signing method.")
        return cred
