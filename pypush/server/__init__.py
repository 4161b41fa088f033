"""The local ECR Public endpoint (`pypush serve`): the AWS JSON 1.1 push API of ECR Public (and the
private ECR push operations) plus the OCI distribution v2 API, on one loopback port.

    from pypush.server import LocalEndpoint

    with LocalEndpoint() as ep:          # temporary data dir, ephemeral port, background thread
        boto3.client("ecr-public", endpoint_url=ep.url, region_name="us-east-1", ...)
        # skopeo copy --src-tls-verify=false docker://{ep.host_port}/REPO:TAG oci:DIR

Layers, top to bottom; a module imports only from its own part or from a lower layer
(tests/test_import_layers.py and tests/server/test_server_layers.py check it):

    __init__, __main__, command   the public names; `pypush serve` / `python -m pypush.server`
    endpoint                      LocalEndpoint: store, doors and HTTP server in a background thread
    app                           the HTTP server: reads requests, hands each to a door or the gallery
    registry/                     the v2 door: router, reads, uploads, manifests, auth (login, /token);
                                  built on the ECR operations of aws/ (a manifest PUT is a PutImage)
    aws/   gallery/               the AWS JSON door: protocol, body, sigv4, limits, context, the
                                  operations per resource, table (the explicit operation table), dispatch;
                                  the HTML gallery, which reads the store only
    settings, reply, credentials, http_body, seed_files   shared parts of the doors
    store/                        blobs on disk and metadata in SQLite; the data directory's lock
"""
from __future__ import annotations

from typing import Any

__all__ = ["LocalEndpoint", "FaultPlan"]


def __getattr__(name: str) -> Any:
    """Import the server only when it is used, so `pypush push` does not pay for it."""
    if name == "LocalEndpoint":
        from pypush.server.endpoint import LocalEndpoint

        return LocalEndpoint
    if name == "FaultPlan":
        from pypush.server.aws.limits import FaultPlan

        return FaultPlan
    raise AttributeError(name)
