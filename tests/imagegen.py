"""Write small OCI layouts from Python for tests that need specific shapes (big layers, many layers)."""
from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import List, Optional, Sequence


def _put_blob(layout: Path, data: bytes) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    path = layout / "blobs" / "sha256" / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def tar_layer(files: Sequence[tuple]) -> bytes:
    """A plain tar of (name, bytes) members with fixed metadata (reproducible)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def random_bytes(n: int, seed: int) -> bytes:
    """Deterministic incompressible bytes."""
    out, counter = bytearray(), 0
    while len(out) < n:
        out += hashlib.shake_256(f"{seed}:{counter}".encode()).digest(min(1 << 20, n - len(out)))
        counter += 1
    return bytes(out[:n])


def make_oci_layout(layout: Path, layers: List[bytes], tag: str = "1", layer_media_type: Optional[str] = None,
                    extra_config: Optional[dict] = None) -> str:
    """An OCI layout with one image of ``layers`` (plain tar unless ``layer_media_type``); returns its digest."""
    layout.mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    diff_ids = ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers]
    config = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids},
              "config": {}, **(extra_config or {})}
    cdesc = _put_blob(layout, json.dumps(config, sort_keys=True).encode())
    ldescs = [dict(mediaType=layer_media_type or "application/vnd.oci.image.layer.v1.tar", **_put_blob(layout, layer))
              for layer in layers]
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": dict(mediaType="application/vnd.oci.image.config.v1+json", **cdesc), "layers": ldescs}
    mdesc = _put_blob(layout, json.dumps(manifest, indent=2).encode())
    index = {"schemaVersion": 2, "manifests": [dict(mediaType="application/vnd.oci.image.manifest.v1+json",
                                                    annotations={"org.opencontainers.image.ref.name": tag}, **mdesc)]}
    (layout / "index.json").write_text(json.dumps(index))
    return mdesc["digest"]
