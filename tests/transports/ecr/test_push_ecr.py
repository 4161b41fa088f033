"""End to end: push every fixture format through the ECR Public API into the local endpoint, pull back
with skopeo over the endpoint's v2 read API, and compare digests."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import FIXTURES, run_pypush
from imagegen import make_oci_layout, random_bytes, tar_layer
from pullcheck import docker_archive_expectations, oci_archive_top_digest, oci_top_digest, pull_and_check

OCI_CASES = [
    ("oci:fixtures/small.oci:1", lambda: oci_top_digest(FIXTURES / "small.oci")),
    ("fixtures/small.oci", lambda: oci_top_digest(FIXTURES / "small.oci")),
    ("oci-archive:fixtures/small.oci-archive.tar:1", lambda: oci_archive_top_digest(FIXTURES / "small.oci-archive.tar")),
    ("fixtures/small.oci-archive.tar", lambda: oci_archive_top_digest(FIXTURES / "small.oci-archive.tar")),
    ("oci:fixtures/small.oci-zstd:1", lambda: oci_top_digest(FIXTURES / "small.oci-zstd")),
    ("oci:fixtures/multiarch.oci:1", lambda: oci_top_digest(FIXTURES / "multiarch.oci")),
    ("oci:fixtures/docker-list.oci:1", lambda: oci_top_digest(FIXTURES / "docker-list.oci")),
    ("oci:fixtures/artifact.oci:1", lambda: oci_top_digest(FIXTURES / "artifact.oci")),
]


def push_json(endpoint, source: str, repo: str, *extra: str) -> dict:
    proc = run_pypush("push", source, f"public.ecr.aws/local/{repo}", "--endpoint-url", endpoint.url,
                      "--create-repository", "--format", "json", *extra)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("source,expected", OCI_CASES, ids=[c[0] for c in OCI_CASES])
def test_oci_inputs_round_trip_with_identical_digest(endpoint, skopeo, tmp_path, source, expected):
    result = push_json(endpoint, source, "img:v1", "--compression", "keep")
    assert result["digest"] == expected()
    assert result["reference"] == f"public.ecr.aws/local/img@{result['digest']}"
    pull_and_check(skopeo, f"{endpoint.host_port}/img:v1", tmp_path / "pulled", expected_digest=expected())
    again = push_json(endpoint, source, "img:v1", "--compression", "keep")
    assert (again["blobs_pushed"], again["bytes_pushed"]) == (0, 0)
    assert again["digest"] == result["digest"]


@pytest.mark.parametrize("source,archive,index", [
    ("docker-archive:fixtures/small.docker-archive.tar", "small.docker-archive.tar", 0),
    ("fixtures/small.docker-archive.tar", "small.docker-archive.tar", 0),
    ("docker-archive:fixtures/docker25.tar", "docker25.tar", 0),
    ("docker-archive:fixtures/docker-legacy-multi.tar:@1", "docker-legacy-multi.tar", 1),
])
@pytest.mark.parametrize("compression", ["keep", "gzip"])
def test_docker_save_inputs_keep_config_and_diff_ids(endpoint, skopeo, tmp_path, source, archive, index,
                                                      compression):
    want = docker_archive_expectations(FIXTURES / archive, index)
    result = push_json(endpoint, source, "app:1", "--compression", compression)
    got = pull_and_check(skopeo, f"{endpoint.host_port}/app:1", tmp_path / "pulled", expected_digest=result["digest"])
    assert got["configs"] == [want["config"]]
    assert got["diff_ids"] == [want["diff_ids"]]
    again = push_json(endpoint, source, "app:1", "--compression", compression)
    assert (again["blobs_pushed"], again["bytes_pushed"]) == (0, 0)
    assert again["digest"] == result["digest"]


def test_multiarch_index_children_by_digest_and_only_index_tagged(endpoint, skopeo, tmp_path):
    import boto3

    result = push_json(endpoint, "oci:fixtures/multiarch.oci:1", "multi:1", "--tag", "also")
    assert len(result["children"]) >= 2
    client = boto3.client("ecr-public", endpoint_url=endpoint.url, region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="y")
    images = client.describe_images(repositoryName="multi")["imageDetails"]
    tagged = {i["imageDigest"]: sorted(i.get("imageTags", [])) for i in images}
    assert tagged[result["digest"]] == ["1", "also"]
    for child in result["children"]:
        assert tagged[child] == []
    pull_and_check(skopeo, f"{endpoint.host_port}/multi:also", tmp_path / "p", expected_digest=result["digest"])


def test_layer_over_20_mib_goes_in_several_parts(endpoint, skopeo, tmp_path):
    big = tar_layer([("big.bin", random_bytes(25 << 20, seed=3))])
    digest = make_oci_layout(tmp_path / "big.oci", [big, tar_layer([("x", b"hello\n")])])
    result = push_json(endpoint, f"oci:{tmp_path / 'big.oci'}:1", "big:1", "--compression", "keep")
    assert result["digest"] == digest
    assert result["bytes_pushed"] > 25 << 20
    pull_and_check(skopeo, f"{endpoint.host_port}/big:1", tmp_path / "p", expected_digest=digest)


def test_text_output_and_digest_file(endpoint, tmp_path):
    digest_file = tmp_path / "digest"
    proc = run_pypush("push", "oci:fixtures/small.oci:1", "public.ecr.aws/local/txt:1", "--endpoint-url",
                      endpoint.url, "--create-repository", "--digest-file", str(digest_file), "-q")
    assert proc.returncode == 0, proc.stderr
    digest = oci_top_digest(FIXTURES / "small.oci")
    assert proc.stdout.strip() == f"public.ecr.aws/local/txt@{digest}"
    assert digest_file.read_text().strip() == digest
    assert proc.stderr == ""


def test_missing_repository_is_a_clear_error(endpoint):
    proc = run_pypush("push", "oci:fixtures/small.oci:1", "public.ecr.aws/local/nope:1", "--endpoint-url",
                      endpoint.url)
    assert proc.returncode == 4
    assert "RepositoryNotFoundException" in proc.stderr and "--create-repository" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_python_api_returns_the_same_result(endpoint):
    import pypush

    result = pypush.push("oci:fixtures/small.oci:1", "public.ecr.aws/local/api:1", endpoint_url=endpoint.url,
                         create_repository=True, tags=["extra"], jobs=2)
    assert result.digest == oci_top_digest(FIXTURES / "small.oci")
    assert result.tags == ["1", "extra"]
    assert result.blobs_pushed >= 3


def test_layout_whose_index_json_lists_platforms_is_pushed_as_an_index(endpoint, skopeo, tmp_path):
    """Some tools write a multi-arch layout as index.json listing one unnamed manifest per platform."""
    import hashlib
    import shutil

    layout = tmp_path / "platforms.oci"
    shutil.copytree(FIXTURES / "multiarch.oci", layout)
    index_digest = oci_top_digest(layout)
    index = json.loads((layout / "blobs" / "sha256" / index_digest.split(":")[1]).read_bytes())
    raw = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                      "manifests": index["manifests"]}, indent=2).encode()
    (layout / "index.json").write_bytes(raw)
    result = push_json(endpoint, str(layout), "plat:1")
    assert result["digest"] == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert len(result["children"]) == len(index["manifests"]) == 2
    pull_and_check(skopeo, f"{endpoint.host_port}/plat:1", tmp_path / "p", expected_digest=result["digest"])


def test_pinned_digest_is_checked_before_anything_is_tagged(endpoint):
    import boto3

    digest = oci_top_digest(FIXTURES / "small.oci")
    assert push_json(endpoint, "fixtures/small.oci", f"pin:1@{digest}")["digest"] == digest
    wrong = "sha256:" + "a" * 64
    proc = run_pypush("push", "fixtures/small.oci", f"public.ecr.aws/local/pin:2@{wrong}", "--endpoint-url",
                      endpoint.url)
    assert proc.returncode == 2 and "pins" in proc.stderr
    client = boto3.client("ecr-public", endpoint_url=endpoint.url, region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="y")
    tags = [t["imageTag"] for t in client.describe_image_tags(repositoryName="pin")["imageTagDetails"]]
    assert tags == ["1"]


def test_artifact_whose_empty_config_is_embedded_as_data(endpoint, skopeo, tmp_path):
    """OCI 1.1 lets a descriptor carry small content in ``data``; the blob file may then be absent."""
    import hashlib

    from imagegen import _put_blob

    layout = tmp_path / "art.oci"
    layout.mkdir()
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    empty = {"mediaType": "application/vnd.oci.empty.v1+json", "size": 2, "data": "e30=",
             "digest": "sha256:" + hashlib.sha256(b"{}").hexdigest()}
    layer = dict(mediaType="text/plain", **_put_blob(layout, b"hello artifact\n"))
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "artifactType": "application/vnd.example+type", "config": empty,
                           "layers": [layer]}).encode()
    mdesc = _put_blob(layout, manifest)
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        dict(mediaType="application/vnd.oci.image.manifest.v1+json", **mdesc)]}))
    assert not (layout / "blobs" / "sha256" / empty["digest"].split(":")[1]).exists()
    result = push_json(endpoint, str(layout), "art:1")
    assert result["digest"] == mdesc["digest"] and result["blobs_pushed"] == 2
    pull_and_check(skopeo, f"{endpoint.host_port}/art:1", tmp_path / "p", expected_digest=mdesc["digest"])
