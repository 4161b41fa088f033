"""sha512 blobs (the OCI image spec allows ``sha512:`` descriptors, blobs under ``blobs/sha512/``): a layout
written here with one sha512 layer is pushed over v2 into docker-registry 2.8 and into ``pypush serve``'s v2
door, read back over raw HTTP by its sha512 digest and pulled with ``pypush pull``; the ECR API, which
stores layers by sha256 only, refuses it whole. (skopeo 1.9 itself cannot copy sha512 blobs: it stores them
under their sha256 and then fails, so it checks the manifest bytes here, not the blobs.)"""
from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Dict

import boto3
import pytest
import requests
from botocore.config import Config

from conftest import server_fixture

from pypush.api import copy, pull, push
from pypush.cli.main import main
from pypush.server import LocalEndpoint

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _digest(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def write_sha512_layout(root: Path) -> Dict[str, object]:
    """An OCI layout tagged ``1``: config by sha256, a gzip layer by sha512 and one by sha256."""
    blobs = {}

    def put(data: bytes, algorithm: str = "sha256") -> str:
        digest = _digest(data, algorithm)
        path = root / "blobs" / algorithm / digest.partition(":")[2]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        blobs[digest] = data
        return digest

    plains = []
    for name, payload in (("a.txt", b"sha512 says hello\n"), ("b.txt", b"and sha256 too\n")):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(payload), 0
            tar.addfile(info, io.BytesIO(payload))
        plains.append(buf.getvalue())
    layers = [gzip.compress(p, mtime=0) for p in plains]
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [_digest(p) for p in plains]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": put(layer, algorithm),
                    "size": len(layer)} for layer, algorithm in zip(layers, ("sha512", "sha256"))]}).encode()
    digest = put(manifest)
    del blobs[digest]  # the manifest is not read back as a blob
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": OCI_MANIFEST, "digest": digest, "size": len(manifest),
        "annotations": {"org.opencontainers.image.ref.name": "1"}}]}))
    return {"digest": digest, "manifest": manifest, "layer512": _digest(layers[0], "sha512"), "blobs": blobs}


@pytest.fixture
def image(tmp_path):
    return dict(write_sha512_layout(tmp_path / "sha512.oci"), layout=tmp_path / "sha512.oci")


@server_fixture
def ep(tmp_path):
    with LocalEndpoint(data_dir=tmp_path / "ecr-data") as e:
        ecr = boto3.client("ecr-public", endpoint_url=e.url, region_name="us-east-1", aws_access_key_id="x",
                           aws_secret_access_key="y", config=Config(retries={"total_max_attempts": 1}))
        ecr.create_repository(repositoryName="s512")
        ecr.create_repository(repositoryName="s512-copy")
        token = ecr.get_authorization_token()["authorizationData"]["authorizationToken"]
        e.password = base64.b64decode(token).decode().partition(":")[2]
        e.ecr = ecr
        yield e


def _round_trip(image, host: str, repo: str, tmp_path: Path, skopeo, auth=None, **creds) -> None:
    """Push over v2, read every blob back over raw HTTP by its own digest, pull it into a layout, re-push."""
    result = push(f"oci:{image['layout']}:1", f"{host}/{repo}:1", insecure=True, compression="keep", **creds)
    assert result.digest == image["digest"] and result.blobs_pushed == 3
    assert skopeo.inspect_raw(f"{host}/{repo}:1") == image["manifest"]
    for digest, data in image["blobs"].items():
        resp = requests.get(f"http://{host}/v2/{repo}/blobs/{digest}", auth=auth, timeout=30)
        assert resp.status_code == 200 and _digest(resp.content, digest.partition(":")[0]) == digest
    pulled = tmp_path / f"pulled-{repo.replace('/', '-')}"
    got = pull(f"docker://{host}/{repo}:1", f"oci:{pulled}", insecure=True, src_insecure=True,
               src_username=creds.get("username"), src_password=creds.get("password"))
    assert got.digest == image["digest"]
    layer = image["layer512"].partition(":")[2]
    assert (pulled / "blobs" / "sha512" / layer).read_bytes() == image["blobs"][image["layer512"]]
    again = push(f"oci:{image['layout']}:1", f"{host}/{repo}:1", insecure=True, compression="keep", **creds)
    assert (again.blobs_pushed, again.digest) == (0, image["digest"])
    # within one registry a copy mounts: docker-registry links a mounted sha512 blob by its sha256 only, so
    # that blob is uploaded instead; every blob must answer to its own digest in the copy
    copied = copy(f"docker://{host}/{repo}:1", f"{host}/{repo}-copy:1", insecure=True, src_insecure=True,
                  src_username=creds.get("username"), src_password=creds.get("password"), **creds)
    assert copied.digest == image["digest"] and copied.blobs_mounted >= 1
    for digest in image["blobs"]:
        assert requests.head(f"http://{host}/v2/{repo}-copy/blobs/{digest}", auth=auth, timeout=30).status_code == 200


