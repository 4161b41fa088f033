"""Write small OCI layouts from Python for tests that need specific shapes (big layers, many layers)."""
from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import List, Optional, Sequence, Tuple


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


# --- a builder for layouts of any shape (tests/test_sources_wild.py) ---------------------------------

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
_LAYER_TYPES = {  # (compression, docker media types?) -> layer media type
    (None, False): "application/vnd.oci.image.layer.v1.tar",
    ("gzip", False): "application/vnd.oci.image.layer.v1.tar+gzip",
    ("zstd", False): "application/vnd.oci.image.layer.v1.tar+zstd",
    (None, True): "application/vnd.docker.image.rootfs.diff.tar",
    ("gzip", True): "application/vnd.docker.image.rootfs.diff.tar.gzip",
}


def compress(data: bytes, compression: Optional[str]) -> bytes:
    """``data`` gzip- or zstd-compressed (reproducibly), or as is."""
    if compression == "gzip":
        import gzip

        return gzip.compress(data, mtime=0)
    if compression == "zstd":
        import zstandard

        return zstandard.ZstdCompressor().compress(data)
    return data


class LayoutWriter:
    """Writes an OCI layout blob by blob: images, artifacts, indexes, then ``index.json`` entries.

    Every ``image``/``artifact``/``index`` call stores the manifest and returns its descriptor
    (mediaType, digest, size), ready to go into an index or ``index.json``.
    """

    def __init__(self, layout: Path):
        self.layout = layout
        layout.mkdir(parents=True, exist_ok=True)
        (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')

    def put(self, data: bytes, media_type: str) -> dict:
        """Store ``data``; its descriptor."""
        return dict(mediaType=media_type, **_put_blob(self.layout, data))

    def image(self, layers: Sequence[bytes], compression: Optional[str] = "gzip", docker: bool = False,
              arch: str = "amd64", seed: str = "", annotations: Optional[dict] = None,
              extra: Optional[dict] = None, omit_media_type: bool = False) -> dict:
        """An image of plain tar ``layers`` stored compressed; Docker schema 2 types when ``docker``."""
        diff_ids = ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers]
        config = {"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids},
                  "config": {"Labels": {"seed": seed}} if seed else {}}
        cdesc = self.put(json.dumps(config, sort_keys=True).encode(), DOCKER_CONFIG if docker else OCI_CONFIG)
        ltype = _LAYER_TYPES[(compression, docker)]
        manifest: dict = {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
                          "config": cdesc, "layers": [self.put(compress(x, compression), ltype) for x in layers]}
        if omit_media_type:
            del manifest["mediaType"]
        if annotations:
            manifest["annotations"] = annotations
        manifest.update(extra or {})
        return self.put(json.dumps(manifest, indent=2).encode(), DOCKER_MANIFEST if docker else OCI_MANIFEST)

    def artifact(self, artifact_type: str, payloads: Sequence[Tuple[str, bytes]], subject: Optional[dict] = None,
                 annotations: Optional[dict] = None) -> dict:
        """An OCI 1.1 artifact: empty config ``{}``, one layer per (media type, bytes), maybe a subject."""
        manifest: dict = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
                          "config": self.put(b"{}", OCI_EMPTY),
                          "layers": [self.put(data, mt) for mt, data in payloads]}
        if subject:
            manifest["subject"] = {k: subject[k] for k in ("mediaType", "digest", "size")}
        if annotations:
            manifest["annotations"] = annotations
        desc = self.put(json.dumps(manifest).encode(), OCI_MANIFEST)
        desc["artifactType"] = artifact_type
        return desc

    def index(self, children: Sequence[dict], docker: bool = False, annotations: Optional[dict] = None) -> dict:
        """An OCI index (a Docker manifest list when ``docker``) of ``children`` descriptors."""
        media_type = DOCKER_LIST if docker else OCI_INDEX
        doc: dict = {"schemaVersion": 2, "mediaType": media_type, "manifests": list(children)}
        if annotations:
            doc["annotations"] = annotations
        return self.put(json.dumps(doc, indent=3).encode(), media_type)

    def write_index(self, entries: Sequence[dict], media_type: bool = True) -> None:
        """index.json listing ``entries`` (descriptors, with annotations/platform as given)."""
        doc: dict = {"schemaVersion": 2, "manifests": list(entries)}
        if media_type:
            doc["mediaType"] = OCI_INDEX
        (self.layout / "index.json").write_text(json.dumps(doc))


