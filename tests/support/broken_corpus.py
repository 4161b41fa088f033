"""A corpus of broken image inputs, generated from the committed fixtures into a temporary directory.

``make_corpus(tmp)`` returns ``(case id, source spec, expected error substring)`` triples. Opening
each spec with ``pypush.sources.open_source`` raises SourceError containing the substring, except
the cases in ``STREAM_CASES``: their manifests are intact and only a blob's bytes are wrong, which
shows when the blob is streamed through ``pypush.image.digest.VerifyingReader`` (DigestMismatchError).
Either way a push must fail before any PutImage.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import random
import shutil
import tarfile
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
STREAM_CASES = frozenset({"layer-content-mismatch", "docker-layer-content-mismatch"})

Case = Tuple[str, str, str]


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _blob(layout: Path, digest: str) -> Path:
    return layout.joinpath("blobs", *digest.split(":"))


def _put(layout: Path, data: bytes) -> Tuple[str, int]:
    digest = _sha(data)
    path = _blob(layout, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return digest, len(data)


def _copy(tmp: Path, case: str, fixture: str = "small.oci") -> Path:
    dest = tmp / case / fixture
    shutil.copytree(FIXTURES / fixture, dest, symlinks=True)
    return dest


def _index(layout: Path) -> Dict[str, Any]:
    return json.loads((layout / "index.json").read_bytes())


def _write_index(layout: Path, index: Dict[str, Any]) -> None:
    (layout / "index.json").write_text(json.dumps(index))


def _manifest(layout: Path) -> Dict[str, Any]:
    return json.loads(_blob(layout, _index(layout)["manifests"][0]["digest"]).read_bytes())


def _set_manifest(layout: Path, raw: bytes, entry_changes: Optional[Dict[str, Any]] = None) -> None:
    """Store ``raw`` as the first image's manifest and point index.json at it (digest and size right)."""
    index = _index(layout)
    digest, size = _put(layout, raw)
    index["manifests"][0].update({"digest": digest, "size": size, **(entry_changes or {})})
    _write_index(layout, index)


def _mutated(tmp: Path, case: str, mutate: Callable[[Dict[str, Any]], None]) -> Path:
    """small.oci with its manifest changed by ``mutate`` (and index.json updated to match)."""
    layout = _copy(tmp, case)
    doc = _manifest(layout)
    mutate(doc)
    _set_manifest(layout, json.dumps(doc).encode())
    return layout


