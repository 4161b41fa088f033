"""Images as real tools write them in the wild, made at test time with skopeo, umoci and Python
(tests/imagegen.py), opened by the readers, pushed with ``python -m pypush push`` to docker-registry and
to the local ECR Public endpoint, and pulled back with skopeo; digests are compared with what the
producing tool wrote. Broken inputs not in tests/broken_corpus.py: exit 3, one line, nothing sent."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import boto3
import pytest

from conftest import Skopeo, oci_blob_path, run_pypush, start_docker_registry, server_fixture
from imagegen import OCI_INDEX, LayoutWriter, compress, docker_save, named, random_bytes, tar_layer, write_tar
from pullcheck import docker_archive_expectations, pull_and_check, sha256
from counting_listener import Listener
from pypush.cli.main import main
from pypush.image.digest import VerifyingReader
from pypush.errors import SourceError, UsageError
from pypush.image.platforms import parse_platform
from pypush.image.model import DOCKER_MANIFEST, OCI_LAYER_ZSTD, OCI_MANIFEST, ImageIndex, ImageManifest, walk
from pypush.sources import open_source

REF_NAME = "org.opencontainers.image.ref.name"
LAYERS = [tar_layer([("etc/a.txt", b"hello\n" * 100)]), tar_layer([("bin/b", random_bytes(4096, 1))]),
          tar_layer([("c.txt", b"c\n")])]
ATTESTATION = {"vnd.docker.reference.type": "attestation-manifest"}


@dataclass
class Flavour:
    """One input: its source spec and what the tool that wrote it says it holds."""

    spec: str
    digest: Optional[str] = None  # the root manifest digest (kept byte for byte)
    config: Optional[str] = None  # docker save without an OCI image: the config digest ...
    diff_ids: List[str] = field(default_factory=list)  # ... and its layers' diff_ids
    tags: Optional[List[str]] = None  # the tags the source suggests
    pull: bool = True  # False: skopeo cannot pull it (nested index) or check its layers (encrypted, chunked)


def _index_json(path: Path) -> dict:
    """index.json of a layout directory or OCI archive, read with json/tarfile alone."""
    if path.is_dir():
        return json.loads((path / "index.json").read_bytes())
    with tarfile.open(path) as tar:
        return json.load(tar.extractfile("index.json"))


def _entry(path: Path, ref: Optional[str] = None) -> str:
    """The digest index.json names ``ref`` (or its only entry)."""
    entries = _index_json(path)["manifests"]
    if ref is None:
        assert len(entries) == 1
        return entries[0]["digest"]
    return next(e["digest"] for e in entries if (e.get("annotations") or {}).get(REF_NAME) == ref)


def _docker(path: Path, ref: str, index: int, tags: List[str]) -> Flavour:
    """A docker save without an OCI image: config and diff_ids of image ``index`` of ``path``."""
    want = docker_archive_expectations(path, index)
    return Flavour(ref, config=want["config"], diff_ids=want["diff_ids"], tags=tags)


def _two_platforms(w: LayoutWriter) -> Tuple[dict, dict, dict]:
    a = w.image(LAYERS[:1], arch="amd64", seed="a")
    b = w.image(LAYERS[1:2], arch="arm64", seed="b")
    return a, b, w.index([named(a, platform=("amd64", "linux")), named(b, platform=("arm64", "linux"))])


def build_flavours(root: Path, skopeo: Skopeo) -> Dict[str, Flavour]:
    """Write every input under ``root``; name -> Flavour."""
    out: Dict[str, Flavour] = {}

    def copy(*args: str) -> None:
        skopeo.run("copy", "-q", *args)

    # --- OCI layouts written from Python, then rewritten by skopeo
    w = LayoutWriter(root / "base.oci")
    base = w.image(LAYERS[:2], annotations={"org.opencontainers.image.title": "base"})
    w.write_index([named(base, ref="1")])
    out["python-oci-gzip"] = Flavour(str(w.layout), base["digest"], tags=["1"])
    w = LayoutWriter(root / "multi.oci")
    w.write_index([named(_two_platforms(w)[2], ref="1")])

    copy("--format", "v2s2", f"oci:{root}/base.oci:1", f"oci:{root}/v2s2.oci:1")
    out["skopeo-v2s2-in-oci"] = Flavour(f"oci:{root}/v2s2.oci:1", _entry(root / "v2s2.oci", "1"), tags=["1"])
    copy("--format", "v2s2", f"oci:{root}/base.oci:1", f"oci-archive:{root}/v2s2.tar:1")
    out["skopeo-v2s2-oci-archive"] = Flavour(f"{root}/v2s2.tar", _entry(root / "v2s2.tar", "1"), tags=["1"])
    copy("--format", "oci", f"oci:{root}/base.oci:1", f"oci-archive:{root}/oci.tar:1")
    out["skopeo-oci-archive"] = Flavour(f"oci-archive:{root}/oci.tar:1", _entry(root / "oci.tar", "1"), tags=["1"])
    copy(f"oci:{root}/base.oci:1", f"docker-archive:{root}/da.tar:app:1", "--additional-tag", "other/app:2",
         "--additional-tag", "docker.io/library/third:3")
    out["skopeo-docker-archive-tag"] = _docker(root / "da.tar", f"docker-archive:{root}/da.tar:other/app:2", 0, ["2"])
    out["skopeo-docker-archive-library"] = _docker(root / "da.tar", f"{root}/da.tar:third:3", 0, ["3"])
    copy("--format", "oci", f"docker-archive:{root}/da.tar:app:1", f"oci:{root}/from-docker.oci")
    out["skopeo-docker-to-oci-unnamed"] = Flavour(f"{root}/from-docker.oci", _entry(root / "from-docker.oci"),
                                                  tags=[])
    copy("--all", f"oci:{root}/multi.oci:1", f"oci:{root}/all.oci:x")
    out["skopeo-all-oci"] = Flavour(f"oci:{root}/all.oci", _entry(root / "all.oci", "x"), tags=["x"])
    copy("--all", f"oci:{root}/multi.oci:1", f"oci-archive:{root}/all.tar:x")
    out["skopeo-all-oci-archive"] = Flavour(f"{root}/all.tar:x", _entry(root / "all.tar", "x"), tags=["x"])
    copy("--all", "--format", "v2s2", f"oci:{root}/multi.oci:1", f"oci:{root}/list.oci:y")
    out["skopeo-all-docker-list"] = Flavour(f"{root}/list.oci", _entry(root / "list.oci", "y"), tags=["y"])
    copy("--dest-compress-format", "zstd:chunked", f"oci:{root}/base.oci:1", f"oci:{root}/chunked.oci:1")
    out["skopeo-zstd-chunked"] = Flavour(f"{root}/chunked.oci", _entry(root / "chunked.oci", "1"), tags=["1"],
                                         pull=False)
    key = root / "key.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True, timeout=60)
    subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-out", f"{key}.pub"], check=True,
                   capture_output=True, timeout=60)
    copy("--encryption-key", f"jwe:{key}.pub", f"oci:{root}/base.oci:1", f"oci:{root}/encrypted.oci:1")
    out["skopeo-encrypted-layers"] = Flavour(f"{root}/encrypted.oci", _entry(root / "encrypted.oci", "1"),
                                             tags=["1"], pull=False)
    # several images in one layout, one by one
    several = root / "several.oci"
    copy(f"oci:{root}/base.oci:1", f"oci:{several}:one")
    copy("--all", f"oci:{root}/multi.oci:1", f"oci:{several}:two")
    copy("--format", "v2s2", f"oci:{root}/base.oci:1", f"oci:{several}:three")
    for i, ref in enumerate(["one", "two", "three"]):
        out[f"several-by-ref-{ref}"] = Flavour(f"oci:{several}:{ref}", _entry(several, ref), tags=[ref])
    out["several-by-position"] = Flavour(f"{several}:@1", _entry(several, "two"), tags=["two"])
    subprocess.run(["tar", "-C", str(several), "-cf", str(root / "several.tar"), "."], check=True, timeout=60)
    out["several-in-oci-archive"] = Flavour(f"oci-archive:{root}/several.tar:three", _entry(several, "three"),
                                            tags=["three"])

    # --- umoci: a layout with two tags, manifests without mediaType
    lay, src = root / "umoci", root / "umoci-src"
    (src / "etc").mkdir(parents=True)
    (src / "etc" / "motd").write_text("umoci\n")
    for args in (["init", "--layout", str(lay)], ["new", "--image", f"{lay}:a"],
                 ["insert", "--image", f"{lay}:a", str(src), "/"], ["tag", "--image", f"{lay}:a", "b"],
                 ["config", "--image", f"{lay}:b", "--config.cmd", "/bin/true"], ["gc", "--layout", str(lay)]):
        subprocess.run(["umoci", *args], check=True, capture_output=True, timeout=60)
    out["umoci-second-tag"] = Flavour(f"oci:{lay}:b", _entry(lay, "b"), tags=["b"])

    # --- odd but valid layouts written from Python
    w = LayoutWriter(root / "nested.oci")
    a, _, inner = _two_platforms(w)
    outer = w.index([w.index([inner]), named(a, platform=("amd64", "linux"))])
    w.write_index([named(outer, ref="1")])
    out["nested-indexes"] = Flavour(str(w.layout), outer["digest"], tags=["1"], pull=False)
    w = LayoutWriter(root / "containerd.oci")
    m = w.image(LAYERS[:2], seed="ctr")
    w.write_index([named(m, containerd="docker.io/library/app:1")])
    out["containerd-name-by-tag"] = Flavour(f"oci:{w.layout}:1", m["digest"], tags=["1"])
    out["containerd-name-by-short-name"] = Flavour(f"{w.layout}:app:1", m["digest"], tags=["1"])
    w = LayoutWriter(root / "fullref.oci")
    m = w.image(LAYERS[:1], seed="full")
    w.write_index([named(m, ref="docker.io/library/app:7")])
    out["full-name-ref-by-short-name"] = Flavour(f"{w.layout}:app:7", m["digest"], tags=["7"])
    w = LayoutWriter(root / "platforms.oci")  # per-platform manifests right in index.json, no index blob
    a, b, _ = _two_platforms(w)
    w.write_index([named(a, platform=("amd64", "linux")), named(b, platform=("arm64", "linux"))], media_type=False)
    raw = (w.layout / "index.json").read_bytes()
    out["index-json-as-platform-set"] = Flavour(str(w.layout), sha256(raw),
                                                tags=[])
    w = LayoutWriter(root / "attest.oci")
    a = w.image(LAYERS[:1], seed="img")
    att = w.image([b'{"predicateType": "https://slsa.dev/provenance/v0.2"}'], compression=None, seed="att")
    ix = w.index([named(a, platform=("amd64", "linux")),
                  dict(named(att, platform=("unknown", "unknown")),
                       annotations={**ATTESTATION, "vnd.docker.reference.digest": a["digest"]})])
    w.write_index([named(ix, ref="1", containerd="docker.io/library/app:1")])
    out["index-with-attestation"] = Flavour(str(w.layout), ix["digest"], tags=["1"])
    w = LayoutWriter(root / "mixed.oci")  # plain, gzip and zstd layers in one image, Docker types elsewhere
    m = w.image(LAYERS, compression=None)
    doc = json.loads(oci_blob_path(w.layout, m["digest"]).read_bytes())
    doc["layers"][1] = w.put(compress(LAYERS[1], "gzip"), "application/vnd.oci.image.layer.v1.tar+gzip")
    doc["layers"][2] = w.put(compress(LAYERS[2], "zstd"), OCI_LAYER_ZSTD)
    m = w.put(json.dumps(doc).encode(), OCI_MANIFEST)
    d = w.image(LAYERS[:2], compression=None, docker=True, seed="docker-plain")
    w.write_index([named(m, ref="mixed"), named(d, ref="docker-plain")])
    out["mixed-compression"] = Flavour(f"{w.layout}:mixed", m["digest"], tags=["mixed"])
    out["docker-types-plain-layers-in-oci"] = Flavour(f"{w.layout}:docker-plain", d["digest"], tags=["docker-plain"])
    w = LayoutWriter(root / "artifacts.oci")
    img = w.image(LAYERS[:1], seed="subject")
    sbom = w.artifact("application/spdx+json", [("application/spdx+json", b'{"spdxVersion": "SPDX-2.3"}')],
                      subject=img, annotations={"org.opencontainers.image.created": "2024-01-01T00:00:00Z"})
    bare = w.artifact("application/vnd.example.config+json", [])
    helm_cfg = w.put(b'{"name": "chart", "version": "1.0.0"}', "application/vnd.cncf.helm.config.v1+json")
    helm_layer = w.put(compress(LAYERS[0], "gzip"), "application/vnd.cncf.helm.chart.content.v1.tar+gzip")
    helm = w.put(json.dumps({"schemaVersion": 2, "config": helm_cfg, "layers": [helm_layer]}).encode(), OCI_MANIFEST)
    refs = {"artifactType": "application/vnd.example.list+json",
            "subject": {k: img[k] for k in ("mediaType", "digest", "size")}}
    listing = w.put(json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [sbom, bare], **refs})
                    .encode(), OCI_INDEX)
    w.write_index([named(img, ref="image"), named(sbom, ref="sbom"), named(bare, ref="empty"), named(helm, ref="helm"),
                   named(listing, ref="index-with-subject")])
    for ref, desc in (("sbom", sbom), ("empty", bare), ("helm", helm), ("index-with-subject", listing)):
        out[f"artifact-{ref}"] = Flavour(f"oci:{w.layout}:{ref}", desc["digest"], tags=[ref])
    w = LayoutWriter(root / "clutter.oci")  # unrelated blobs, an ingest dir, blobs behind symlinks
    m = w.image(LAYERS[:2], seed="clutter")
    w.put(random_bytes(2000, 9), "application/octet-stream")
    (w.layout / "ingest").mkdir()
    (w.layout / "blobs" / "sha512").mkdir()
    (w.layout / "store").mkdir()
    for blob in (w.layout / "blobs" / "sha256").iterdir():
        blob.rename(w.layout / "store" / blob.name)
        blob.symlink_to(f"../../store/{blob.name}")
    w.write_index([named(m, ref="1")])
    out["extra-blobs-and-symlinks"] = Flavour(f"{w.layout}:1", m["digest"], tags=["1"])
    subprocess.run(["tar", "-C", str(root / "base.oci"), "-cf", str(root / "twice.tar"), ".", "./index.json",
                    "./oci-layout"], check=True, timeout=60)
    out["gnu-tar-member-twice"] = Flavour(str(root / "twice.tar"), base["digest"], tags=["1"])

    # --- docker save, legacy and Docker 25+, several images, ./ names, gzip and zstd layers
    w = LayoutWriter(root / "dsrc.oci")
    a = w.image(LAYERS[:2], compression=None, seed="a")
    b = w.image([LAYERS[0], LAYERS[2]], compression=None, seed="b")
    w.write_index([named(a, ref="1", containerd="docker.io/library/app:1"),
                   named(b, ref="2", containerd="docker.io/library/app:2")])
    images = [(a, ["app:1"]), (b, ["app:2", "other/app:latest"])]
    docker_save(w.layout, root / "d25.tar", images)
    out["docker25-two-images"] = Flavour(f"{root}/d25.tar:app:2", b["digest"], tags=["2"])
    docker_save(w.layout, root / "d25-dot.tar", images, prefix="./")
    out["docker25-dot-slash"] = Flavour(f"docker-archive:{root}/d25-dot.tar:@0", a["digest"], tags=["1"])
    docker_save(w.layout, root / "legacy.tar", images, oci=False)
    out["legacy-two-images"] = _docker(root / "legacy.tar", f"{root}/legacy.tar:other/app:latest", 1, ["latest"])
    docker_save(w.layout, root / "legacy-dot.tar", images, oci=False, prefix="./")
    out["legacy-dot-slash"] = _docker(root / "legacy.tar", f"{root}/legacy-dot.tar:@1", 1, ["2", "latest"])
    for name in ("d25", "da"):  # unpacked: `mkdir x && tar -C x -xf save.tar`
        (root / f"{name}-unpacked").mkdir()
        subprocess.run(["tar", "-C", str(root / f"{name}-unpacked"), "-xf", str(root / f"{name}.tar")], check=True,
                       timeout=60)
    out["docker25-unpacked-directory"] = Flavour(f"docker-archive:{root}/d25-unpacked:app:2", b["digest"], tags=["2"])
    out["skopeo-docker-archive-unpacked"] = _docker(root / "da.tar", f"{root}/da-unpacked:docker.io/library/app:1",
                                                    0, ["1"])
    docker_save(w.layout, root / "legacy-untagged.tar", [(a, [])], oci=False)
    out["legacy-untagged"] = _docker(root / "legacy-untagged.tar", f"{root}/legacy-untagged.tar", 0, [])
    w = LayoutWriter(root / "bx.oci")  # buildx --output type=docker: gzip blobs, an index with an attestation
    a = w.image(LAYERS[:2], seed="bx")
    att = w.image([b"{}"], compression=None, seed="att")
    ix = w.index([named(a, platform=("amd64", "linux")),
                  dict(named(att, platform=("unknown", "unknown")), annotations=ATTESTATION)])
    w.write_index([named(ix, ref="latest", containerd="docker.io/library/bx:latest")])
    docker_save(w.layout, root / "buildx.tar", [(a, ["bx:latest"])])
    out["buildx-type-docker"] = Flavour(f"{root}/buildx.tar", ix["digest"], tags=["latest"])
    docker_save(w.layout, root / "legacy-gzip.tar", [(a, ["bx:latest"])], oci=False, decompress=False)
    out["legacy-gzip-layers"] = _docker(root / "legacy-gzip.tar", f"{root}/legacy-gzip.tar", 0, ["latest"])
    w = LayoutWriter(root / "z.oci")
    z = w.image(LAYERS[:2], compression="zstd", seed="z")
    w.write_index([named(z, ref="1", containerd="docker.io/library/z:1")])
    docker_save(w.layout, root / "d25-zstd.tar", [(z, ["z:1"])])
    out["docker25-zstd"] = Flavour(f"{root}/d25-zstd.tar", z["digest"], tags=["1"])
    docker_save(w.layout, root / "legacy-zstd.tar", [(z, ["z:1"])], oci=False, decompress=False)
    out["legacy-zstd-layers"] = _docker(root / "legacy-zstd.tar", f"{root}/legacy-zstd.tar", 0, ["1"])
    return out


FLAVOURS = [
    "python-oci-gzip", "skopeo-v2s2-in-oci", "skopeo-v2s2-oci-archive", "skopeo-oci-archive",
    "skopeo-docker-archive-tag", "skopeo-docker-archive-library", "skopeo-docker-to-oci-unnamed", "skopeo-all-oci",
    "skopeo-all-oci-archive", "skopeo-all-docker-list", "skopeo-zstd-chunked", "skopeo-encrypted-layers",
    "several-by-ref-one", "several-by-ref-two", "several-by-ref-three", "several-by-position",
    "several-in-oci-archive", "umoci-second-tag", "nested-indexes", "containerd-name-by-tag",
    "containerd-name-by-short-name", "full-name-ref-by-short-name", "index-json-as-platform-set",
    "index-with-attestation", "mixed-compression", "docker-types-plain-layers-in-oci", "artifact-sbom",
    "artifact-empty", "artifact-helm", "artifact-index-with-subject", "extra-blobs-and-symlinks",
    "gnu-tar-member-twice", "docker25-two-images", "docker25-dot-slash", "legacy-two-images", "legacy-dot-slash",
    "legacy-untagged", "buildx-type-docker", "legacy-gzip-layers", "docker25-zstd", "legacy-zstd-layers",
    "docker25-unpacked-directory", "skopeo-docker-archive-unpacked",
]


@pytest.fixture(scope="module")
def flavours(tmp_path_factory, skopeo) -> Dict[str, Flavour]:
    made = build_flavours(tmp_path_factory.mktemp("wild"), skopeo)
    assert sorted(made) == sorted(FLAVOURS)
    return made


@server_fixture(scope="module")
def ecr(tmp_path_factory):
    from pypush.server import LocalEndpoint

    with LocalEndpoint(data_dir=tmp_path_factory.mktemp("ecr")) as ep:
        yield ep


def _stream(blob) -> int:
    with blob.open() as f:
        reader = VerifyingReader(f, blob.descriptor.digest, blob.descriptor.size, blob.name)
        return sum(len(chunk) for chunk in iter(lambda: reader.read(1 << 16), b""))


@pytest.mark.parametrize("name", FLAVOURS)
def test_flavour_opens_as_its_tool_wrote_it(flavours, name):
    f = flavours[name]
    with open_source(f.spec) as src:
        if f.digest:
            assert src.root.descriptor.digest == f.digest
        else:
            assert isinstance(src.root, ImageManifest) and src.root.config.descriptor.digest == f.config
        assert f.tags is None or src.tags == f.tags
        for node in walk(src.root):
            if isinstance(node, ImageManifest):
                assert all(_stream(b) == b.descriptor.size for b in node.blobs)


def _check_pulled(skopeo: Skopeo, ref: str, f: Flavour, digest: str, dest: Path) -> None:
    if not f.pull:  # every manifest by digest (skopeo), every blob by HEAD
        import requests

        assert skopeo.inspect_raw(ref) and digest == f.digest
        repo = ref.rsplit(":", 1)[0]
        host, _, name = repo.partition("/")
        with open_source(f.spec) as src:
            for node in walk(src.root):
                assert skopeo.inspect_raw(f"{repo}@{node.descriptor.digest}") == node.raw
                for blob in node.blobs if isinstance(node, ImageManifest) else []:
                    head = requests.head(f"http://{host}/v2/{name}/blobs/{blob.descriptor.digest}", timeout=30)
                    assert head.status_code == 200 and int(head.headers["Content-Length"]) == blob.descriptor.size
        return
    got = pull_and_check(skopeo, ref, dest, expected_digest=digest)
    if f.digest:
        assert digest == f.digest
    else:
        assert got["configs"] == [f.config] and got["diff_ids"] == [f.diff_ids]


@pytest.mark.parametrize("name", FLAVOURS)
def test_flavour_round_trips_through_both_transports(flavours, registry, ecr, skopeo, tmp_path, name):
    f = flavours[name]
    repo = name.replace("_", "-")
    compression = "keep" if f.digest else "gzip"
    targets = {"v2": (f"{registry.host}/{repo}:t", f"{registry.host}/{repo}:t", ["--insecure"]),
               "ecr": (f"public.ecr.aws/local/{repo}:t", f"{ecr.host_port}/{repo}:t",
                       ["--endpoint-url", ecr.url, "--create-repository"])}
    with ThreadPoolExecutor(2) as pool:  # both pushes at once (each is mostly interpreter start-up)
        procs = {kind: pool.submit(run_pypush, "push", f.spec, dest, "--format", "json", "--compression",
                                   compression, *extra) for kind, (dest, _, extra) in targets.items()}
    for kind, (_, pull, _) in targets.items():
        proc = procs[kind].result()
        assert proc.returncode == 0, f"{kind}: {proc.stderr}"
        _check_pulled(skopeo, pull, f, json.loads(proc.stdout)["digest"], tmp_path / kind)


def test_spec_forms_of_one_layout(flavours):
    """``PATH``, ``oci:PATH``, ``oci:PATH:REF``, ``PATH:@N`` and a digest pick the same image."""
    several = Path(flavours["several-by-ref-one"].spec.split(":")[1])
    two = _entry(several, "two")
    for spec in (f"oci:{several}:two", f"{several}:two", f"{several}:@1", f"oci:{several}:@1", f"{several}:{two}"):
        assert open_source(spec).root.descriptor.digest == two, spec
    with pytest.raises(SourceError, match="holds 3 images.*choices: one, two, three"):
        open_source(f"oci:{several}")
    base = flavours["python-oci-gzip"].spec
    assert {open_source(s).root.descriptor.digest for s in (base, f"oci:{base}", f"oci:{base}:1", f"{base}:@0")} == {
        flavours["python-oci-gzip"].digest}
    d25 = flavours["docker25-two-images"].spec.rsplit(":", 2)[0]
    assert open_source(f"oci-archive:{d25}:2").root.descriptor.digest == flavours["docker25-two-images"].digest
    assert open_source(f"docker-archive:{d25}:docker.io/library/app:2").tags == ["2"]


def test_tag_match_on_full_names_prefers_the_exact_name(tmp_path):
    """A bare tag falls back to the tag of a full name only when no entry is named exactly that."""
    w = LayoutWriter(tmp_path / "l.oci")
    a, b = w.image(LAYERS[:1], seed="a"), w.image(LAYERS[1:2], seed="b")
    w.write_index([named(a, ref="1"), named(b, containerd="docker.io/library/app:1")])
    assert open_source(f"{w.layout}:1").root.descriptor.digest == a["digest"]
    assert open_source(f"{w.layout}:app:1").root.descriptor.digest == b["digest"]
    w.write_index([named(a, containerd="registry.example/x:1"), named(b, containerd="docker.io/library/app:1")])
    with pytest.raises(SourceError, match="'1' names 2 different images"):
        open_source(f"{w.layout}:1")


def _foreign_layout(root: Path) -> Tuple[Path, str]:
    """An image whose first layer is foreign (Docker, with urls) and absent, as skopeo and docker leave it."""
    w = LayoutWriter(root)
    m = w.image(LAYERS[:1], docker=True, seed="windows")
    doc = json.loads(oci_blob_path(root, m["digest"]).read_bytes())
    doc["layers"].insert(0, {"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                             "size": 1234, "digest": "sha256:" + "ab" * 32,
                             "urls": ["https://mcr.microsoft.com/v2/windows/blobs/sha256:" + "ab" * 32]})
    config = json.loads(oci_blob_path(root, doc["config"]["digest"]).read_bytes())
    config["rootfs"]["diff_ids"].insert(0, "sha256:" + "ef" * 32)
    doc["config"] = w.put(json.dumps(config).encode(), doc["config"]["mediaType"])
    m = w.put(json.dumps(doc).encode(), DOCKER_MANIFEST)
    w.write_index([named(m, ref="1")])
    return root, m["digest"]


def test_foreign_layers_absent_from_the_layout_are_not_pushed(tmp_path, skopeo):
    layout, digest = _foreign_layout(tmp_path / "foreign.oci")
    with open_source(str(layout)) as src:
        assert src.root.descriptor.digest == digest
        assert [b.descriptor.digest for b in src.root.layers] == [json.loads(src.root.raw)["layers"][1]["digest"]]
    reg = start_docker_registry(tmp_path / "reg", "validation: {manifests: {urls: {allow: ['^https://']}}}\n")
    try:
        proc = run_pypush("push", str(layout), f"{reg.host}/win:1", "--insecure", "--format", "json")
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["digest"] == digest
        assert skopeo.inspect_raw(f"{reg.host}/win:1") == oci_blob_path(layout, digest).read_bytes()
    finally:
        reg.stop()
    # a layer that is not foreign must still be present
    doc = json.loads(oci_blob_path(layout, digest).read_bytes())
    del doc["layers"][0]["urls"]
    doc["layers"][0]["mediaType"] = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    w = LayoutWriter(layout)
    w.write_index([named(w.put(json.dumps(doc).encode(), DOCKER_MANIFEST), ref="1")])
    with pytest.raises(SourceError, match="blob sha256:abab.* is missing"):
        open_source(str(layout))


def test_foreign_layers_absent_from_the_layout_push_to_the_ecr_endpoint(tmp_path, endpoint):
    """ECR accepts an image whose foreign layers it never received (Windows base layers), as the local
    endpoint now does; the layers that are not foreign must still be there."""
    layout, digest = _foreign_layout(tmp_path / "foreign.oci")
    proc = run_pypush("push", str(layout), "public.ecr.aws/local/win:1", "--endpoint-url", endpoint.url,
                      "--create-repository", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["digest"] == digest
    client = boto3.client("ecr-public", endpoint_url=endpoint.url, region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="y")
    detail, = client.describe_images(repositoryName="win")["imageDetails"]
    assert detail["imageDigest"] == digest and detail["imageTags"] == ["1"]


def test_zstd_docker_save_gets_an_oci_manifest(flavours):
    """Docker schema 2 has no zstd layer type: the generated manifest is OCI throughout."""
    with open_source(flavours["legacy-zstd-layers"].spec) as src:
        doc = json.loads(src.root.raw)
        assert src.root.descriptor.media_type == doc["mediaType"] == OCI_MANIFEST
        assert doc["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
        assert [layer["mediaType"] for layer in doc["layers"]] == [OCI_LAYER_ZSTD] * 2
    with open_source(flavours["legacy-gzip-layers"].spec) as src:
        assert src.root.descriptor.media_type == DOCKER_MANIFEST


def test_platform_set_and_nested_index_shapes(flavours):
    with open_source(flavours["index-json-as-platform-set"].spec) as src:
        assert isinstance(src.root, ImageIndex) and len(src.root.children) == 2
    with open_source(flavours["nested-indexes"].spec) as src:
        assert [type(c).__name__ for c in src.root.children] == ["ImageIndex", "ImageManifest"]
        assert isinstance(src.root.children[0].children[0], ImageIndex)
        amd64 = src.root.children[1]
    spec = flavours["nested-indexes"].spec
    with open_source(spec, platforms=[parse_platform("linux/arm64")]) as src:  # found two indexes down
        assert isinstance(src.root, ImageManifest) and src.root.descriptor.platform["architecture"] == "arm64"
    with open_source(spec, platforms=[parse_platform("linux/amd64")]) as src:  # listed twice: one image
        assert src.root.raw == amd64.raw
    with pytest.raises(UsageError, match=r"no image for platform linux/s390x \(it offers linux/amd64, linux/arm64\)"):
        open_source(spec, platforms=[parse_platform("linux/s390x")])
    with open_source(spec, platforms=[parse_platform("linux/arm64"), parse_platform("linux/amd64")]) as src:
        assert [type(c).__name__ for c in src.root.children] == ["ImageIndex"]  # the duplicate amd64 dropped
        inner = src.root.children[0].children[0]
        assert [c.descriptor.platform["architecture"] for c in inner.children] == ["amd64", "arm64"]
    with open_source(spec, platforms=[parse_platform("linux/arm64"), parse_platform("linux/arm64")]) as src:
        kept = json.loads(src.root.raw)["manifests"]  # indexes rewritten up the tree, each naming the new one
        assert len(kept) == 1 and kept[0]["digest"] == src.root.children[0].descriptor.digest
        assert sha256(src.root.children[0].raw) == kept[0]["digest"] != flavours["nested-indexes"].digest
        leaf = src.root.children[0].children[0].children
        assert [c.descriptor.platform["architecture"] for c in leaf] == ["arm64"]


# --- broken inputs beyond tests/broken_corpus.py -------------------------------------------------------

BrokenCase = Tuple[str, str, str]


def make_broken(tmp: Path) -> List[BrokenCase]:
    """(case, spec, expected message part) for inputs the corpus does not hold."""
    cases: List[BrokenCase] = []

    def layout(case: str, **kw) -> Tuple[LayoutWriter, dict]:
        w = LayoutWriter(tmp / case)
        m = w.image(LAYERS[:2], **kw)
        w.write_index([named(m, ref="1")])
        return w, m

    def index_json(case: str, text: str, expect: str) -> None:
        w, _ = layout(case)
        (w.layout / "index.json").write_bytes(text.encode("latin-1"))
        cases.append((case, str(w.layout), expect))

    def manifest(case: str, change: Callable[[dict], object], expect: str) -> None:
        w, m = layout(case)
        doc = json.loads(oci_blob_path(w.layout, m["digest"]).read_bytes())
        new = change(doc)
        raw = new if isinstance(new, bytes) else json.dumps(doc).encode()
        w.write_index([named(w.put(raw, OCI_MANIFEST), ref="1")])
        cases.append((case, str(w.layout), expect))

    def blob(case: str, replace: Callable[[Path], None], expect: str) -> None:
        w, m = layout(case)
        path = oci_blob_path(w.layout, json.loads(oci_blob_path(w.layout, m["digest"]).read_bytes())[
            "layers"][0]["digest"])
        path.unlink()
        replace(path)
        cases.append((case, str(w.layout), expect))

    deep = "[" * 100000 + "]" * 100000
    index_json("index-json-deeply-nested", '{"schemaVersion": 2, "manifests": ' + deep + "}", "nested too deeply")
    index_json("index-json-array", "[]", "not an object")
    index_json("index-json-empty-file", "", "invalid JSON")
    index_json("index-json-bom", '\ufeff{"schemaVersion": 2, "manifests": []}'.encode().decode("latin-1"),
               "invalid JSON")
    index_json("index-json-latin1", '{"schemaVersion": 2, "manifests": [], "x": "\xe9"}', "not UTF-8")
    index_json("index-json-no-images", '{"schemaVersion": 2, "manifests": []}', "lists no images")
    index_json("index-json-entry-string", '{"schemaVersion": 2, "manifests": ["x"]}', "not a JSON object")
    index_json("index-json-schema-3", '{"schemaVersion": 3, "manifests": []}', "schemaVersion is 3")
    w, m = layout("index-json-bad-platform")
    w.write_index([dict(named(m, ref="1"), platform={"architecture": 1})])
    cases.append(("index-json-bad-platform", str(w.layout), "needs string architecture and os"))
    w, m = layout("index-json-bad-platform-features")
    w.write_index([named(m, ref="1", platform=("amd64", "linux"))])
    index = json.loads((w.layout / "index.json").read_bytes())
    index["manifests"][0]["platform"]["os.features"] = "win32k"
    (w.layout / "index.json").write_text(json.dumps(index))
    cases.append(("index-json-bad-platform-features", str(w.layout), "platform.os.features: not an array of strings"))
    w, m = layout("index-json-bad-annotations")
    w.write_index([dict(m, annotations={REF_NAME: 1})])
    cases.append(("index-json-bad-annotations", str(w.layout), "annotations: not a map of strings"))
    w, _ = layout("oci-layout-array")
    (w.layout / "oci-layout").write_text("[]")
    cases.append(("oci-layout-array", str(w.layout), "not an object"))
    w, _ = layout("oci-layout-no-version")
    (w.layout / "oci-layout").write_text("{}")
    cases.append(("oci-layout-no-version", str(w.layout), "imageLayoutVersion"))
    w, _ = layout("index-json-is-a-directory")
    (w.layout / "index.json").unlink()
    (w.layout / "index.json").mkdir()
    cases.append(("index-json-is-a-directory", str(w.layout), "not a regular file"))
    w, _ = layout("no-blobs-directory")
    shutil.rmtree(w.layout / "blobs")
    cases.append(("no-blobs-directory", str(w.layout), "is missing"))
    w, _ = layout("position-out-of-range")
    cases.append(("position-out-of-range", f"{w.layout}:@5", "no image @5"))
    cases.append(("digest-not-in-layout", f"{w.layout}:sha256:{'0' * 64}", "no manifest sha256:0000"))

    manifest("manifest-deeply-nested", lambda d: ('{"schemaVersion": 2, "x": ' + deep + "}").encode(),
             "nested too deeply")
    manifest("manifest-json-array", lambda d: b"[]", "not an object")
    manifest("manifest-utf16", lambda d: json.dumps(d).encode("utf-16"), "not UTF-8")
    manifest("manifest-bad-annotations", lambda d: d.update(annotations={"a": ["b"]}), "annotations: not a map")
    manifest("layer-urls-not-array", lambda d: d["layers"][0].update(urls="https://example.com/x"),
             "urls: not an array of strings")
    manifest("layer-not-an-object", lambda d: d["layers"].__setitem__(0, "x"), "layers[0]: descriptor is not")
    manifest("layer-without-digest", lambda d: d["layers"][0].pop("digest"), "layers[0].digest: invalid digest")
    manifest("config-null", lambda d: d.update(config=None), "config: descriptor is not a JSON object")
    manifest("subject-without-digest", lambda d: d.update(subject={"mediaType": OCI_MANIFEST, "size": 1}),
             "subject.digest")
    manifest("artifact-type-malformed", lambda d: d.update(artifactType="not a type"), "artifactType: malformed")
    manifest("layer-data-not-base64", lambda d: d["layers"][0].update(data="!!!"), "data: not base64")
    manifest("layer-data-wrong-content", lambda d: d["layers"][0].update(data="aGVsbG8="),
             "embedded content does not match")

    def config(case: str, content: Callable[[dict], bytes], expect: str, docker: bool = False) -> None:
        w, m = layout(case, docker=docker)
        doc = json.loads(oci_blob_path(w.layout, m["digest"]).read_bytes())
        old = json.loads(oci_blob_path(w.layout, doc["config"]["digest"]).read_bytes())
        doc["config"] = w.put(content(old), doc["config"]["mediaType"])
        w.write_index([named(w.put(json.dumps(doc).encode(), doc["mediaType"]), ref="1")])
        cases.append((case, str(w.layout), expect))

    config("config-not-json", lambda c: b"not json", "invalid JSON")
    config("config-json-array", lambda c: b"[]", "not an object")
    config("docker-config-not-utf8", lambda c: b'{"x": "\xff"}', "not UTF-8", docker=True)
    config("config-diff-ids-fewer-than-layers",
           lambda c: json.dumps({**c, "rootfs": {"type": "layers", "diff_ids": c["rootfs"]["diff_ids"][:1]}}).encode(),
           "lists 1 rootfs.diff_ids, but manifest")
    w, m = layout("config-content-changed")
    doc = json.loads(oci_blob_path(w.layout, m["digest"]).read_bytes())
    oci_blob_path(w.layout, doc["config"]["digest"]).write_bytes(b"{" + b" " * (doc["config"]["size"] - 2) + b"}")
    cases.append(("config-content-changed", str(w.layout), "content has digest"))

    w, m = layout("index-bad-annotations")
    ix = w.index([m], annotations={"n": 1})  # type: ignore[dict-item]
    w.write_index([named(ix, ref="1")])
    cases.append(("index-bad-annotations", str(w.layout), "annotations: not a map of strings"))
    w, m = layout("index-bad-subject")
    ix = w.put(json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [m], "subject": "x"}).encode(),
               OCI_INDEX)
    w.write_index([named(ix, ref="1")])
    cases.append(("index-bad-subject", str(w.layout), "subject: descriptor is not a JSON object"))
    w, m = layout("index-child-is-a-layer")
    w.write_index([named(w.index([dict(m, mediaType="application/vnd.oci.image.layer.v1.tar+gzip")]), ref="1")])
    cases.append(("index-child-is-a-layer", str(w.layout), "unknown manifest media type"))
    w, m = layout("indexes-nested-too-deep")
    for _ in range(12):
        m = w.index([m])
    w.write_index([named(m, ref="1")])
    cases.append(("indexes-nested-too-deep", str(w.layout), "nested more than 8 deep"))
    w, m = layout("index-labelled-manifest")
    ix = w.index([named(m, platform=("amd64", "linux"))])
    w.write_index([named(dict(ix, mediaType=OCI_MANIFEST), ref="1")])
    cases.append(("index-labelled-manifest", str(w.layout), "differs from"))

    blob("blob-dangling-symlink", lambda p: p.symlink_to("nowhere"), "cannot read")
    blob("blob-symlink-loop", lambda p: p.symlink_to(p.name), "cannot read")
    blob("blob-is-a-fifo", lambda p: os.mkfifo(p), "not a regular file")

    w = LayoutWriter(tmp / "dsrc")
    m = w.image(LAYERS[:2], compression=None)
    w.write_index([named(m, ref="1")])

    def docker(case: str, edit: Callable[[dict], object], expect: str) -> None:
        out = docker_save(w.layout, tmp / f"{case}.tar", [(m, ["app:1"])], oci=False)
        with tarfile.open(out) as tar:
            files = [(i.name, tar.extractfile(i).read()) for i in tar.getmembers() if i.isfile()]
        item = json.loads(dict(files)["manifest.json"])[0]
        new = edit(item)
        raw = new if isinstance(new, bytes) else json.dumps([item]).encode()
        write_tar(out, [(n, raw if n == "manifest.json" else data) for n, data in files])
        cases.append((case, str(out), expect))

    docker("docker-manifest-json-deeply-nested", lambda i: deep.encode(), "nested too deeply")
    docker("docker-manifest-json-null", lambda i: b"null", "not an array")
    docker("docker-manifest-json-item-null", lambda i: b"[null]", "manifest.json[0]: not a JSON object")
    docker("docker-repo-tags-string", lambda i: i.update(RepoTags="app:1"), "RepoTags: not an array")
    docker("docker-layers-null", lambda i: i.update(Layers=None), "Layers: missing or not an array")
    docker("docker-layer-is-a-directory", lambda i: i["Layers"].__setitem__(0, i["Layers"][0].split("/")[0]),
           "is missing")
    docker("docker-config-missing", lambda i: i.update(Config="nope.json"), "image config is missing")

    archive = docker_save(w.layout, tmp / "corrupt-header.tar", [(m, ["app:1"])], oci=False)
    with tarfile.open(archive) as tar:
        offset = tar.getmembers()[3].offset
    data = bytearray(archive.read_bytes())
    data[offset + 148:offset + 156] = b"garbage!"  # the header checksum
    archive.write_bytes(bytes(data))
    cases.append(("tar-corrupt-member-header", str(archive), f"invalid member header at byte {offset}"))
    (tmp / "image.zip").write_bytes(b"PK\x03\x04" + bytes(600))
    cases.append(("zip-archive", str(tmp / "image.zip"), "not a tar archive"))
    (tmp / "image.tar.xz").write_bytes(b"\xfd7zXZ\x00" + bytes(600))
    cases.append(("xz-compressed-archive", str(tmp / "image.tar.xz"), "xz-compressed"))
    (tmp / "image.tar.zst").write_bytes(compress(b"x" * 1000, "zstd"))
    cases.append(("zstd-compressed-archive", str(tmp / "image.tar.zst"), "zstd-compressed"))
    cases.append(("character-device", "/dev/null", "neither a directory nor a regular file"))
    cases.append(("docker-archive-scheme-on-a-layout", f"docker-archive:{w.layout}", "manifest.json is missing"))
    cases.append(("oci-scheme-on-a-docker-save", f"oci:{tmp}/docker-layers-null.tar", "oci-layout file is missing"))
    cases.append(("scheme-without-path", "oci:", "no path given"))
    return cases


@pytest.fixture(scope="module")
def broken(tmp_path_factory) -> List[BrokenCase]:
    return make_broken(tmp_path_factory.mktemp("broken-wild"))


@pytest.mark.servers
def test_broken_inputs_exit_3_with_one_line_and_send_nothing(broken, capsys):
    assert len(broken) >= 50 and len({c[0] for c in broken}) == len(broken)
    listener = Listener()
    failures = []
    try:
        for case, spec, expect in broken:
            for dest in ("public.ecr.aws/local/broken:1", f"{listener.url[7:]}/broken:1"):
                ecr = dest.startswith("public.ecr.aws/")  # --endpoint-url is refused with a v2 destination
                code = main(["push", spec, dest, *(["--endpoint-url", listener.url] if ecr else ["--insecure"])])
                captured = capsys.readouterr()
                lines = captured.err.strip().splitlines()
                if code != 3 or len(lines) != 1 or not lines[0].startswith("pypush: error: ") or captured.out:
                    failures.append(f"{case}: exit {code}: {captured.err!r}")
                elif expect.lower() not in lines[0].lower():
                    failures.append(f"{case}: {lines[0]!r} lacks {expect!r}")
                elif case not in ("character-device", "scheme-without-path") and case.split("-")[0] not in (
                        "position", "digest") and Path(spec.split(":")[1] if spec.startswith(
                            ("oci:", "docker-archive:")) else spec).name not in lines[0]:
                    failures.append(f"{case}: {lines[0]!r} does not name the input")
    finally:
        listener.close()
    assert not failures, "\n".join(failures)
    assert listener.connections == 0


def test_broken_input_through_the_cli_leaves_the_repository_empty(broken, ecr):
    """``python -m pypush``: exit 3, one line, no traceback, nothing tagged."""
    client = boto3.client("ecr-public", endpoint_url=ecr.url, region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="y")
    client.create_repository(repositoryName="never")
    for case, spec, _ in broken[::7]:
        proc = run_pypush("push", spec, "public.ecr.aws/local/never:1", "--endpoint-url", ecr.url)
        assert proc.returncode == 3 and proc.stdout == "", f"{case}: {proc.stderr}"
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert client.describe_images(repositoryName="never")["imageDetails"] == []


def test_incomplete_index_names_the_manifests_it_holds(tmp_path, registry, skopeo):
    """`ctr export --platform` / `nerdctl save --platform`: index.json names a multi-platform index of
    which one platform's manifest is present; that manifest is pushed when named by digest."""
    w = LayoutWriter(tmp_path / "partial.oci")
    a, b, ix = _two_platforms(w)
    w.write_index([named(ix, ref="1", containerd="docker.io/library/app:1")])
    oci_blob_path(w.layout, b["digest"]).unlink()
    with pytest.raises(SourceError, match=f"{b['digest']} is missing.*index is incomplete.*PATH:DIGEST "
                                          f"\\({a['digest']}\\)"):
        open_source(f"{w.layout}:1")
    assert open_source(f"{w.layout}:{a['digest']}").root.descriptor.digest == a["digest"]
    proc = run_pypush("push", f"oci:{w.layout}:{a['digest']}", f"{registry.host}/partial:amd64", "--insecure",
                      "--compression", "keep")
    assert proc.returncode == 0, proc.stderr
    pull_and_check(skopeo, f"{registry.host}/partial:amd64", tmp_path / "pulled", expected_digest=a["digest"])
    oci_blob_path(w.layout, a["digest"]).unlink()
    with pytest.raises(SourceError, match="no manifest sha256:"):
        open_source(f"{w.layout}:{a['digest']}")


