"""Docker-style registry credentials from ECR's GetAuthorizationToken."""
from __future__ import annotations

import base64
from typing import Optional, Tuple

from pypush.name.reference import ECR_PUBLIC, Reference


def ecr_login(dest: Reference, endpoint_url: Optional[str] = None, profile: Optional[str] = None) -> Tuple[str, str]:
    """(username, password) for the registry host of an ECR destination."""
    from botocore.exceptions import BotoCoreError, ClientError

    from pypush.net import aws

    service = "ecr-public" if dest.kind == ECR_PUBLIC else "ecr"
    client = aws.make_client(service, dest.region or aws.ECR_PUBLIC_REGION, endpoint_url, aws.make_session(profile))
    try:
        resp = client.get_authorization_token()
    except (ClientError, BotoCoreError) as exc:
        raise aws.translate(exc, "GetAuthorizationToken") from None
    data = resp["authorizationData"]
    if isinstance(data, list):
        data = data[0]
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    return user, password
