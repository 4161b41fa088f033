"""Where a premium ECR Public repository is reached over the registry (v2) API: the host the service names.

AWS documents no fixed host for premium repositories: ``PremiumRepository.repositoryUri`` ("use this URI for
image push and pull operations") and ``Registry.premiumRegistryUri`` ("the endpoint for the premium
repositories in the registry") say where it is. pypush asks for them and never builds the host itself.
"""
from __future__ import annotations

from typing import Any, Optional, Tuple

from pypush.errors import RegistryError
from pypush.name.reference import Destination


def premium_repository_uri(dest: Destination, endpoint_url: Optional[str] = None, profile: Optional[str] = None,
                           client: Any = None) -> str:
    """``HOST[:PORT]/PATH`` of the premium repository ``dest`` names: its ``repositoryUri``
    (DescribePremiumRepositories), else the registry's ``premiumRegistryUri`` (DescribeRegistries) followed by
    the repository name, as a registry's ``registryUri`` is followed in its repositories' URIs."""
    from botocore.exceptions import BotoCoreError, ClientError

    from pypush.net import aws

    if client is None:
        client = aws.make_client("ecr-public", aws.ECR_PUBLIC_REGION, endpoint_url, aws.make_session(profile))
    what = f"premium repository {dest.name}"
    try:
        found = client.describe_premium_repositories(repositoryNames=[dest.repository]).get("repositories") or []
        uri = next((r.get("repositoryUri") for r in found if r.get("repositoryName") == dest.repository), None)
        if uri:
            return str(uri)
        registries = client.describe_registries().get("registries") or []
    except ClientError as exc:
        if aws.error_code(exc) == "RepositoryNotFoundException":
            raise RegistryError(f"DescribePremiumRepositories {what}: RepositoryNotFoundException: no premium "
                                f"repository of that name; create it first: pypush premium create {dest.repository} "
                                f"--product ID", "RepositoryNotFoundException") from None
        raise aws.translate(exc, f"looking up the registry host of {what}") from None
    except BotoCoreError as exc:
        raise aws.translate(exc, f"looking up the registry host of {what}") from None
    hosts = [r["premiumRegistryUri"] for r in registries if r.get("premiumRegistryUri")
             and (dest.alias is None or any(a.get("name") == dest.alias for a in r.get("aliases") or ()))]
    if not hosts:
        raise RegistryError(f"{what}: the service names no premium registry host (no repositoryUri, no "
                            f"premiumRegistryUri); push it with the ECR API (leave out --transport v2)",
                            "PremiumRegistryUri")
    return f"{hosts[0].rstrip('/')}/{dest.repository}"


def split_uri(uri: str) -> Tuple[str, str]:
    """(registry host, repository path) of ``HOST[:PORT]/PATH`` (a scheme, if the service gave one, dropped)."""
    text = uri.split("://", 1)[-1].strip("/")
    host, _, path = text.partition("/")
    if not host or not path:
        raise RegistryError(f"the service named {uri!r} as the premium repository's URI: expected HOST/PATH")
    return host, path
