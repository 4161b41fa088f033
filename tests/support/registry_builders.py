"""Builders and probes shared by the registry (v2 transport) tests: images made in memory (Blob objects over
bytes), a transport to a test registry, and what docker-registry holds or logged."""
from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import List, Optional

import requests

from imagegen import random_bytes, tar_layer

from pypush.image.model import OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST, Blob, Descriptor, ImageIndex, ImageManifest, sha256_digest
from pypush.transports.distribution.destination import RegistryTransport


MiB = 1 << 20


def blob_of(data: bytes, media_type: str = OCI_LAYER_GZIP, name: str = "", digest: Optional[str] = None,
            size: Optional[int] = None) -> Blob:
    """A blob over bytes in memory; ``digest``/``size`` override the true ones (to make bad blobs)."""
    desc = Descriptor(media_type, sha256_digest(data) if digest is None else digest,
                      len(data) if size is None else size)
    return Blob(desc, lambda: io.BytesIO(data), name=name or desc.digest[:19])


def gz_layer(size: int, seed: int) -> bytes:
    """A gzip-compressed tar holding ``size`` incompressible bytes (reproducible)."""
    return gzip.compress(tar_layer([(f"file{seed}", random_bytes(size, seed))]), compresslevel=1, mtime=0)


def make_image(layers: List[bytes], arch: str = "amd64") -> ImageManifest:
    """An OCI image manifest over gzip layers, with a config naming their diff_ids."""
    diff_ids = [sha256_digest(gzip.decompress(layer)) for layer in layers]
    config = json.dumps({"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids},
                         "config": {}}, sort_keys=True).encode()
    cblob = blob_of(config, OCI_CONFIG, "config")
    lblobs = [blob_of(layer, OCI_LAYER_GZIP, f"layer{i}") for i, layer in enumerate(layers)]
    raw = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": cblob.descriptor.to_json(),
                      "layers": [b.descriptor.to_json() for b in lblobs]}, indent=2).encode()
    return ImageManifest(Descriptor(OCI_MANIFEST, sha256_digest(raw), len(raw)), raw, cblob, lblobs)


def make_index(children: List[ImageManifest]) -> ImageIndex:
    """An OCI index over ``children`` (platform from each config's architecture)."""
    entries = []
    for child in children:
        arch = json.loads(child.config.open().read())["architecture"]
        entries.append({**child.descriptor.to_json(), "platform": {"architecture": arch, "os": "linux"}})
    raw = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).encode()
    return ImageIndex(Descriptor(OCI_INDEX, sha256_digest(raw), len(raw)), raw, list(children))


def transport_for(reg, repo: str, **kw) -> RegistryTransport:
    kw.setdefault("insecure", True)
    kw.setdefault("lookup_credentials", False)
    return RegistryTransport(reg.host, repo, **kw)


def fetch_blob(reg, repo: str, digest: str) -> bytes:
    """The blob as the registry serves it (plain GET, independent of the transport)."""
    resp = requests.get(f"http://{reg.host}/v2/{repo}/blobs/{digest}", timeout=30)
    resp.raise_for_status()
    return resp.content


def uploads_in_progress(reg, repo: str) -> List[Path]:
    """Bytes of open upload sessions of ``repo`` in docker-registry's storage."""
    d = reg.root / "data" / "docker" / "registry" / "v2" / "repositories" / repo / "_uploads"
    return list(d.glob("*/data"))


def requests_logged(reg, method: str, path_part: str) -> int:
    """How many ``METHOD ...path_part...`` requests docker-registry's access log shows."""
    text = (reg.root / "registry.log").read_text(errors="replace")
    return sum(1 for line in text.splitlines() if f'"{method} ' in line and path_part in line)


class Progress:
    """Collects progress callbacks."""

    def __init__(self) -> None:
        self.calls: List[int] = []

    def __call__(self, n: int) -> None:
        self.calls.append(n)

    @property
    def total(self) -> int:
        return sum(self.calls)