def test_docker_registry_takes_a_sha512_layer(registry, skopeo, image, tmp_path):
    _round_trip(image, registry.host, "s512/app", tmp_path, skopeo)


def test_the_serve_v2_door_takes_a_sha512_layer(ep, skopeo, image, tmp_path):
    _round_trip(image, ep.host_port, "s512", tmp_path, skopeo, auth=("AWS", ep.password),
                username="AWS", password=ep.password)
    row = ep.ecr.describe_images(repositoryName="s512")["imageDetails"]
    assert [d["imageDigest"] for d in row] == [image["digest"]]


def test_the_serve_v2_door_checks_sha512_content(ep, image):
    data = image["blobs"][image["layer512"]]
    url = f"{ep.url}/v2/s512/blobs/uploads/?digest=sha512:{'0' * 128}"
    resp = requests.post(url, data=data, auth=("AWS", ep.password), timeout=30)
    assert resp.status_code == 400 and resp.json()["errors"][0]["code"] == "DIGEST_INVALID"
    assert image["layer512"] in resp.json()["errors"][0]["message"]  # what the content really has
    resp = requests.head(f"{ep.url}/v2/s512/blobs/sha512:{'0' * 128}", auth=("AWS", ep.password), timeout=30)
    assert resp.status_code == 404
    session = requests.post(f"{ep.url}/v2/s512/blobs/uploads/", auth=("AWS", ep.password), timeout=30)
    location = requests.compat.urljoin(ep.url, session.headers["Location"])
    resp = requests.patch(location, data=data, auth=("AWS", ep.password), timeout=30,  # then PUT with no body:
                          headers={"Content-Range": f"0-{len(data) - 1}"})  # the sha512 is of the stored upload
    assert resp.status_code in (201, 202), resp.text  # 201 as ECR answers
    location = requests.compat.urljoin(ep.url, resp.headers["Location"])
    sep = "&" if "?" in location else "?"
    resp = requests.put(f"{location}{sep}digest={image['layer512']}", auth=("AWS", ep.password), timeout=30)
    assert resp.status_code == 201 and resp.headers["Docker-Content-Digest"] == image["layer512"], resp.text
    got = requests.get(f"{ep.url}/v2/s512/blobs/{image['layer512']}", auth=("AWS", ep.password), timeout=30)
    assert got.content == data


def test_the_ecr_api_refuses_a_sha512_layer_before_pushing_anything(ep, image, capsys):
    code = main(["push", f"oci:{image['layout']}:1", "public.ecr.aws/local/s512:1", "--endpoint-url", ep.url])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 4 and len(err) == 1, err
    assert f"blob {image['layer512']}: the ECR API stores layers by their sha256 only" in err[0]
    assert "nothing was pushed" in err[0]
    config = json.loads(image["manifest"])["config"]["digest"]
    check = ep.ecr.batch_check_layer_availability(repositoryName="s512", layerDigests=[config])
    assert check["layers"] == [] and ep.ecr.describe_images(repositoryName="s512")["imageDetails"] == []