def test_manifest_embedded_in_index_json(tmp_path):
    """OCI 1.1 ``data``: index.json may carry a small manifest itself; its blob file may then be absent."""
    import base64

    w = LayoutWriter(tmp_path / "embedded.oci")
    m = w.image(LAYERS[:1])
    raw = oci_blob_path(w.layout, m["digest"]).read_bytes()
    oci_blob_path(w.layout, m["digest"]).unlink()
    w.write_index([named(m, ref="1", data=base64.b64encode(raw).decode())])
    with open_source(str(w.layout)) as src:
        assert src.root.raw == raw and src.root.descriptor.digest == m["digest"]
    w.write_index([named(m, ref="1", data=base64.b64encode(raw[:-1] + b" ").decode())])
    with pytest.raises(SourceError, match=r"index.json.manifests\[0\].data: embedded content does not match"):
        open_source(str(w.layout))


def test_docker_save_bare_tag_picks_the_one_image_with_it(flavours):
    legacy = flavours["legacy-two-images"].spec.rsplit(":", 2)[0]
    assert open_source(f"{legacy}:latest").root.raw == open_source(f"{legacy}:other/app:latest").root.raw
    assert open_source(f"{legacy}:2").tags == ["2"]
    assert open_source(f"{legacy}:1").root.config.descriptor.digest != open_source(f"{legacy}:2").root.config \
        .descriptor.digest
    twice = legacy.replace("legacy.tar", "same-tag.tar")
    with tarfile.open(legacy) as tar:
        files = [(i.name, tar.extractfile(i).read()) for i in tar.getmembers() if i.isfile()]
    items = json.loads(dict(files)["manifest.json"])
    items[0]["RepoTags"], items[1]["RepoTags"] = ["app:1"], ["other:1"]
    write_tar(Path(twice), [(n, json.dumps(items).encode() if n == "manifest.json" else d) for n, d in files])
    with pytest.raises(SourceError, match="'1' names 2 images"):
        open_source(f"{twice}:1")
    assert open_source(f"{twice}:other:1").root.raw == open_source(f"{legacy}:2").root.raw


