"""Every fixture format through the Python API and the v2 transport into docker-registry, pulled back
with skopeo and compared by digest; a second push uploads nothing."""
from __future__ import annotations

import pytest

from conftest import FIXTURES
from pullcheck import docker_archive_expectations, oci_archive_top_digest, oci_top_digest, pull_and_check

from pypush.api import push

OCI_CASES = [
    ("oci:{}:1", "small.oci"),
    ("oci-archive:{}:1", "small.oci-archive.tar"),
    ("oci:{}:1", "small.oci-zstd"),
    ("oci:{}:1", "multiarch.oci"),
    ("oci:{}:1", "docker-list.oci"),
    ("oci:{}:1", "artifact.oci"),
]


@pytest.fixture(autouse=True)
def private_layer_cache(tmp_path, monkeypatch):
    """Keep the compressed-layer cache of these pushes out of the user's cache directory."""
    monkeypatch.setenv("PYPUSH_CACHE_DIR", str(tmp_path / "cache"))


def _expected(fixture: str) -> str:
    path = FIXTURES / fixture
    return oci_archive_top_digest(path) if fixture.endswith(".tar") else oci_top_digest(path)


@pytest.mark.parametrize("spec,fixture", OCI_CASES, ids=[c[1] for c in OCI_CASES])
def test_oci_inputs_keep_their_digest(registry, skopeo, tmp_path, spec, fixture):
    source = spec.format(FIXTURES / fixture)
    repo = f"formats/{fixture.replace('.', '-')}"
    result = push(source, f"{registry.host}/{repo}:v1", compression="keep", insecure=True)
    assert result.digest == _expected(fixture)
    pull_and_check(skopeo, f"{registry.host}/{repo}:v1", tmp_path / "pulled", expected_digest=result.digest)
    again = push(source, f"{registry.host}/{repo}:v1", compression="keep", insecure=True)
    assert (again.blobs_pushed, again.bytes_pushed, again.digest) == (0, 0, result.digest)


@pytest.mark.parametrize("archive,index", [("small.docker-archive.tar", 0), ("docker25.tar", 0),
                                           ("docker25-containerd.tar", 0), ("docker-legacy-multi.tar", 1)])
@pytest.mark.parametrize("compression", ["keep", "gzip", "zstd"])
def test_docker_save_inputs(registry, skopeo, tmp_path, archive, index, compression):
    """``gzip``/``zstd`` compress while uploading: blobs of unknown digest go up as streamed PATCHes."""
    want = docker_archive_expectations(FIXTURES / archive, index)
    source = f"docker-archive:{FIXTURES / archive}" + (f":@{index}" if index else "")
    repo = f"formats/{archive.replace('.', '-')}-{compression}"
    result = push(source, f"{registry.host}/{repo}:1", compression=compression, insecure=True)
    got = pull_and_check(skopeo, f"{registry.host}/{repo}:1", tmp_path / "pulled", expected_digest=result.digest)
    assert got["configs"] == [want["config"]] and got["diff_ids"] == [want["diff_ids"]]
    again = push(source, f"{registry.host}/{repo}:1", compression=compression, insecure=True)
    assert (again.blobs_pushed, again.digest) == (0, result.digest)
