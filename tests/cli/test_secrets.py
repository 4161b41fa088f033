"""Issue 7: credentials never appear in any output at any verbosity.

Each test here checks its own runs at -vv. Every secret is also registered with conftest, whose
session-end guard greps every CLI output and ``pypush`` log record of the whole session for it,
whatever ran and in whatever order.
"""
from __future__ import annotations

import base64
import json

import pytest

import conftest
from conftest import run_pypush, server_fixture
from auth_registries import PASSWORD, REFRESH_TOKEN, USER, basic_registry  # noqa: F401 (fixture)

AWS_KEY = "AKIAPYPUSHTESTKEY123"
AWS_SECRET = "pYpUsH/sEcReT+kEy/0123456789abcdefGHIJ"
AWS_TOKEN = "FwoGZXIvYXdzEPYPUSHSESSIONTOKENxyz0123456789"
SECRETS = [AWS_SECRET, AWS_TOKEN, PASSWORD, REFRESH_TOKEN, "wrong-Secret-42", "another-wrong-secret",
           base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()]
conftest.SECRETS_USED.update(SECRETS)


def assert_no_secret_in(*outputs: str) -> None:
    for secret in SECRETS:
        for text in outputs:
            assert secret not in text, f"a secret leaked into output: {text[:200]!r}"


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
    assert_no_secret_in(ok.stdout, ok.stderr, bad.stdout, bad.stderr, login.stderr)


def test_v2_push_with_password_at_full_verbosity(basic_registry):  # noqa: F811
    host = basic_registry.host
    ok = run_pypush("-vv", "push", "fixtures/small.oci", f"{host}/sec/app:1", "--insecure", "-u", USER,
                    "--password-stdin", "--format", "json", input=PASSWORD + "\n")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["digest"].startswith("sha256:")
    bad = run_pypush("-vv", "push", "fixtures/small.oci", f"{host}/sec/app:1", "--insecure", "-u", USER,
                     "--password-stdin", input="wrong-Secret-42\n")
    assert bad.returncode == 5, bad.stderr
    assert_no_secret_in(ok.stdout, ok.stderr, bad.stdout, bad.stderr)
