"""Independent verification of a pushed image: skopeo pulls it back; we check digests ourselves."""
from __future__ import annotations

import gzip
import hashlib
import json
import tarfile
from pathlib import Path
from typing import Dict, List, Optional



def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _uncompressed_digest(path: Path) -> str:
    with open(path, "rb") as f:
        magic = f.read(4)
    h = hashlib.sha256()
    if magic[:2] == b"\x1f\x8b":
        stream = gzip.open(path, "rb")
    elif magic == b"\x28\xb5\x2f\xfd":
        import zstandard  # only when a pulled layer is zstd

        stream = zstandard.ZstdDecompressor().stream_reader(open(path, "rb"))
    else:
        stream = open(path, "rb")
    with stream:
        while True:
            chunk = stream.read(1 << 20)
            if not chunk:
                break
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def pull_and_check(skopeo, ref: str, dest: Path, expected_digest: Optional[str] = None) -> Dict[str, object]:
    """Pull ``ref`` (all platforms) into a ``dir:`` copy and check every blob against the manifests.

    Returns {"digest": top manifest digest, "configs": [config digests], "diff_ids": [[...]]}.
    """
    raw = skopeo.inspect_raw(ref)
    top = sha256(raw)
    if expected_digest is not None:
        assert top == expected_digest, f"{ref}: registry serves {top}, pushed {expected_digest}"
    skopeo.run("copy", "-q", "--all", "--src-tls-verify=false", f"docker://{ref}", f"dir:{dest}")
    configs: List[str] = []
    diff_ids: List[List[str]] = []
    for mpath in sorted(dest.glob("*manifest.json")):
        doc = json.loads(mpath.read_bytes())
        if "config" not in doc:
            continue
        cdigest = doc["config"]["digest"]
        cbytes = (dest / cdigest.split(":")[1]).read_bytes()
        assert sha256(cbytes) == cdigest
        configs.append(cdigest)
        for layer in doc.get("layers", []):
            lpath = dest / layer["digest"].split(":")[1]
            assert lpath.stat().st_size == layer["size"], f"layer {layer['digest']} size"
        try:
            config = json.loads(cbytes)
        except ValueError:
            continue
        ids = (config.get("rootfs") or {}).get("diff_ids") if isinstance(config, dict) else None
        if ids:
            got = [_uncompressed_digest(dest / layer["digest"].split(":")[1]) for layer in doc["layers"]]
            assert got == ids, f"{ref}: layer contents do not match the config's diff_ids"
            diff_ids.append(ids)
    return {"digest": top, "configs": configs, "diff_ids": diff_ids}


def docker_archive_expectations(path: Path, index: int = 0) -> Dict[str, object]:
    """Config digest and diff_ids of image ``index`` of a docker-save tarball, read with tarfile alone."""
    with tarfile.open(path) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        config_name = manifest[index]["Config"]
        member = tar.getmember(config_name)
        while member.issym() or member.islnk():
            member = tar.getmember(str(Path(config_name).parent / member.linkname))
        cbytes = tar.extractfile(member).read()
    return {"config": sha256(cbytes), "diff_ids": json.loads(cbytes)["rootfs"]["diff_ids"]}


def oci_top_digest(layout: Path, tag: str = "1") -> str:
    """The digest index.json of an OCI layout names for ``tag`` (or its only entry)."""
    manifests = json.loads((layout / "index.json").read_text())["manifests"]
    for m in manifests:
        if (m.get("annotations") or {}).get("org.opencontainers.image.ref.name") == tag:
            return m["digest"]
    assert len(manifests) == 1
    return manifests[0]["digest"]


def oci_archive_top_digest(path: Path, tag: str = "1") -> str:
    with tarfile.open(path) as tar:
        manifests = json.load(tar.extractfile("index.json"))["manifests"]
    for m in manifests:
        if (m.get("annotations") or {}).get("org.opencontainers.image.ref.name") == tag:
            return m["digest"]
    return manifests[0]["digest"]
