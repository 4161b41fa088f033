"""Shapes that real tools write, pushed to docker-registry (v2) and to the local ECR Public endpoint with the
CLI, pulled back with skopeo, copied and pulled again with pypush: every digest kept. Also what a registry
that refuses a manifest inside a server error (HTTP 500) makes pypush say."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
import requests

from conftest import oci_blob_path, run_pypush, start_docker_registry, server_fixture
from imagegen import LayoutWriter, named, random_bytes, tar_layer
from pullcheck import pull_and_check
from pypush.cli.main import main

LAYERS = [tar_layer([("a.txt", b"a\n" * 50)]), tar_layer([("b.bin", random_bytes(3000, 6))])]
FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
URLS_ALLOWED = "validation: {manifests: {urls: {allow: ['^https://']}}}\n"


@server_fixture(scope="module")
def urls_registry(tmp_path_factory):
    """docker-registry whose policy admits foreign layers' urls (conftest's ``registry`` refuses them)."""
    reg = start_docker_registry(tmp_path_factory.mktemp("registry"), URLS_ALLOWED)
    yield reg
    reg.stop()


@server_fixture(scope="module")
def ecr(tmp_path_factory):
    from pypush.server import LocalEndpoint

    with LocalEndpoint(data_dir=tmp_path_factory.mktemp("ecr")) as ep:
        yield ep


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Tuple[Path, Dict[str, dict]]:
    """One layout holding every shape, each under its own ref."""
    w = LayoutWriter(tmp_path_factory.mktemp("shapes") / "shapes.oci")
    out = {"blob-twice": w.image([LAYERS[0], LAYERS[0], LAYERS[1]], seed="twice"),
           "zero-layers": w.image([], seed="zero"),
           "empty-config-artifact": w.artifact("application/vnd.example.report+json",
                                               [("application/vnd.example.report.v1+json", b'{"ok": true}'),
                                                ("text/plain", b"hello\n")])}
    x = named(w.image(LAYERS[:1], seed="fan"), platform=("amd64", "linux"))
    for _ in range(3):  # 3 x 3 x 3 paths to one manifest
        x = w.index([x] * 3)
    out["index-listing-one-child-thrice"] = x
    base = w.image(LAYERS, docker=True, seed="windows")
    doc = json.loads(oci_blob_path(w.layout, base["digest"]).read_bytes())
    doc["layers"][0].update(mediaType=FOREIGN, urls=["https://example.com/base"])  # present, yet left to its urls
    out["foreign-layer-present"] = w.put(json.dumps(doc).encode(), doc["mediaType"])
    w.write_index([named(d, ref=ref) for ref, d in out.items()])
    return w.layout, out


def _push(capsys, *args: str) -> Tuple[int, dict, List[str]]:
    code = main(["push", *args, "--format", "json"])
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if code == 0 else {}), captured.err.strip().splitlines()


def _manifests_below(layout: Path, digest: str) -> List[str]:
    """Distinct manifest digests of the tree at ``digest``, children first."""
    doc = json.loads(oci_blob_path(layout, digest).read_bytes())
    out: List[str] = []
    for child in doc.get("manifests", []):
        out += [d for d in _manifests_below(layout, child["digest"]) if d not in out]
    return out + [digest]


@pytest.mark.parametrize("ref", ["blob-twice", "zero-layers", "empty-config-artifact",
                                 "index-listing-one-child-thrice", "foreign-layer-present"])
def test_shape_round_trips(shapes, urls_registry, ecr, skopeo, tmp_path, capsys, caplog, ref):
    layout, descs = shapes
    digest = descs[ref]["digest"]
    manifests = _manifests_below(layout, digest)
    for dest, extra, pull in ((f"{urls_registry.host}/{ref}:1", ["--insecure"], f"{urls_registry.host}/{ref}:1"),
                              (f"public.ecr.aws/local/{ref}:1", ["--endpoint-url", ecr.url, "--create-repository"],
                               f"{ecr.host_port}/{ref}:1")):
        caplog.clear()
        code, result, err = _push(capsys, f"oci:{layout}:{ref}", dest, "--compression", "keep", *extra)
        assert code == 0, err
        assert result["digest"] == digest and result["manifests"] == len(manifests)  # each manifest put once
        assert result["children"] == manifests[:-1]
        said = [r.getMessage() for r in caplog.records if "not copied" in r.getMessage()]
        assert len(said) == ref.startswith("foreign"), said
        foreign_layers = [layer["digest"] for layer in json.loads(oci_blob_path(layout, digest).read_bytes())
                          .get("layers", []) if layer.get("urls")]
        assert result["layers_not_copied"] == foreign_layers and bool(foreign_layers) == ref.startswith("foreign")
        if ref.startswith("index"):  # skopeo copies no nested index: each manifest by digest instead
            repo = pull.rsplit(":", 1)[0]
            assert all(skopeo.inspect_raw(f"{repo}@{d}") == oci_blob_path(layout, d).read_bytes() for d in manifests)
        elif ref.startswith("foreign"):  # skopeo would fetch the foreign layer from its (made-up) url
            assert skopeo.inspect_raw(pull) == oci_blob_path(layout, digest).read_bytes()
        else:
            pull_and_check(skopeo, pull, tmp_path / dest.split("/")[0], expected_digest=digest)
    if ref.startswith("foreign"):
        foreign = json.loads(oci_blob_path(layout, digest).read_bytes())["layers"][0]["digest"]
        assert requests.head(f"http://{urls_registry.host}/v2/{ref}/blobs/{foreign}", timeout=10).status_code == 404
        code, result, err = _push(capsys, f"oci:{layout}:{ref}", f"{urls_registry.host}/{ref}-allowed:1", "--insecure",
                                  "--allow-nondistributable-artifacts")
        assert code == 0 and result["digest"] == digest and result["layers_not_copied"] == [], err
        head = requests.head(f"http://{urls_registry.host}/v2/{ref}-allowed/blobs/{foreign}", timeout=10)
        assert head.status_code == 200


def test_pull_copy_and_push_again_keep_every_digest(shapes, urls_registry, ecr, tmp_path, capsys):
    """registry -> ECR endpoint (copy) -> OCI layout (pull) -> OCI archive (copy) -> registry (push)."""
    layout, descs = shapes
    for ref in ("blob-twice", "index-listing-one-child-thrice", "empty-config-artifact"):
        digest = descs[ref]["digest"]
        assert _push(capsys, f"oci:{layout}:{ref}", f"{urls_registry.host}/rt-{ref}:1", "--insecure")[0] == 0
        steps = [["copy", f"docker://{urls_registry.host}/rt-{ref}:1", f"public.ecr.aws/local/rt-{ref}:2",
                  "--src-insecure", "--endpoint-url", ecr.url, "--create-repository"],
                 ["pull", f"docker://{ecr.host_port}/rt-{ref}:2", f"oci:{tmp_path / ref}:3", "--src-insecure"],
                 ["copy", f"oci:{tmp_path / ref}:3", f"oci-archive:{tmp_path / ref}.tar:4"],
                 ["push", f"{tmp_path / ref}.tar", f"{urls_registry.host}/rt-{ref}:5", "--insecure",
                  "--compression", "keep"]]
        for step in steps:
            code = main([*step, "--format", "json"])
            captured = capsys.readouterr()
            assert code == 0 and json.loads(captured.out)["digest"] == digest, (step, captured.err)


@pytest.mark.servers
def test_manifest_refused_inside_a_server_error_is_exit_4_at_once(shapes, tmp_path, capsys):
    """docker-registry without a urls policy answers a foreign layer with HTTP 500 UNKNOWN,MANIFEST_BLOB_UNKNOWN:
    a refusal, not an outage: exit 4 naming the blob and the policy, no retries, nothing tagged."""
    layout, descs = shapes
    reg = start_docker_registry(tmp_path / "strict")
    try:
        code, _, err = _push(capsys, f"oci:{layout}:foreign-layer-present", f"{reg.host}/strict:1", "--insecure",
                             "--compression", "keep")
        assert code == 4 and len([line for line in err if "error" in line]) == 1, err
        assert "MANIFEST_BLOB_UNKNOWN" in err[-1] and "validation.manifests.urls" in err[-1], err
        assert "gave up" not in err[-1]
        assert requests.get(f"http://{reg.host}/v2/strict/tags/list", timeout=10).status_code == 404
    finally:
        reg.stop()


def test_digest_file_that_cannot_be_written_is_refused_before_the_push(shapes, urls_registry, tmp_path, capsys):
    layout, _ = shapes
    for path, expect in ((tmp_path, "is a directory"), (tmp_path / "no" / "d.txt", "does not exist")):
        code, _, err = _push(capsys, f"oci:{layout}:zero-layers", f"{urls_registry.host}/digest-file:1", "--insecure",
                             "--digest-file", str(path))
        assert code == 2 and len(err) == 1 and expect in err[0] and str(path) in err[0], err
    assert requests.get(f"http://{urls_registry.host}/v2/digest-file/tags/list", timeout=10).status_code == 404


def test_skopeo_dir_copies_push_as_written(shapes, urls_registry, skopeo, tmp_path, capsys):
    """skopeo's dir: format (detected by its version file, or named dir:PATH): a single image and a whole index,
    exact manifest bytes; a missing blob is exit 3 naming the file."""
    layout, descs = shapes
    multi = LayoutWriter(tmp_path / "multi.oci")
    a, b = multi.image(LAYERS[:1], arch="amd64", seed="a"), multi.image(LAYERS[1:], arch="arm64", seed="b")
    pair = multi.index([named(a, platform=("amd64", "linux")), named(b, platform=("arm64", "linux"))])
    multi.write_index([named(pair, ref="1")])
    skopeo.run("copy", "-q", f"oci:{layout}:blob-twice", f"dir:{tmp_path / 'one'}")
    skopeo.run("copy", "-q", "--all", f"oci:{multi.layout}:1", f"dir:{tmp_path / 'all'}")
    top = {d: "sha256:" + hashlib.sha256((tmp_path / d / "manifest.json").read_bytes()).hexdigest()
           for d in ("one", "all")}
    for spec, repo, digest in ((str(tmp_path / "one"), "dir-one", top["one"]),
                               (f"dir:{tmp_path / 'all'}", "dir-all", top["all"]),
                               (f"{tmp_path / 'all'}:{b['digest']}", "dir-child", b["digest"])):
        code, result, err = _push(capsys, spec, f"{urls_registry.host}/{repo}:1", "--insecure", "--compression", "keep")
        assert code == 0 and result["digest"] == digest, err
        pull_and_check(skopeo, f"{urls_registry.host}/{repo}:1", tmp_path / f"pulled-{repo}", expected_digest=digest)
    victim = json.loads((tmp_path / "one" / "manifest.json").read_bytes())["layers"][1]["digest"].split(":")[1]
    (tmp_path / "one" / victim).unlink()
    code, _, err = _push(capsys, str(tmp_path / "one"), f"{urls_registry.host}/dir-broken:1", "--insecure")
    assert code == 3 and len(err) == 1 and f"{tmp_path / 'one' / victim}" in err[0] and "is missing" in err[0], err


def test_nested_index_from_a_registry_reads_quietly(shapes, urls_registry, tmp_path, capsys):
    """Indexes below indexes are fetched by one pool: nested pools outgrew the connection pool and urllib3
    printed 'Connection pool is full, discarding connection' on stderr."""
    layout, descs = shapes
    spec = f"oci:{layout}:index-listing-one-child-thrice"
    assert _push(capsys, spec, f"{urls_registry.host}/nested:1", "--insecure")[0] == 0
    for extra in ([], ["--platform", "linux/amd64"]):
        proc = run_pypush("pull", f"docker://{urls_registry.host}/nested:1", f"oci:{tmp_path / 'out'}:1",
                          "--src-insecure", *extra)
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr
