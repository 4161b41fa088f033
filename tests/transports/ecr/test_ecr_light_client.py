"""The botocore-free ECR path (pypush.net.aws_json): its SigV4 equals botocore's, pushes signed with it are
verified by the endpoint without botocore ever loading in the client, and its failures read exactly as the
botocore path's (same exit code, same message)."""
from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import REPO_ROOT
from pypush.net.sigv4_signer import AwsCredentials, sign

KEY, SECRET = "AKIDPYPUSHTEST", "s3cr3t/key+"


@pytest.mark.parametrize("token", ["", "FwoGZXIvYXdzE//token=="])
def test_signature_equals_botocores(token):
    body = b'{"repositoryName": "app",  "layerPartBlob": "AAAA"}'
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "SpencerFrontendService.PutImage",
               "Content-Length": str(len(body)), "Host": "api.ecr-public.us-east-1.amazonaws.com"}
    request = AWSRequest(method="POST", url="https://api.ecr-public.us-east-1.amazonaws.com/", data=body,
                         headers=dict(headers))
    SigV4Auth(Credentials(KEY, SECRET, token or None), "ecr-public", "us-east-1").add_auth(request)
    ours = sign(dict(headers, **{"User-Agent": "pypush"}), hashlib.sha256(body).hexdigest(), "ecr-public",
                "us-east-1", AwsCredentials(KEY, SECRET, token), amz_date=request.headers["X-Amz-Date"])
    assert ours["Authorization"] == request.headers["Authorization"]
    assert ours.get("X-Amz-Security-Token") == (token or None)


_CLIENT = """
import json, sys
import pypush
from pypush.errors import PypushError
try:
    result = pypush.push("fixtures/small.oci", sys.argv[1], endpoint_url=sys.argv[2], create_repository=True)
    print(json.dumps({"digest": result.digest, "botocore": "botocore" in sys.modules}))
except PypushError as exc:
    print(json.dumps({"error": str(exc), "exit": exc.exit_code, "botocore": "botocore" in sys.modules}))
"""


def _client(reference: str, url: str, env: dict) -> dict:
    import json
    import os

    full = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    full.update(env)
    proc = subprocess.run([sys.executable, "-c", _CLIENT, reference, url], capture_output=True, text=True,
                          env=full, cwd=str(REPO_ROOT), timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.servers
def test_env_credentials_push_without_botocore_and_fail_as_botocore_does(tmp_path):
    from pypush.server import LocalEndpoint

    env = {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET, "HOME": str(tmp_path)}
    config = tmp_path / "config"
    config.write_text("[profile corp]\nregion = us-east-1\n")
    via_profile = dict(env, AWS_CONFIG_FILE=str(config), AWS_PROFILE="corp")  # botocore's chain decides
    with LocalEndpoint(data_dir=tmp_path / "ecr", access_key=KEY, secret_key=SECRET) as ep:
        public = _client("public.ecr.aws/local/light:1", ep.url, env)
        private = _client("123456789012.dkr.ecr.eu-west-1.amazonaws.com/light:1", ep.url, env)
        assert public["botocore"] is private["botocore"] is False and public["digest"] == private["digest"]
        assert _client("public.ecr.aws/local/heavy:1", ep.url, via_profile)["botocore"] is True
        for wrong in ({"AWS_SECRET_ACCESS_KEY": "wrong"}, {"AWS_ACCESS_KEY_ID": "OTHER"}):
            light = _client("public.ecr.aws/local/light:2", ep.url, dict(env, **wrong))
            heavy = _client("public.ecr.aws/local/light:2", ep.url, dict(via_profile, **wrong))
            assert not light["botocore"] and heavy["botocore"]
            assert (light["exit"], light["error"]) == (heavy["exit"], heavy["error"]) and light["exit"] == 5
    # nothing listens there now: the same transient failure, message and exit code either way
    light, heavy = _client("public.ecr.aws/local/gone:1", ep.url, env), _client("public.ecr.aws/local/gone:1",
                                                                                  ep.url, via_profile)
    assert (light["exit"], light["error"]) == (heavy["exit"], heavy["error"]) and light["exit"] == 6, (light, heavy)


@pytest.mark.servers
def test_loopback_without_credentials_pushes_without_botocore(endpoint, tmp_path):
    result = _client("public.ecr.aws/local/anon:1", endpoint.url, {"HOME": str(tmp_path)})  # no AWS files, no keys
    assert result["botocore"] is False and result["digest"].startswith("sha256:")


def test_botocore_decides_whenever_the_environment_alone_does_not(tmp_path, monkeypatch):
    from pypush.net.aws_json import LOCAL_CREDENTIALS, env_credentials

    for name in [k for k in __import__("os").environ if k.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    local = "http://127.0.0.1:5000"
    assert env_credentials(None, local) == LOCAL_CREDENTIALS  # no keys, no AWS files: placeholders
    assert env_credentials(None, "https://api.ecr.eu-west-1.amazonaws.com") is None
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "tok")
    assert env_credentials(None, None) == AwsCredentials(KEY, SECRET, "tok")
    assert env_credentials("corp", None) is None  # --profile
    config = tmp_path / "config"
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    config.write_text("[default]\nendpoint_url = https://ecr.example\n")
    assert env_credentials(None, None) is None
    for var in ("AWS_PROFILE", "AWS_USE_FIPS_ENDPOINT", "AWS_ENDPOINT_URL_ECR"):
        config.unlink(missing_ok=True)
        assert env_credentials(None, None) is not None
        monkeypatch.setenv(var, "x")
        assert env_credentials(None, None) is None
        monkeypatch.delenv(var)
