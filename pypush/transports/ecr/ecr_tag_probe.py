"""The one question of a re-push to ECR, asked without loading botocore: which image does each tag name?

One signed (SigV4) JSON request over ``http.client``: ``DescribeImages`` on ECR Public, ``BatchGetImage``
on private ECR. Only when the answer is plain to get: credentials in the environment
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``, no profile named), or a loopback
endpoint with no AWS configuration at all (placeholder credentials, as the transport uses). Anything else
(profiles, SSO, roles, FIPS endpoints, an unexpected answer) gives ``None`` and the transport asks instead.
"""
from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import os
from typing import Dict, Optional, Sequence, Tuple
from urllib.parse import urlsplit

from pypush.name.reference import ECR_PUBLIC, Destination

_TARGET = {"ecr-public": "SpencerFrontendService", "ecr": "AmazonEC2ContainerRegistry_V20150921"}
_MANIFEST_TYPES = ["application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
                   "application/vnd.docker.distribution.manifest.v2+json",
                   "application/vnd.docker.distribution.manifest.list.v2+json"]
_ABSENT = ("ImageNotFoundException", "RepositoryNotFoundException", "ImageTagDoesNotExistException")
_TIMEOUT = 15.0


def tag_digests(dest: Destination, tags: Sequence[str], endpoint_url: Optional[str] = None,
                profile: Optional[str] = None) -> Optional[Dict[str, Optional[str]]]:
    """tag -> image digest it names (None: no such tag or repository; on ECR Public, which only says that
    one of the tags asked is missing, every tag then reads None), or None when this cannot tell."""
    from pypush.net.connections import is_loopback

    creds = _credentials(profile, is_loopback(endpoint_url))
    if creds is None or os.environ.get("AWS_USE_FIPS_ENDPOINT") or os.environ.get("AWS_USE_DUALSTACK_ENDPOINT"):
        return None
    service = "ecr-public" if dest.kind == ECR_PUBLIC else "ecr"
    region = "us-east-1" if service == "ecr-public" else (dest.region or "")
    url = endpoint_url or (f"https://api.ecr-public.{region}.amazonaws.com" if service == "ecr-public"
                           else f"https://api.ecr.{region}.amazonaws.com")
    ids = [{"imageTag": t} for t in dict.fromkeys(tags)]
    body: Dict[str, object] = {"repositoryName": dest.repository, "imageIds": ids}
    registry_id = dest.registry_id or ""
    if registry_id and (service == "ecr" or registry_id.isdigit()):  # Describe* take no alias
        body["registryId"] = registry_id
    if service == "ecr":
        body["acceptedMediaTypes"] = _MANIFEST_TYPES
    operation = "DescribeImages" if service == "ecr-public" else "BatchGetImage"
    try:
        status, doc = _post(url, service, region, operation, json.dumps(body).encode(), creds)
    except (OSError, ValueError):
        return None
    found: Dict[str, Optional[str]] = {t: None for t in tags}
    if status != 200:
        kind = str(doc.get("__type", "")).rsplit("#", 1)[-1]
        return found if status == 400 and kind in _ABSENT else None
    if service == "ecr":
        for image in doc.get("images") or []:
            image_id = image.get("imageId") or {}
            if image_id.get("imageTag") in found:
                found[image_id["imageTag"]] = image_id.get("imageDigest")
    else:
        for detail in doc.get("imageDetails") or []:
            for tag in detail.get("imageTags") or []:
                if tag in found:
                    found[tag] = detail.get("imageDigest")
    return found


def _credentials(profile: Optional[str], loopback: bool) -> Optional[Tuple[str, str, str]]:
    """(access key, secret key, session token) when the environment alone decides them, else None."""
    if profile or os.environ.get("AWS_PROFILE") or os.environ.get("AWS_DEFAULT_PROFILE"):
        return None
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:
        return key, secret, os.environ.get("AWS_SESSION_TOKEN", "")
    home = os.path.expanduser("~")
    files = [os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or os.path.join(home, ".aws", "credentials"),
             os.environ.get("AWS_CONFIG_FILE") or os.path.join(home, ".aws", "config")]
    if loopback and not any(os.path.exists(f) for f in files):
        return "pypush-local", "pypush-local", ""  # what the transport would use there
    return None


def _post(url: str, service: str, region: str, operation: str, payload: bytes,
          creds: Tuple[str, str, str]) -> Tuple[int, dict]:
    from pypush.net.connections import aws_verify_from_files, open_connection

    parts = urlsplit(url)
    now = datetime.datetime.now(datetime.timezone.utc)
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"{_TARGET[service]}.{operation}",
               "Host": parts.netloc, "X-Amz-Date": now.strftime("%Y%m%dT%H%M%SZ")}
    if creds[2]:
        headers["X-Amz-Security-Token"] = creds[2]
    headers["Authorization"] = _sigv4(headers, payload, parts.path or "/", service, region, creds, now)
    conn = open_connection(parts, aws_verify_from_files(), timeout=_TIMEOUT)
    try:
        conn.request("POST", parts.path or "/", body=payload, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    doc = json.loads(data) if data else {}
    return resp.status, doc if isinstance(doc, dict) else {}


def _sigv4(headers: Dict[str, str], payload: bytes, path: str, service: str, region: str,
           creds: Tuple[str, str, str], now: datetime.datetime) -> str:
    """The SigV4 Authorization header of a POST with ``headers`` (all signed) and ``payload``."""
    names = sorted(h.lower() for h in headers)
    values = {h.lower(): " ".join(str(v).split()) for h, v in headers.items()}
    canonical = "\n".join(["POST", path, "", *(f"{n}:{values[n]}" for n in names), "", ";".join(names),
                           hashlib.sha256(payload).hexdigest()])
    day = now.strftime("%Y%m%d")
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", headers["X-Amz-Date"], scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + creds[1]).encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return f"AWS4-HMAC-SHA256 Credential={creds[0]}/{scope}, SignedHeaders={';'.join(names)}, Signature={signature}"