def _tar_dir(src: Path, out: Path, extra: Optional[List[tarfile.TarInfo]] = None) -> Path:
    """A tar of the contents of ``src`` (plus ``extra`` header-only members, e.g. links)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w") as tar:
        for path in sorted(src.rglob("*")):
            tar.add(path, arcname=path.relative_to(src).as_posix(), recursive=False)
        for info in extra or []:
            tar.addfile(info)
    return out


def _tar_files(out: Path, files: Dict[str, bytes], links: Optional[Dict[str, str]] = None) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return out


def _layer(content: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("file.txt")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def _docker_save(out: Path, layers: Optional[Dict[str, bytes]] = None, diff_ids: Optional[List[str]] = None,
                 config: Optional[bytes] = None, config_name: Optional[str] = None,
                 manifest_json: Optional[bytes] = None, links: Optional[Dict[str, str]] = None,
                 layer_names: Optional[List[str]] = None) -> Path:
    """A legacy docker save with one image; every part can be replaced to break it."""
    if layers is None:
        layers = {"l1/layer.tar": _layer(b"one\n"), "l2/layer.tar": _layer(b"two\n")}
    if diff_ids is None:
        diff_ids = [_sha(data) for data in layers.values()]
    if config is None:
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    config_name = config_name or _sha(config).split(":")[1] + ".json"
    if manifest_json is None:
        manifest_json = json.dumps([{"Config": config_name, "RepoTags": ["broken:1"],
                                     "Layers": layer_names or [*layers, *(links or {})]}]).encode()
    return _tar_files(out, {**layers, config_name: config, "manifest.json": manifest_json}, links)


def _truncate(src: Path, out: Path, size: int) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "rb") as f:
        out.write_bytes(f.read(size))
    return out


def _end_of_last_member(path: Path) -> int:
    with tarfile.open(path) as tar:
        last = tar.getmembers()[-1]
    return last.offset_data + (last.size + 511) // 512 * 512


def make_corpus(tmp: Path) -> List[Case]:
    """Write every broken input under ``tmp``; return (case id, source spec, expected error substring)."""
    tmp = Path(tmp)
    cases: List[Case] = []

    def add(case: str, spec: Any, expect: str) -> None:
        cases.append((case, str(spec), expect))

    # --- not an image at all
    (tmp / "empty.tar").write_bytes(b"")
    add("empty-file", tmp / "empty.tar", "empty file")
    (tmp / "random.bin").write_bytes(random.Random(7).randbytes(65536))
    add("random-bytes", tmp / "random.bin", "not a tar archive")
    packed = gzip.compress((FIXTURES / "small.oci-archive.tar").read_bytes())
    (tmp / "image.tar.gz").write_bytes(packed[: len(packed) // 2])
    add("truncated-gzip-compressed-archive", tmp / "image.tar.gz", "corrupt or truncated gzip-compressed archive")
    (tmp / "emptydir").mkdir()
    add("empty-directory", tmp / "emptydir", "holds neither")
    add("tar-without-image", _tar_files(tmp / "plain.tar", {"hello.txt": b"hi\n"}), "holds neither")
    add("no-such-path", tmp / "does-not-exist.oci", "no such file")

    # --- tar structure
    archive = FIXTURES / "small.oci-archive.tar"
    add("truncated-tar-mid-member", _truncate(archive, tmp / "trunc-mid.tar", archive.stat().st_size // 2),
        "truncated")
    add("truncated-tar-no-end-marker",
        _truncate(archive, tmp / "trunc-end.tar", _end_of_last_member(archive)), "truncated tar")
    docker_archive = FIXTURES / "small.docker-archive.tar"
    add("truncated-docker-archive",
        _truncate(docker_archive, tmp / "trunc-docker.tar", docker_archive.stat().st_size - 3000), "truncated")
    evil = tarfile.TarInfo("../evil.txt")
    add("tar-member-path-traversal", _tar_dir(FIXTURES / "small.oci", tmp / "traversal.tar", [evil]),
        "escapes the archive")
    absolute = tarfile.TarInfo("/etc/evil.txt")
    add("tar-member-absolute-path", _tar_dir(FIXTURES / "small.oci", tmp / "absolute.tar", [absolute]),
        "escapes the archive")
    add("tar-symlink-out-of-archive",
        _docker_save(tmp / "symlink-out.tar", links={"l3/layer.tar": "../../../etc/passwd"},
                     diff_ids=[_sha(b"a"), _sha(b"b"), _sha(b"c")]), "points outside the archive")
    add("tar-symlink-loop",
        _docker_save(tmp / "symlink-loop.tar", links={"l3/layer.tar": "loop.tar", "l3/loop.tar": "layer.tar"},
                     diff_ids=[_sha(b"a"), _sha(b"b"), _sha(b"c")],
                     layer_names=["l1/layer.tar", "l2/layer.tar", "l3/layer.tar"]), "too many levels")

    # --- OCI layout files
    layout = _copy(tmp, "no-index")
    (layout / "index.json").unlink()
    add("missing-index-json", layout, "index.json is missing")
    layout = _copy(tmp, "no-oci-layout")
    (layout / "oci-layout").unlink()
    add("missing-oci-layout", f"oci:{layout}", "oci-layout file is missing")
    layout = _copy(tmp, "layout-version")
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "2.0.0"}')
    add("unsupported-layout-version", layout, "imageLayoutVersion")
    layout = _copy(tmp, "index-not-json")
    (layout / "index.json").write_text('{"schemaVersion": 2, "manifests": [')
    add("index-json-not-json", layout, "invalid JSON")
    layout = _copy(tmp, "index-no-manifests")
    (layout / "index.json").write_text('{"schemaVersion": 2}')
    add("index-json-without-manifests", layout, "'manifests'")

    # --- index.json entries
    def entry_case(case: str, change: Dict[str, Any], expect: str) -> None:
        layout = _copy(tmp, case)
        index = _index(layout)
        index["manifests"][0].update(change)
        _write_index(layout, index)
        add(case, layout, expect)

    entry_case("bad-digest-string", {"digest": "sha256:1234"}, "invalid digest")
    entry_case("uppercase-digest", {"digest": _index(FIXTURES / "small.oci")["manifests"][0]["digest"].upper()
                                    .replace("SHA256", "sha256")}, "invalid digest")
    entry_case("unknown-digest-algorithm", {"digest": "md5:" + "0" * 32}, "invalid digest")
    entry_case("negative-size", {"size": -1}, "non-negative")
    entry_case("size-not-integer", {"size": "657"}, "non-negative")
    entry_case("manifest-wrong-descriptor-size", {"size": _index(FIXTURES / "small.oci")["manifests"][0]["size"] + 1},
               "declares size")
    entry_case("manifest-missing", {"digest": "sha256:" + "ab" * 32}, "is missing")
    entry_case("garbled-media-type", {"mediaType": "not a media type"}, "malformed media type")
    entry_case("unknown-manifest-media-type", {"mediaType": "application/vnd.example.unknown+json"},
               "unknown manifest media type")
    entry_case("manifest-over-4mib-declared", {"size": 5 << 20}, "exceeds the 4 MiB limit")
    entry_case("unknown-tag", {}, "no image named")
    cases[-1] = ("unknown-tag", cases[-1][1] + ":no-such-tag", "no image named")

    # --- manifest bytes
    layout = _copy(tmp, "manifest-content-changed")
    entry = _index(layout)["manifests"][0]
    path = _blob(layout, entry["digest"])
    raw = bytearray(path.read_bytes())
    raw[-2:-1] = b" "
    path.write_bytes(bytes(raw))
    add("manifest-content-mismatch", layout, "content has digest")
    layout = _copy(tmp, "manifest-duplicate-key")
    raw = _blob(layout, _index(layout)["manifests"][0]["digest"]).read_bytes()
    _set_manifest(layout, raw.rstrip()[:-1] + b', "layers": []}')
    add("manifest-duplicate-key", layout, "duplicate key 'layers'")
    layout = _copy(tmp, "manifest-not-json")
    _set_manifest(layout, b"this is not JSON")
    add("manifest-not-json", layout, "invalid JSON")
    layout = _copy(tmp, "manifest-huge")
    doc = _manifest(layout)
    doc["annotations"] = {"padding": "x" * (4 << 20)}
    _set_manifest(layout, json.dumps(doc).encode())
    add("manifest-over-4mib", layout, "exceeds the 4 MiB limit")
    add("manifest-without-config", _mutated(tmp, "no-config", lambda d: d.pop("config")), "missing 'config'")
    add("manifest-layers-not-array", _mutated(tmp, "layers-object", lambda d: d.update(layers={})), "'layers'")
    add("manifest-schema-version-1", _mutated(tmp, "schema-1", lambda d: d.update(schemaVersion=1)), "schemaVersion")
    add("manifest-media-type-conflict", _mutated(
        tmp, "type-conflict", lambda d: d.update(mediaType="application/vnd.docker.distribution.manifest.v2+json")),
        "differs from")
    add("layer-garbled-media-type",
        _mutated(tmp, "layer-type", lambda d: d["layers"][0].update(mediaType="tar gzip")), "malformed media type")
    add("layer-bad-digest",
        _mutated(tmp, "layer-digest", lambda d: d["layers"][1].update(digest="sha256:XYZ")), "invalid digest")
    add("layer-wrong-size",
        _mutated(tmp, "layer-size", lambda d: d["layers"][0].update(size=d["layers"][0]["size"] + 10)), "declares size")
    add("config-bad-size",
        _mutated(tmp, "config-size", lambda d: d["config"].update(size=True)), "non-negative")

    # --- blobs
    layout = _copy(tmp, "missing-layer")
    _blob(layout, _manifest(layout)["layers"][1]["digest"]).unlink()
    add("missing-layer-blob", layout, "is missing")
    layout = _copy(tmp, "missing-config")
    _blob(layout, _manifest(layout)["config"]["digest"]).unlink()
    add("missing-config-blob", layout, "is missing")
    layout = _copy(tmp, "symlink-out")
    victim = _blob(layout, _manifest(layout)["layers"][2]["digest"])
    outside = tmp / "symlink-out" / "outside.bin"
    outside.write_bytes(victim.read_bytes())
    victim.unlink()
    os.symlink(outside, victim)
    add("blob-symlink-out-of-layout", layout, "symlink points outside")
    layout = _copy(tmp, "blob-is-dir")
    victim = _blob(layout, _manifest(layout)["layers"][2]["digest"])
    victim.unlink()
    victim.mkdir()
    add("blob-not-a-regular-file", layout, "not a regular file")
    layout = _copy(tmp, "layer-content")
    victim = _blob(layout, _manifest(layout)["layers"][0]["digest"])
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    add("layer-content-mismatch", layout, "content has digest")

    # --- indexes
    layout = _copy(tmp, "index-child-missing", "multiarch.oci")
    inner = json.loads(_blob(layout, _index(layout)["manifests"][0]["digest"]).read_bytes())
    _blob(layout, inner["manifests"][1]["digest"]).unlink()
    add("index-child-manifest-missing", f"oci:{layout}:1", "is missing")
    add("several-images-without-ref", FIXTURES / "multiarch.oci", "holds 2 images")

    # --- docker save
    add("docker-manifest-json-not-json", _docker_save(tmp / "dm-json.tar", manifest_json=b"[{"), "invalid JSON")
    add("docker-manifest-json-object", _docker_save(tmp / "dm-object.tar", manifest_json=b"{}"), "not an array")
    add("docker-manifest-json-empty", _docker_save(tmp / "dm-empty.tar", manifest_json=b"[]"), "lists no images")
    add("docker-manifest-json-no-config",
        _docker_save(tmp / "dm-noconfig.tar", manifest_json=b'[{"Layers": []}]'), "Config")
    add("docker-missing-layer",
        _docker_save(tmp / "dm-missing-layer.tar", layer_names=["l1/layer.tar", "l9/layer.tar"]), "is missing")
    add("docker-config-not-json", _docker_save(tmp / "dm-config.tar", config=b"{oops", config_name="config.json"),
        "invalid JSON")
    add("docker-config-name-mismatch",
        _docker_save(tmp / "dm-config-name.tar", config_name="ab" * 32 + ".json"), "its name says")
    add("docker-diff-ids-count-mismatch", _docker_save(tmp / "dm-diffids.tar", diff_ids=[_sha(b"x")]),
        "rootfs.diff_ids")
    add("docker-bad-diff-id", _docker_save(tmp / "dm-bad-diffid.tar", diff_ids=["sha256:nope", _sha(b"y")]),
        "invalid digest")
    add("docker-layer-path-traversal",
        _docker_save(tmp / "dm-traversal.tar", layer_names=["l1/layer.tar", "../../etc/passwd"]), "escapes the archive")
    add("docker-config-absolute-path",
        _docker_save(tmp / "dm-absolute.tar", manifest_json=b'[{"Config": "/etc/passwd", "Layers": []}]'),
        "escapes the archive")
    skopeo_dir = tmp / "skopeo-dir"
    skopeo_dir.mkdir()
    (skopeo_dir / "manifest.json").write_bytes(_blob(FIXTURES / "small.oci", _index(FIXTURES / "small.oci")[
        "manifests"][0]["digest"]).read_bytes())
    (skopeo_dir / "version").write_text("Directory Transport Version: 1.1\n")
    add("skopeo-dir-layout", skopeo_dir, "is missing")  # read as a skopeo dir: copy whose blobs are absent
    add("docker-bzip2-layer", _docker_save(tmp / "dm-bzip2.tar", layers={"l1/layer.tar": b"BZh91AY&SY" + b"\0" * 100}),
        "bzip2")
    add("docker-unknown-repo-tag", "docker-archive:" + str(_docker_save(tmp / "dm-tag.tar")) + ":other:2",
        "no image named")
    layers = {"l1/layer.tar": _layer(b"one\n")}
    add("docker-layer-content-mismatch",
        _docker_save(tmp / "dm-content.tar", layers=layers, diff_ids=[_sha(_layer(b"uno\n"))]), "content has digest")
    return cases
