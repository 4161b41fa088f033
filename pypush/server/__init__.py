"""The local ECR Public endpoint (`pypush serve`): the AWS JSON 1.1 push API of ECR Public (and the
private ECR push operations) plus the OCI distribution v2 read API, on one loopback port.

    from pypush.server import LocalEndpoint

    with LocalEndpoint() as ep:          # temporary data dir, ephemeral port, background thread
        boto3.client("ecr-public", endpoint_url=ep.url, region_name="us-east-1", ...)
        # skopeo copy --src-tls-verify=false docker://{ep.host_port}/REPO:TAG oci:DIR
"""
from __future__ import annotations

from typing import Any

__all__ = ["LocalEndpoint", "FaultPlan"]


def __getattr__(name: str) -> Any:
    """Import the server only when it is used, so `pypush push` does not pay for it."""
    if name == "LocalEndpoint":
        from pypush.server.app import LocalEndpoint

        return LocalEndpoint
    if name == "FaultPlan":
        from pypush.server.limits import FaultPlan

        return FaultPlan
    raise AttributeError(name)
