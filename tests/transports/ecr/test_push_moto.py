"""The private ECR path against moto's server, an independent implementation of the ECR API."""
from __future__ import annotations

import json

import boto3
import pytest

from conftest import FIXTURES, MOTO_ENV, run_pypush
from pullcheck import oci_top_digest

ACCOUNT = "123456789012"




@pytest.mark.parametrize("source", ["oci:fixtures/small.oci:1", "docker-archive:fixtures/small.docker-archive.tar"])
def test_private_ecr_push_to_moto(moto_url, source):
    repo = "moto/" + source.split(":")[0].replace("-", "")
    dest = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/{repo}:1"
    proc = run_pypush("push", source, dest, "--endpoint-url", moto_url, "--create-repository", "--format", "json",
                      env=MOTO_ENV)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    client = boto3.client("ecr", endpoint_url=moto_url, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    images = client.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": "1"}])["images"]
    assert len(images) == 1
    manifest = images[0]["imageManifest"].encode()
    import hashlib

    assert "sha256:" + hashlib.sha256(manifest).hexdigest() == result["digest"]
    if source.startswith("oci:"):
        assert result["digest"] == oci_top_digest(FIXTURES / "small.oci")
    # every blob the manifest names is in moto's repository
    doc = json.loads(manifest)
    digests = [doc["config"]["digest"], *(layer["digest"] for layer in doc["layers"])]
    check = client.batch_check_layer_availability(repositoryName=repo, layerDigests=digests)
    assert sorted(layer["layerDigest"] for layer in check["layers"]) == sorted(set(digests))
    again = run_pypush("push", source, dest, "--endpoint-url", moto_url, "--format", "json", env=MOTO_ENV)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["bytes_pushed"] == 0
    assert json.loads(again.stdout)["unchanged"]  # one BatchGetImage answered it


def test_private_ecr_source_logs_in_with_get_authorization_token(moto_url, tmp_path):
    """``docker://ACCOUNT.dkr.ecr.REGION.amazonaws.com/…`` with no configured credentials: pypush asks the ECR
    API (moto) for a token and pulls over TLS with it as Basic credentials. The registry poses as the real
    host: an HTTPS proxy routes its name to a loopback server whose certificate names it."""
    from certs import self_signed
    from connect_proxy import running_proxy
    from imagegen import make_oci_layout, random_bytes, tar_layer
    from layout_v2_server import LayoutV2Server

    host = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"
    layout = tmp_path / "img.oci"
    digest = make_oci_layout(layout, [tar_layer([("f", random_bytes(300_000, 7))])])
    cert, key = self_signed(tmp_path, [host])
    registry = LayoutV2Server(layout, repo="team/app", tls=(cert, key), basic=f"AWS:{ACCOUNT}-auth-token")
    try:
        with running_proxy({host: ("127.0.0.1", int(registry.host.rsplit(":", 1)[1]))}) as proxy:
            env = dict(MOTO_ENV, AWS_ENDPOINT_URL_ECR=moto_url, HTTPS_PROXY=proxy.url, https_proxy=proxy.url,
                       NO_PROXY="127.0.0.1", no_proxy="127.0.0.1", REQUESTS_CA_BUNDLE=str(cert),
                       DOCKER_CONFIG=str(tmp_path / "no-docker-config"))
            proc = run_pypush("pull", f"docker://{host}/team/app:1", f"oci:{tmp_path / 'out'}:1", "--format", "json",
                              env=env)
            assert proc.returncode == 0, proc.stderr
            assert oci_top_digest(tmp_path / "out", "1") == digest
            assert proxy.tunnels >= 1
            # a token the registry refuses is an authentication error naming the registry, not a crash
            registry.basic = "Basic " + "bm90OnRoaXM="
            refused = run_pypush("pull", f"docker://{host}/team/app:1", f"oci:{tmp_path / 'out2'}:1", env=env)
        assert refused.returncode == 5, refused.stderr
        assert host in refused.stderr and f"{ACCOUNT}-auth-token" not in refused.stderr
        assert not (tmp_path / "out2").exists()
        assert any(m == "GET" and "/blobs/" in p for m, p, _, _ in registry.requests)
    finally:
        registry.stop()
