"""``pypush login``: the password it prints is what docker (and pypush's v2 transport) log in with; bad
AWS credentials are an AuthError (exit 5) in one line."""
from __future__ import annotations

import json

import pytest

from conftest import FIXTURES, run_pypush, server_fixture

KEY, SECRET = "AKIALOGINTEST", "login-test-secret"


@server_fixture
def signing_endpoint(tmp_path):
    from pypush.server import LocalEndpoint

    with LocalEndpoint(data_dir=tmp_path / "d", access_key=KEY, secret_key=SECRET) as ep:
        yield ep


def _aws(secret: str = SECRET) -> dict:
    return {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": secret}


def test_login_password_pushes_over_the_registry_api(signing_endpoint):
    ep = signing_endpoint
    login = run_pypush("login", "--endpoint-url", ep.url, "--format", "json", env=_aws())
    assert login.returncode == 0, login.stderr
    creds = json.loads(login.stdout)
    assert creds["username"] == "AWS" and creds["registry"] == "public.ecr.aws"
    created = run_pypush("repo", "create", "viadocker", "--endpoint-url", ep.url, env=_aws())
    assert created.returncode == 0, created.stderr
    push = run_pypush("push", str(FIXTURES / "small.oci"), f"{ep.host_port}/viadocker:1", "-u", "AWS",
                      "--password-stdin", "--format", "json", input=creds["password"] + "\n")
    assert push.returncode == 0, push.stderr
    assert json.loads(push.stdout)["blobs_pushed"] == 4
    refused = run_pypush("push", str(FIXTURES / "small.oci"), f"{ep.host_port}/viadocker:2", "-u", "AWS",
                         "--password-stdin", input="not-the-password\n")
    assert refused.returncode == 5, refused.stderr


@pytest.mark.parametrize("env", [_aws("wrong-secret"), {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}],
                         ids=["wrong-secret", "no-credentials"])
def test_login_with_bad_credentials_is_an_auth_error(signing_endpoint, env):
    proc = run_pypush("login", "--endpoint-url", signing_endpoint.url, env=env)
    assert proc.returncode == 5 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("pypush: error:")
