"""``pypush demo``: push an image into an embedded local ECR Public endpoint and read it back."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Optional

import requests

from pypush.errors import SourceError

DEFAULT_SOURCE = "fixtures/small.oci"
"""The repository's sample image; elsewhere the demo writes a small one of its own."""


def sample_image(directory: Path) -> Path:
    """Write a one-layer OCI image layout (a ``/hello.txt``) under ``directory``; its path."""
    layout = directory / "sample.oci"
    (layout / "blobs" / "sha256").mkdir(parents=True)

    def put(data: bytes, media_type: str) -> dict:
        digest = hashlib.sha256(data).hexdigest()
        (layout / "blobs" / "sha256" / digest).write_bytes(data)
        return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}

    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w", format=tarfile.PAX_FORMAT) as tf:
        body = b"hello from pypush\n"
        info = tarfile.TarInfo("hello.txt")
        info.size, info.mode, info.mtime = len(body), 0o644, 0
        tf.addfile(info, io.BytesIO(body))
    plain = tar.getvalue()
    config = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/cat", "/hello.txt"]},
              "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(plain).hexdigest()]}}
    media_type = "application/vnd.oci.image.manifest.v1+json"
    manifest = {"schemaVersion": 2, "mediaType": media_type,
                "config": put(json.dumps(config).encode(), "application/vnd.oci.image.config.v1+json"),
                "layers": [put(gzip.compress(plain, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip")]}
    entry = put(json.dumps(manifest).encode(), media_type)
    entry["annotations"] = {"org.opencontainers.image.ref.name": "latest"}
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return layout


def run_demo(source: Optional[str] = None, quiet: bool = False) -> int:
    """Start the endpoint, push ``source`` (default: the repository's sample image, else one written
    to a temporary directory) with the ECR API, pull its manifest back over v2, compare."""
    if source is None and not os.path.isdir(DEFAULT_SOURCE):
        with tempfile.TemporaryDirectory(prefix="pypush-demo-") as tmp:
            return _demo(str(sample_image(Path(tmp))))
    source = source or DEFAULT_SOURCE
    path = source.split(":", 1)[1] if source.split(":", 1)[0] in ("oci", "oci-archive", "docker-archive") else source
    if not os.path.exists(path.rsplit(":", 1)[0] if not os.path.exists(path) else path):
        raise SourceError(f"{source}: not found")
    return _demo(source)


def _demo(source: str) -> int:
    from pypush.api import push
    from pypush.server import LocalEndpoint

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