def test_jib_tarball_with_lowercase_keys(tmp_path, registry, skopeo):
    """Jib's jibBuildTar: manifest.json keys config/repoTags/layers (docker load matches keys regardless of
    case), config.json, gzip layers named <hex>.tar.gz."""
    w = LayoutWriter(tmp_path / "src.oci")
    m = w.image(LAYERS[:2], docker=True)
    w.write_index([m])
    manifest = json.loads(oci_blob_path(w.layout, m["digest"]).read_bytes())
    config = oci_blob_path(w.layout, manifest["config"]["digest"]).read_bytes()
    layers = [(d["digest"][7:] + ".tar.gz", oci_blob_path(w.layout, d["digest"]).read_bytes())
              for d in manifest["layers"]]
    entry = {"config": "config.json", "repoTags": ["registry.example/jib/app:1.0"], "layers": [n for n, _ in layers]}
    archive = write_tar(tmp_path / "jib-image.tar", [("config.json", config), *layers,
                                                     ("manifest.json", json.dumps([entry]).encode())])
    with open_source(str(archive)) as src:
        assert src.tags == ["1.0"] and src.root.config.descriptor.digest == manifest["config"]["digest"]
        assert [b.descriptor for b in src.root.layers] == [
            b.descriptor for b in open_source(str(w.layout)).root.layers]
        assert src.root.descriptor.media_type == DOCKER_MANIFEST
    proc = run_pypush("push", str(archive), f"{registry.host}/jib:1", "--insecure", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    got = pull_and_check(skopeo, f"{registry.host}/jib:1", tmp_path / "pulled",
                         expected_digest=json.loads(proc.stdout)["digest"])
    assert got["configs"] == [manifest["config"]["digest"]]


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_layer_that_does_not_decompress_is_a_source_error(tmp_path, registry, compression):
    """``--compression none`` decompresses layers while uploading: a layer labelled gzip/zstd that is not
    (digest right) or whose bytes are corrupt (digest wrong) is exit 3 naming the blob, nothing tagged."""
    w = LayoutWriter(tmp_path / "l.oci")
    corrupt = w.image(LAYERS[:1], compression=compression, seed="corrupt")
    path = oci_blob_path(w.layout, json.loads(oci_blob_path(w.layout, corrupt["digest"]).read_bytes())[
        "layers"][0]["digest"])
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    doc = json.loads(oci_blob_path(w.layout, w.image(LAYERS[1:2], compression=compression)["digest"]).read_bytes())
    doc["layers"][0] = w.put(LAYERS[1], doc["layers"][0]["mediaType"])  # plain bytes, labelled compressed
    mislabelled = w.put(json.dumps(doc).encode(), OCI_MANIFEST)
    w.write_index([named(corrupt, ref="corrupt"), named(mislabelled, ref="mislabelled")])
    for ref, expect in (("corrupt", "content has digest"), ("mislabelled", f"not valid {compression} data")):
        proc = run_pypush("push", f"{w.layout}:{ref}", f"{registry.host}/undecodable-{compression}:{ref}",
                          "--insecure", "--compression", "none")
        assert proc.returncode == 3 and proc.stdout == "", proc.stderr
        line = proc.stderr.strip()
        assert "\n" not in line and expect in line and str(w.layout) in line, line
    import requests

    assert requests.get(f"http://{registry.host}/v2/undecodable-{compression}/tags/list", timeout=10).status_code == 404
