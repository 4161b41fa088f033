"""The one question of a re-push to ECR, asked without loading botocore: which image does each tag name?

One signed (SigV4) JSON request through pypush.net.aws_json: ``DescribeImages`` on ECR Public,
``BatchGetImage`` on private ECR. Only when the answer is plain to get: credentials in the environment
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``, no profile named), or a loopback
endpoint with no AWS configuration at all (placeholder credentials, as the transport uses). Anything else
(profiles, SSO, roles, FIPS endpoints, an unexpected answer) gives ``None`` and the transport asks instead.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence

from pypush.name.reference import ECR_PUBLIC, Destination

_MANIFEST_TYPES = ["application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
                   "application/vnd.docker.distribution.manifest.v2+json",
                   "application/vnd.docker.distribution.manifest.list.v2+json"]
_ABSENT = ("ImageNotFoundException", "RepositoryNotFoundException", "ImageTagDoesNotExistException")
_TIMEOUT = 15.0


def tag_digests(dest: Destination, tags: Sequence[str], endpoint_url: Optional[str] = None,
                profile: Optional[str] = None) -> Optional[Dict[str, Optional[str]]]:
    """tag -> image digest it names (None: no such tag or repository; on ECR Public, which only says that
    one of the tags asked is missing, every tag then reads None), or None when this cannot tell."""
    from pypush.net.aws_errors import AwsApiError, AwsFailure
    from pypush.net.aws_json import ECR_PUBLIC_REGION, AwsJsonClient, default_endpoint, env_credentials
    from pypush.net.connections import aws_verify_from_files

    creds = env_credentials(profile, endpoint_url)
    service = "ecr-public" if dest.kind == ECR_PUBLIC else "ecr"
    region = ECR_PUBLIC_REGION if service == "ecr-public" else (dest.region or "")
    url = endpoint_url or default_endpoint(service, region)
    if creds is None or not url:
        return None
    ids = [{"imageTag": t} for t in dict.fromkeys(tags)]
    body: Dict[str, object] = {"repositoryName": dest.repository, "imageIds": ids}
    registry_id = dest.registry_id or ""
    if registry_id and (service == "ecr" or registry_id.isdigit()):  # Describe* take no alias
        body["registryId"] = registry_id
    if service == "ecr":
        body["acceptedMediaTypes"] = _MANIFEST_TYPES
    operation = "DescribeImages" if service == "ecr-public" else "BatchGetImage"
    found: Dict[str, Optional[str]] = {t: None for t in tags}
    client = AwsJsonClient(service, region, url, lambda: creds, aws_verify_from_files(), timeout=_TIMEOUT,
                           tunnel=False)
    try:
        doc = client.call(operation, body)
    except AwsApiError as exc:
        return found if exc.status == 400 and exc.code in _ABSENT else None
    except (AwsFailure, OSError, ValueError):
        return None
    finally:
        client.close()
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
