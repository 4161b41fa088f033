"""End to end: plain layers pushed gzip- and zstd-compressed through both transports (the local ECR
Public endpoint and docker-registry), pulled back by skopeo; a second push of the same docker-save
tarball compresses nothing and uploads nothing."""
from __future__ import annotations

import json

import pytest

from conftest import FIXTURES
from pullcheck import docker_archive_expectations, pull_and_check
from pypush import api
from pypush.transform import convert
from pypush.image.model import DOCKER_LAYER, DOCKER_LAYER_GZIP, DOCKER_MANIFEST, OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD, OCI_MANIFEST

ARCHIVE = FIXTURES / "small.docker-archive.tar"
EXPECTED = {  # algorithm -> (manifest type, layer type)
    "gzip": (DOCKER_MANIFEST, DOCKER_LAYER_GZIP),
    "zstd": (OCI_MANIFEST, OCI_LAYER_ZSTD),
    "none": (DOCKER_MANIFEST, DOCKER_LAYER),
}


@pytest.fixture
def compressions(monkeypatch, tmp_path):
    """Counts compressor streams opened; gives every test its own layer cache."""
    monkeypatch.setenv("PYPUSH_CACHE_DIR", str(tmp_path / "layer-cache"))
    monkeypatch.delenv("PYPUSH_NO_CACHE", raising=False)
    calls = []
    real = convert.compressing_reader

    def counting(*args, **kwargs):
        calls.append(args[1:])
        return real(*args, **kwargs)

    monkeypatch.setattr(convert, "compressing_reader", counting)
    return calls


@pytest.fixture(params=["ecr", "v2"])
def destination(request, tmp_path):
    """(destination prefix, push options, pull host) for the local endpoint or docker-registry."""
    if request.param == "ecr":
        ep = request.getfixturevalue("endpoint")
        return "public.ecr.aws/local", {"endpoint_url": ep.url, "create_repository": True}, ep.host_port
    reg = request.getfixturevalue("docker_registry")
    return reg.host, {"insecure": True}, reg.host


@pytest.mark.parametrize("algorithm", ["gzip", "zstd"])
def test_plain_layers_pushed_compressed_and_pulled_back(destination, compressions, skopeo, tmp_path, algorithm):
    prefix, options, pull_host = destination
    want = docker_archive_expectations(ARCHIVE)
    result = api.push(str(ARCHIVE), f"{prefix}/comp:{algorithm}", compression=algorithm, **options)
    assert result.blobs_pushed == 4 and len(compressions) == 3

    ref = f"{pull_host}/comp:{algorithm}"
    got = pull_and_check(skopeo, ref, tmp_path / "pulled", expected_digest=result.digest)
    assert got["configs"] == [want["config"]] and got["diff_ids"] == [want["diff_ids"]]
    manifest = json.loads(skopeo.inspect_raw(ref))
    manifest_type, layer_type = EXPECTED[algorithm]
    assert manifest["mediaType"] == manifest_type
    assert [layer["mediaType"] for layer in manifest["layers"]] == [layer_type] * 3
    assert sum(layer["size"] for layer in manifest["layers"]) < ARCHIVE.stat().st_size * 0.6  # 96 KiB are random

    again = api.push(str(ARCHIVE), f"{prefix}/comp:{algorithm}", compression=algorithm, **options)
    assert (again.digest, again.blobs_pushed, again.bytes_pushed, len(compressions)) == (result.digest, 0, 0, 3)


def test_same_image_same_digest_in_a_fresh_repository_without_cache(docker_registry, compressions, monkeypatch):
    first = api.push(str(ARCHIVE), f"{docker_registry.host}/a:1", insecure=True)
    monkeypatch.setenv("PYPUSH_NO_CACHE", "1")
    second = api.push(str(ARCHIVE), f"{docker_registry.host}/b:1", insecure=True)
    assert second.digest == first.digest and len(compressions) == 6


def test_none_decompresses_gzip_layers(docker_registry, compressions, skopeo, tmp_path):
    source = f"oci:{FIXTURES / 'small.oci'}:1"
    result = api.push(source, f"{docker_registry.host}/plain:1", compression="none", insecure=True)
    ref = f"{docker_registry.host}/plain:1"
    got = pull_and_check(skopeo, ref, tmp_path / "pulled", expected_digest=result.digest)
    manifest = json.loads(skopeo.inspect_raw(ref))
    assert [layer["mediaType"] for layer in manifest["layers"]] == [OCI_LAYER] * 3
    assert [layer["digest"] for layer in manifest["layers"]] == got["diff_ids"][0]
    assert compressions == []
    kept = api.push(source, f"{docker_registry.host}/kept:1", compression="gzip", insecure=True)
    manifest = json.loads(skopeo.inspect_raw(f"{docker_registry.host}/kept:1"))
    assert [layer["mediaType"] for layer in manifest["layers"]] == [OCI_LAYER_GZIP] * 3
    assert kept.blobs_pushed == 4 and compressions == []  # already gzip: kept, mounted or uploaded as is
