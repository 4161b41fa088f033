"""The one question of a re-push to ECR, asked without loading botocore: which image does each tag name?

Signed (SigV4) JSON requests through pypush.net.aws_json: ``BatchGetImage`` on private ECR; on ECR
Public ``DescribeRegistries`` (is the alias the caller's?) then ``DescribeImages`` in that registry. Only
when the answer is plain to get: credentials in the environment (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, no profile named), or a loopback endpoint with no AWS
configuration at all (placeholder credentials, as the transport uses). Anything else (profiles, SSO,
roles, FIPS endpoints, an unexpected answer) gives ``None`` and the transport asks instead.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

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
    client = AwsJsonClient(service, region, url, lambda: creds, aws_verify_from_files(), timeout=_TIMEOUT,
                           tunnel=False)
    try:
        return ask_tags(client.call, service, dest, tags, repository_type)
    except AwsApiError as exc:
        return dict.fromkeys(tags) if exc.status == 400 and exc.code in _ABSENT else None
    except (AwsFailure, OSError, ValueError):
        return None
    finally:
        client.close()


def ask_tags(call: Callable[[str, Dict[str, Any]], Mapping[str, Any]], service: str, dest: Destination,
             tags: Sequence[str], repository_type: str = "FREE") -> Optional[Dict[str, Optional[str]]]:
    """tag -> digest at exactly ``dest`` through ``call(operation, body)``, or None when the answer could not
    be about ``dest``. ECR Public's DescribeImages takes no alias (it answers about the caller's registry), so
    the alias is first looked up among the caller's (DescribeRegistries): an alias that is not the caller's
    is never answered for by another registry's images. ``repository_type``: FREE or PREMIUM. Errors are
    ``call``'s."""
    ids = {"repositoryName": dest.repository, **({"repositoryType": repository_type}
                                                  if repository_type != "FREE" else {})}
    if service == "ecr-public" and dest.registry_id and not dest.registry_id.isdigit():
        registry_id = registry_of_alias(call("DescribeRegistries", {}), dest.registry_id)
        if registry_id is None:
            return None
        ids["registryId"] = registry_id
    elif dest.registry_id:
        ids["registryId"] = dest.registry_id
    operation, body = tag_query(service, ids, tags)
    return tags_found(service, call(operation, body), tags)


def registry_of_alias(doc: Mapping[str, Any], alias: str) -> Optional[str]:
    """The registryId of the caller's registry that ``alias`` names in a DescribeRegistries answer (None: no
    registry of the caller's has that alias)."""
    for registry in doc.get("registries") or []:
        if any(a.get("name") == alias for a in registry.get("aliases") or []):
            return registry.get("registryId")
    return None


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
