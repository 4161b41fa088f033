"""Issue 7: credentials never appear in any output at any verbosity.

Runs last (file name): besides its own runs at -vv, it greps every CLI output and every ``pypush``
log record of the whole session for every secret the suite used.
"""
from __future__ import annotations

import base64
import json

import pytest

import conftest
from conftest import run_pypush, server_fixture
from test_registry_auth import PASSWORD, REFRESH_TOKEN, USER, basic_registry  # noqa: F401 (fixture)

AWS_KEY = "AKIAPYPUSHTESTKEY123"
AWS_SECRET = "pYpUsH/sEcReT+kEy/0123456789abcdefGHIJ"
AWS_TOKEN = "FwoGZXIvYXdzEPYPUSHSESSIONTOKENxyz0123456789"
SECRETS = [AWS_SECRET, AWS_TOKEN, PASSWORD, REFRESH_TOKEN, "wrong-Secret-42", "another-wrong-secret"]


def _env(secret: str = AWS_SECRET) -> dict:
    return {"AWS_ACCESS_KEY_ID": AWS_KEY, "AWS_SECRET_ACCESS_KEY": secret, "AWS_SESSION_TOKEN": AWS_TOKEN}


@server_fixture
def signing_endpoint(tmp_path):
    from pypush.server import LocalEndpoint

    with LocalEndpoint(data_dir=tmp_path / "d", access_key=AWS_KEY, secret_key=AWS_SECRET) as ep:
        yield ep


def test_ecr_push_and_login_at_full_verbosity(signing_endpoint):
    ok = run_pypush("-vv", "push", "fixtures/small.oci", "public.ecr.aws/local/sec:1", "--endpoint-url",
                    signing_endpoint.url, "--create-repository", "--format", "json", env=_env())
    assert ok.returncode == 0, ok.stderr
    bad = run_pypush("-vv", "push", "fixtures/small.oci", "public.ecr.aws/local/sec:1", "--endpoint-url",
                     signing_endpoint.url, env=_env("another-wrong-secret"))
    assert bad.returncode == 5, bad.stderr
    login = run_pypush("-vv", "login", "--endpoint-url", signing_endpoint.url, env=_env())
    assert login.returncode == 0, login.stderr
    password = login.stdout.strip()
    assert password and password not in login.stderr
    assert password not in ok.stdout + ok.stderr + bad.stdout + bad.stderr


def test_v2_push_with_password_at_full_verbosity(basic_registry):  # noqa: F811
    host = basic_registry.host
    ok = run_pypush("-vv", "push", "fixtures/small.oci", f"{host}/sec/app:1", "--insecure", "-u", USER,
                    "--password-stdin", "--format", "json", input=PASSWORD + "\n")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["digest"].startswith("sha256:")
    bad = run_pypush("-vv", "push", "fixtures/small.oci", f"{host}/sec/app:1", "--insecure", "-u", USER,
                     "--password-stdin", input="wrong-Secret-42\n")
    assert bad.returncode == 5, bad.stderr


def test_no_secret_in_any_output_of_the_session():
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    haystacks = conftest.CLI_OUTPUTS + conftest.LOG_LINES
    assert haystacks, "the suite should have produced output to check"
    for secret in [*SECRETS, basic]:
        for text in haystacks:
            assert secret not in text, f"a secret leaked into output: {text[:200]!r}"
