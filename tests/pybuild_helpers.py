"""Helpers of the ``pypush build`` tests: the two-platform Debian bookworm base as an OCI layout (made once from the
mmdebstrap tars, kept beside them), and unpacking one platform of a built layout into a root file system."""
from __future__ import annotations

import gzip
import json
import os
import shutil
import tarfile
from pathlib import Path
from typing import Dict, List

from pybuild_bases import EPOCH, base_tar, cache_root

ARCHES = {"amd64": "x86_64", "arm64": "aarch64"}


def base_layout() -> Path:
    """``oci:`` layout (tag ``bookworm``) of a linux/amd64 + linux/arm64 index, each platform one gzip layer
    holding its mmdebstrap tar."""
    from pypush.assemble.builder import compose_on
    from pypush.assemble.config_edit import ConfigChanges
    from pypush.assemble.layer_spec import Layer

    tars = {arch: base_tar(arch) for arch in ARCHES}
    key = "-".join(os.path.basename(t).rsplit("-", 1)[-1][:-4] for t in tars.values())
    path = Path(cache_root()) / "layouts" / f"bookworm-{key}"
    if (path / "index.json").exists():
        return path

    def make(workdir: str, plan: object):
        built = {arch: Layer.from_tarball(tar).build(workdir) for arch, tar in tars.items()}

        def layers_for(node, config):
            layer = built[config["architecture"]]
            return [layer], [{"created_by": f"mmdebstrap bookworm python3 ({config['architecture']})"}], {}
        return list(built.values()), layers_for

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}")
    env = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = EPOCH
    try:
        with compose_on("scratch", make, ConfigChanges(env={"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:"
                                                                   "/usr/bin:/sbin:/bin"}),
                        platforms=["linux/amd64", "linux/arm64"]) as image:
            image.write(f"oci:{tmp}:bookworm", compression="gzip")
    finally:
        if env is None:
            os.environ.pop("SOURCE_DATE_EPOCH", None)
        else:
            os.environ["SOURCE_DATE_EPOCH"] = env
    os.replace(tmp, path)
    return path


def blob(layout: Path, digest: str) -> bytes:
    return (layout / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes()


def root_descriptor(layout: Path, tag: str) -> dict:
    for entry in json.loads((layout / "index.json").read_text())["manifests"]:
        if (entry.get("annotations") or {}).get("org.opencontainers.image.ref.name") == tag:
            return entry
    raise AssertionError(f"{layout} has no tag {tag}")


def platform_manifests(layout: Path, tag: str) -> Dict[str, dict]:
    """architecture → (parsed manifest, with its digest under "_digest") of the image tagged ``tag``."""
    root = root_descriptor(layout, tag)
    doc = json.loads(blob(layout, root["digest"]))
    if "manifests" not in doc:
        config = json.loads(blob(layout, doc["config"]["digest"]))
        return {config["architecture"]: dict(doc, _digest=root["digest"])}
    out = {}
    for child in doc["manifests"]:
        out[child["platform"]["architecture"]] = dict(json.loads(blob(layout, child["digest"])), _digest=child["digest"])
    return out


def layer_digests(layout: Path, tag: str, arch: str) -> List[str]:
    return [layer["digest"] for layer in platform_manifests(layout, tag)[arch]["layers"]]


def unpack(layout: Path, tag: str, arch: str, dest: Path) -> Path:
    """Extract the layers of ``arch``'s image into ``dest`` (as root: device nodes and owners kept)."""
    manifest = platform_manifests(layout, tag)[arch]
    dest.mkdir(parents=True, exist_ok=True)
    for layer in manifest["layers"]:
        path = layout / "blobs" / "sha256" / layer["digest"].split(":", 1)[1]
        opener = gzip.open if layer["mediaType"].endswith("+gzip") else open
        with opener(path, "rb") as f, tarfile.open(fileobj=f, mode="r|") as tar:
            for member in tar:
                name = os.path.basename(member.name)
                if name.startswith(".wh."):
                    victim = dest / os.path.dirname(member.name) / name[4:]
                    shutil.rmtree(victim, ignore_errors=True) if victim.is_dir() else victim.unlink(missing_ok=True)
                    continue
                target = dest / member.name
                if target.is_symlink() or (target.exists() and not target.is_dir()):
                    target.unlink()
                kwargs = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}
                tar.extract(member, dest, numeric_owner=True, **kwargs)
    return dest
