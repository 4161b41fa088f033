"""Credential resolution (explicit pair, docker config.json, credential helpers) and challenge parsing."""
from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from pypush.net.connections import is_loopback
from pypush.transports.distribution.docker_credentials import Credentials, credentials_for, normalize_registry, server_url
from pypush.transports.distribution.token_auth import parse_challenges
from pypush.errors import AuthError, UsageError


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
def config_dir(docker_config) -> Path:
    return docker_config


def write_config(config_dir: Path, doc: dict) -> None:
    (config_dir / "config.json").write_text(json.dumps(doc))


@pytest.fixture
def helper_bin(tmp_path, monkeypatch):
    """make(name, script_body): a docker-credential-NAME on PATH running ``script_body`` (sh)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")

    def make(name: str, body: str) -> Path:
        path = bindir / f"docker-credential-{name}"
        path.write_text("#!/bin/sh\n" + body)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
        return path
    return make


def test_explicit_pair_wins(config_dir):
    write_config(config_dir, {"auths": {"r.example": {"auth": b64("other:pw")}}})
    creds = credentials_for("r.example", username="u", password="p")
    assert (creds.username, creds.password, creds.source) == ("u", "p", "given explicitly")


def test_half_a_pair_is_a_usage_error(config_dir):
    with pytest.raises(UsageError, match="both a username and a password"):
        credentials_for("r.example", username="u")


@pytest.mark.parametrize("key", ["r.example:5000", "https://r.example:5000", "https://r.example:5000/v1/",
                                 "http://R.Example:5000/v2/"])
def test_auths_key_spellings(config_dir, key):
    write_config(config_dir, {"auths": {key: {"auth": b64("user:pa:ss")}}})
    creds = credentials_for("r.example:5000")
    assert (creds.username, creds.password) == ("user", "pa:ss")
    assert "auths" in creds.source
    assert credentials_for("r.example") is None  # another port is another registry


@pytest.mark.parametrize("registry", ["docker.io", "index.docker.io", "registry-1.docker.io"])
def test_docker_hub_aliases(config_dir, registry):
    write_config(config_dir, {"auths": {"https://index.docker.io/v1/": {"username": "hub", "password": "pw"}}})
    assert credentials_for(registry).username == "hub"
    assert server_url(registry) == "https://index.docker.io/v1/"


def test_identity_token(config_dir):
    write_config(config_dir, {"auths": {"r.example": {"auth": b64("<token>:"), "identitytoken": "refresh"}}})
    creds = credentials_for("r.example")
    assert creds.identity_token == "refresh" and creds.basic() is None


def test_no_config_is_anonymous(config_dir):
    assert credentials_for("r.example") is None


def test_explicit_config_path(tmp_path, config_dir):
    other = tmp_path / "elsewhere.json"
    other.write_text(json.dumps({"auths": {"r.example": {"auth": b64("a:b")}}}))
    assert credentials_for("r.example", docker_config=other).username == "a"
    assert credentials_for("r.example") is None


def test_unreadable_config_names_the_file(config_dir):
    (config_dir / "config.json").write_text("{not json")
    with pytest.raises(AuthError, match="config.json"):
        credentials_for("r.example")


def test_creds_store_helper(config_dir, helper_bin, tmp_path):
    asked = tmp_path / "asked"
    helper_bin("store", f'read s; echo "$1 $s" > {asked}; echo \'{{"Username":"u1","Secret":"s1"}}\'\n')
    write_config(config_dir, {"credsStore": "store", "auths": {"r.example": {}}})
    creds = credentials_for("https://r.example/v1/")
    assert (creds.username, creds.password, creds.source) == ("u1", "s1", "credential helper docker-credential-store")
    assert asked.read_text().split() == ["get", "r.example"]


def test_creds_store_without_credentials_falls_back_to_auths(config_dir, helper_bin):
    helper_bin("store", 'echo "credentials not found in native keychain"; exit 1\n')
    write_config(config_dir, {"credsStore": "store", "auths": {"r.example": {"auth": b64("fallback:pw")}}})
    assert credentials_for("r.example").username == "fallback"


def test_missing_creds_store_is_not_fatal(config_dir):
    write_config(config_dir, {"credsStore": "absent-store-xyz", "auths": {"r.example": {"auth": b64("x:y")}}})
    assert credentials_for("r.example").username == "x"
    assert credentials_for("other.example") is None


def test_cred_helpers_win_over_store_and_auths(config_dir, helper_bin):
    helper_bin("per", 'read s; echo \'{"Username":"<token>","Secret":"idtok"}\'\n')
    helper_bin("store", 'read s; echo \'{"Username":"wrong","Secret":"wrong"}\'\n')
    write_config(config_dir, {"credHelpers": {"r.example": "per"}, "credsStore": "store",
                              "auths": {"r.example": {"auth": b64("wrong:wrong")}}})
    creds = credentials_for("r.example")
    assert creds.identity_token == "idtok" and not creds.username


def test_missing_cred_helper_is_an_auth_error(config_dir):
    write_config(config_dir, {"credHelpers": {"r.example": "absent-helper-xyz"}})
    with pytest.raises(AuthError, match="docker-credential-absent-helper-xyz"):
        credentials_for("r.example")


def test_failing_cred_helper_message_has_no_output(config_dir, helper_bin):
    helper_bin("leaky", 'echo "secret-ish output"; exit 3\n')
    write_config(config_dir, {"credHelpers": {"r.example": "leaky"}})
    with pytest.raises(AuthError) as info:
        credentials_for("r.example")
    assert "exit status 3" in str(info.value) and "secret-ish" not in str(info.value)


def test_repr_hides_secrets():
    text = repr(Credentials("user", "hunter2", "tok-123"))
    assert "user" in text and "hunter2" not in text and "tok-123" not in text


def test_normalize_registry():
    assert normalize_registry("HTTPS://Registry.Example:443/v2/") == "registry.example:443"
    assert normalize_registry("registry-1.docker.io") == "docker.io"


def test_parse_challenges():
    header = ('Bearer realm="https://auth.example/token",service="registry.example",'
              'scope="repository:a/b:pull,push repository:c:pull", Basic realm="x y"')
    assert parse_challenges(header) == [
        ("bearer", {"realm": "https://auth.example/token", "service": "registry.example",
                    "scope": "repository:a/b:pull,push repository:c:pull"}),
        ("basic", {"realm": "x y"}),
    ]
    assert parse_challenges('basic realm=plain') == [("basic", {"realm": "plain"})]
    assert parse_challenges('Bearer realm="a\\"b"') == [("bearer", {"realm": 'a"b'})]
    assert parse_challenges("") == []


@pytest.mark.parametrize("host, expected", [("localhost:5000", True), ("127.0.0.1", True), ("127.3.2.1:80", True),
                                            ("[::1]:5000", True), ("::1", True), ("registry.example", False),
                                            ("10.0.0.1:5000", False), ("localhost.example.com", False)])
def test_is_loopback(host, expected):
    assert is_loopback(host) is expected
