"""The one question of a re-push to ECR, asked without loading botocore: which image does each tag name?

One signed (SigV4) JSON request through pypush.net.aws_json: ``DescribeImages`` on ECR Public,
``BatchGetImage`` on private ECR. Only when the answer is plain to get: credentials in the environment
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``, no profile named), or a loopback
endpoint with no AWS configuration at all (placeholder credentials, as the transport uses). Anything else
(profiles, SSO, roles, FIPS endpoints, an unexpected answer) gives ``None`` and the transport asks instead.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from pypush.image.model import INDEX_TYPES, MANIFEST_TYPES
from pypush.name.reference import ECR_PUBLIC, Destination

_ABSENT = ("ImageNotFoundException", "RepositoryNotFoundException", "ImageTagDoesNotExistException")
_TIMEOUT = 15.0


def tag_digests(dest: Destination, tags: Sequence[str], endpoint_url: Optional[str] = None,
                profile: Optional[str] = None, repository_type: str = "FREE") -> Optional[Dict[str, Optional[str]]]:
    """tag -> image digest it names (None: no such tag or repository; on ECR Public, which only says that
    one of the tags asked is missing, every tag then reads None), or None when this cannot tell.
    ``repository_type``: FREE or PREMIUM (ECR Public's twin repositories of one name)."""
    from pypush.net.aws_errors import AwsApiError, AwsFailure
    from pypush.net.aws_json import ECR_PUBLIC_REGION, AwsJsonClient, default_endpoint, env_credentials
    from pypush.net.connections import aws_verify_from_files

    creds = env_credentials(profile, endpoint_url)
    service = "ecr-public" if dest.kind == ECR_PUBLIC else "ecr"
    region = ECR_PUBLIC_REGION if service == "ecr-public" else (dest.region or "")
    url = endpoint_url or default_endpoint(service, region)
    if creds is None or not url:
        return None
    ids = {"repositoryName": dest.repository, **({"registryId": dest.registry_id} if dest.registry_id else {})}
    if repository_type != "FREE":
        ids["repositoryType"] = repository_type
    operation, body = tag_query(service, ids, tags)
    client = AwsJsonClient(service, region, url, lambda: creds, aws_verify_from_files(), timeout=_TIMEOUT,
                           tunnel=False)
    try:
        doc = client.call(operation, body)
    except AwsApiError as exc:
        return dict.fromkeys(tags) if exc.status == 400 and exc.code in _ABSENT else None
    except (AwsFailure, OSError, ValueError):
        return None
    finally:
        client.close()
    return tags_found(service, doc, tags)


def tag_query(service: str, ids: Mapping[str, str], tags: Sequence[str]) -> Tuple[str, Dict[str, Any]]:
    """(operation, body) asking which image each of ``tags`` names: BatchGetImage on private ECR,
    DescribeImages on ECR Public. ``ids``: repositoryName, and registryId if any (on ECR Public only an
    account number: Describe* take no alias), and repositoryType for a premium repository."""
    body: Dict[str, Any] = {k: v for k, v in ids.items() if k != "registryId" or service == "ecr" or v.isdigit()}
    body["imageIds"] = [{"imageTag": t} for t in dict.fromkeys(tags)]
    if service == "ecr":
        body["acceptedMediaTypes"] = sorted(MANIFEST_TYPES | INDEX_TYPES)
        return "BatchGetImage", body
    return "DescribeImages", body


def tags_found(service: str, doc: Mapping[str, Any], tags: Sequence[str]) -> Dict[str, Optional[str]]:
    """tag -> the image digest the answer to ``tag_query`` gives it (None: not found)."""
    found: Dict[str, Optional[str]] = dict.fromkeys(tags)
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
