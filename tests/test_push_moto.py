"""The private ECR path against moto's server, an independent implementation of the ECR API."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import boto3
import pytest

from conftest import FIXTURES, free_port, run_pypush, wait_for_port, server_fixture
from pullcheck import oci_top_digest

ACCOUNT = "123456789012"


@server_fixture(scope="module")
def moto_url(tmp_path_factory):
    port = free_port()
    cmd = [shutil.which("moto_server") or sys.executable, "-p", str(port)]
    if not shutil.which("moto_server"):
        cmd = [sys.executable, "-m", "moto.server", "-p", str(port)]
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=log)
    try:
        wait_for_port(port, timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


MOTO_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


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