def named(desc: dict, ref: Optional[str] = None, containerd: Optional[str] = None,
          platform: Optional[Tuple[str, str]] = None, **extra: object) -> dict:
    """``desc`` with ref-name / containerd-name annotations, a platform and extra members added."""
    out = dict(desc)
    ann = dict(out.get("annotations") or {})
    if ref is not None:
        ann["org.opencontainers.image.ref.name"] = ref
    if containerd is not None:
        ann["io.containerd.image.name"] = containerd
    if ann:
        out["annotations"] = ann
    if platform is not None:
        out["platform"] = {"architecture": platform[0], "os": platform[1]}
    out.update(extra)
    return out


def _layout_blob(layout: Path, digest: str) -> bytes:
    return (layout / "blobs" / digest.split(":")[0] / digest.split(":")[1]).read_bytes()


def write_tar(out: Path, files: Sequence[Tuple[str, bytes]], links: Sequence[Tuple[str, str, bool]] = (),
              prefix: str = "") -> Path:
    """A tar of (name, bytes) files and (name, target, is_symlink) links, names prefixed with ``prefix``
    (``./`` as GNU tar writes them); directories get their own members as tar does."""
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        dirs: set = set()
        for name, _ in [*files, *[(n, b"") for n, _, _ in links]]:
            parts = name.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(prefix + d + "/")
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
                    tar.addfile(info)
        for name, data in files:
            info = tarfile.TarInfo(prefix + name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
        for name, target, symlink in links:
            info = tarfile.TarInfo(prefix + name)
            info.type = tarfile.SYMTYPE if symlink else tarfile.LNKTYPE
            info.linkname = target if symlink else prefix + target
            tar.addfile(info)
    return out


def docker_save(layout: Path, out: Path, images: Sequence[Tuple[dict, Sequence[str]]], oci: bool = True,
                prefix: str = "", decompress: bool = True) -> Path:
    """A ``docker save`` tarball of ``images`` ((manifest descriptor, RepoTags), all stored in ``layout``).

    ``oci``: the Docker 25+ form (the whole layout, manifest.json naming ``blobs/sha256/...``, repositories).
    Else the legacy form: ``<id>/layer.tar`` (plain when ``decompress``; later images hard-link layers an
    earlier one holds), ``<id>/json``, ``<id>/VERSION``, ``<config hex>.json``, manifest.json, repositories.
    """
    import gzip as _gzip

    files: List[Tuple[str, bytes]] = []
    links: List[Tuple[str, str, bool]] = []
    items, repositories = [], {}
    if oci:
        files += [(p.relative_to(layout).as_posix(), p.read_bytes()) for p in sorted(layout.rglob("*")) if p.is_file()]
    seen: dict = {}
    for desc, tags in images:
        manifest = json.loads(_layout_blob(layout, desc["digest"]))
        config_hex = manifest["config"]["digest"].split(":")[1]
        if oci:
            config_name = f"blobs/sha256/{config_hex}"
            layer_names = ["blobs/sha256/" + d["digest"].split(":")[1] for d in manifest["layers"]]
        else:
            config_name = config_hex + ".json"
            files.append((config_name, _layout_blob(layout, manifest["config"]["digest"])))
            layer_names, parent = [], ""
            for d in manifest["layers"]:
                data = _layout_blob(layout, d["digest"])
                if decompress and data[:2] == b"\x1f\x8b":
                    data = _gzip.decompress(data)
                elif decompress and data[:4] == b"\x28\xb5\x2f\xfd":
                    import zstandard  # only for zstd layers: it does not load on every Python (Debian's PyPy)

                    data = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read()
                layer_id = hashlib.sha256(f"{parent}:{d['digest']}".encode()).hexdigest()
                name = f"{layer_id}/layer.tar"
                layer_names.append(name)
                layer_json = json.dumps({"id": layer_id, "parent": parent}).encode()
                parent = layer_id
                if seen.get(d["digest"]) == name:  # the same layer chain as an earlier image: written once
                    continue
                if d["digest"] in seen:
                    links.append((name, seen[d["digest"]], False))
                else:
                    seen[d["digest"]] = name
                    files.append((name, data))
                files += [(f"{layer_id}/VERSION", b"1.0"),
                          (f"{layer_id}/json", layer_json)]
        items.append({"Config": config_name, "RepoTags": list(tags) or None, "Layers": layer_names})
        for tag in tags:
            repo, _, t = tag.rpartition(":")
            repositories.setdefault(repo, {})[t] = layer_names[-1].split("/")[-1] if layer_names else config_hex
    files += [("manifest.json", json.dumps(items).encode()), ("repositories", json.dumps(repositories).encode())]
    return write_tar(out, files, links, prefix)
