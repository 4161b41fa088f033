"""The local endpoint's v2 read API: skopeo pulls what the ECR API pushed; raw HTTP checks."""
from __future__ import annotations

import gzip
import hashlib
import json
import urllib.request
from urllib.error import HTTPError

import pytest

from conftest import oci_blob_path, oci_manifests
from endpoint_client import gzip_tar_layer, DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, MiB, client, index, push_blob, sha


def push_real_image(c, repo: str, layers, tag, media_type=DOCKER_MANIFEST, arch="amd64") -> str:
    docker = media_type == DOCKER_MANIFEST
    diff_ids = [sha(gzip.decompress(l)) for l in layers]
    config = json.dumps({"architecture": arch, "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    for blob in (config, *layers):
        push_blob(c, repo, blob)
    doc = {"schemaVersion": 2, "mediaType": media_type,
           "config": {"mediaType": "application/vnd.docker.container.image.v1+json" if docker
                      else "application/vnd.oci.image.config.v1+json", "digest": sha(config), "size": len(config)},
           "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip" if docker
                       else "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(l), "size": len(l)}
                      for l in layers]}
    text = json.dumps(doc, indent=3)
    c.put_image(repositoryName=repo, imageManifest=text, **({"imageTag": tag} if tag else {}))
    return text


def test_skopeo_pulls_a_multipart_push(endpoint, skopeo, tmp_path):
    c = client(endpoint)
    c.create_repository(repositoryName="team/big")
    rnd = hashlib.shake_256(b"seed").digest(12 * MiB)
    layers = [gzip_tar_layer("big.bin", rnd), gzip_tar_layer("small.txt", b"hello\n")]
    assert len(layers[0]) > 10 * MiB  # two parts
    text = push_real_image(c, "team/big", layers, "v1", media_type=OCI_MANIFEST)
    for ref in ("team/big:v1", "local/team/big:v1", f"team/big@{sha(text.encode())}"):
        dest = skopeo.pull_oci(f"{endpoint.host_port}/{ref}", tmp_path / ref.replace("/", "_").replace(":", "_"))
        (desc,) = oci_manifests(dest)
        assert desc["digest"] == sha(text.encode())
        for layer in layers:
            assert oci_blob_path(dest, sha(layer)).read_bytes() == layer
    assert skopeo.inspect_raw(f"{endpoint.host_port}/team/big:v1") == text.encode()


@pytest.mark.parametrize("list_type,child_type", [(OCI_INDEX, OCI_MANIFEST), (DOCKER_LIST, DOCKER_MANIFEST)])
def test_skopeo_pulls_a_multi_arch_index(endpoint, skopeo, tmp_path, list_type, child_type):
    c = client(endpoint)
    c.create_repository(repositoryName="multi")
    children = [push_real_image(c, "multi", [gzip_tar_layer("f", arch.encode())], None, child_type, arch)
                for arch in ("amd64", "arm64")]
    text = index(children, list_type, child_type)
    c.put_image(repositoryName="multi", imageManifest=text, imageTag="all")
    assert skopeo.inspect_raw(f"{endpoint.host_port}/multi:all") == text.encode()
    dest = skopeo.pull_oci(f"{endpoint.host_port}/multi:all", tmp_path / "pulled")
    (desc,) = oci_manifests(dest)
    if list_type == OCI_INDEX:  # skopeo converts Docker types to OCI when writing oci:
        assert desc["digest"] == sha(text.encode())
        for child in children:
            assert oci_blob_path(dest, sha(child.encode())).read_bytes() == child.encode()
    pulled = json.loads(oci_blob_path(dest, desc["digest"]).read_bytes())
    assert len(pulled["manifests"]) == 2
    for child in pulled["manifests"]:
        layer = json.loads(oci_blob_path(dest, child["digest"]).read_bytes())["layers"][0]
        assert oci_blob_path(dest, layer["digest"]).exists()


def _get(url: str, method: str = "GET", headers=None):
    req = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_v2_routes(endpoint):
    c = client(endpoint)
    c.create_repository(repositoryName="a/b")
    layer = b"0123456789" * 100
    text = push_real_image(c, "a/b", [gzip_tar_layer("x", layer)], "t1", media_type=OCI_MANIFEST)
    c.put_image(repositoryName="a/b", imageManifest=text, imageTag="t0")
    base = endpoint.url + "/v2"
    status, headers, body = _get(base + "/")  # ECR Public: the login challenge; pulls stay anonymous
    assert status == 401 and headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert headers["Www-Authenticate"] == (f'Bearer realm="{endpoint.url}/token/",service="{endpoint.host_port}",'
                                           'scope="aws"')
    status, headers, body = _get(base + "/a/b/manifests/t1", "HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) == len(text.encode())
    assert headers["Docker-Content-Digest"] == sha(text.encode())
    assert headers["Content-Type"] == "application/vnd.oci.image.manifest.v1+json"
    assert _get(base + f"/local/a/b/manifests/{sha(text.encode())}")[2] == text.encode()
    config_digest = json.loads(text)["config"]["digest"]
    blob = _get(base + f"/a/b/blobs/{config_digest}")[2]
    assert sha(blob) == config_digest
    status, headers, part = _get(base + f"/a/b/blobs/{config_digest}", headers={"Range": "bytes=2-9"})
    assert status == 206 and part == blob[2:10] and headers["Content-Range"] == f"bytes 2-9/{len(blob)}"
    for odd in ("bytes=0-1,4-5", "bytes=9-2", "items=0-1"):  # not one valid byte range: ignored (RFC 9110)
        status, headers, whole = _get(base + f"/a/b/blobs/{config_digest}", headers={"Range": odd})
        assert (status, whole, headers.get("Content-Range")) == (200, blob, None), odd
    status, headers, _ = _get(base + f"/a/b/blobs/{config_digest}", headers={"Range": f"bytes={len(blob)}-"})
    assert status == 416 and headers["Content-Range"] == f"bytes */{len(blob)}"
    assert _get(base + "/a/b/tags/list")[2] == json.dumps({"name": "a/b", "tags": ["t0", "t1"]}).encode()
    assert json.loads(_get(base + "/a/b/tags/list?n=1")[2])["tags"] == ["t0"]
    assert json.loads(_get(base + "/_catalog")[2]) == {"repositories": ["a/b"]}
    for path, code in [("/a/b/manifests/nope", "MANIFEST_UNKNOWN"), ("/zz/manifests/t1", "NAME_UNKNOWN"),
                       ("/a/b/blobs/sha256:" + "0" * 64, "BLOB_UNKNOWN")]:
        status, _, body = _get(base + path)
        assert status == 404 and json.loads(body)["errors"][0]["code"] == code
    assert _get(base + "/a/b/blobs/uploads/", "POST")[0] == 401  # writes need the login
