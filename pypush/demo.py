"""``pypush demo``: push an image into an embedded local ECR Public endpoint and read it back."""
from __future__ import annotations

import hashlib
import os
import sys
import time

import requests

from .errors import SourceError


def run_demo(source: str, quiet: bool = False) -> int:
    """Start the endpoint, push ``source`` with the ECR API, pull its manifest back over v2, compare."""
    from .api import push
    from .server import LocalEndpoint

    path = source.split(":", 1)[1] if source.split(":", 1)[0] in ("oci", "oci-archive", "docker-archive") else source
    if not os.path.exists(path.rsplit(":", 1)[0] if not os.path.exists(path) else path):
        raise SourceError(f"{source}: not found (run `pypush demo` from the repository root, or name an image)")
    with LocalEndpoint() as endpoint:
        print(f"local ECR Public endpoint: {endpoint.url}")
        started = time.monotonic()
        result = push(source, "public.ecr.aws/local/demo:latest", endpoint_url=endpoint.url, create_repository=True)
        took = time.monotonic() - started
        print(f"pushed {source} -> {result.reference} ({result.blobs_pushed} blobs, "
              f"{result.bytes_pushed / 1e6:.1f} MB, {took:.2f} s)")
        again = push(source, "public.ecr.aws/local/demo:latest", endpoint_url=endpoint.url)
        print(f"pushed again: {again.blobs_pushed} blobs uploaded, {again.blobs_skipped} already there")
        resp = requests.get(f"{endpoint.url}/v2/demo/manifests/latest", timeout=30, headers={"Accept": "*/*"})
        resp.raise_for_status()
        served = "sha256:" + hashlib.sha256(resp.content).hexdigest()
        ok = served == result.digest
        print(f"pulled back over the v2 API: {served} {'matches' if ok else 'DIFFERS'}", file=sys.stdout if ok else sys.stderr)
        return 0 if ok else 1
