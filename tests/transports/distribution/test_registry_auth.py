"""Authentication against docker-registry: Basic (htpasswd) and the Bearer token flow (the registry's
own token auth, trusting a small JWT token server run here), credentials from docker's config.json
and credential helpers. Results are checked with skopeo using the same credentials."""
from __future__ import annotations

import base64
import json
import os
import stat
import time

import pytest

from registry_builders import Progress, blob_of, gz_layer, make_image, transport_for

from pypush.transports.distribution import token_auth
from pypush.transports.distribution.docker_credentials import Credentials
from pypush.engine.transfer import push
from pypush.errors import AuthError
from imagegen import random_bytes
from auth_registries import USER, PASSWORD, REFRESH_TOKEN, token_server, bearer_registry, basic_registry, skopeo_raw  # noqa: F401 (fixtures)


def push_small_image(transport, repo: str, seed: int):
    image = make_image([gz_layer(512 * 1024, seed), gz_layer(256 * 1024, seed + 1)])
    transport.prepare()
    result = push(image, transport, ["v1"], repository=repo)
    assert result.digest == image.descriptor.digest
    return image


# ----- Basic (htpasswd) ---------------------------------------------------------------------------

def test_basic_auth_push(basic_registry, skopeo):
    with transport_for(basic_registry, "basic/app", credentials=Credentials(USER, PASSWORD)) as t:
        image = push_small_image(t, "basic/app", 1)
    assert skopeo_raw(skopeo, f"{basic_registry.host}/basic/app:v1") == image.raw


def test_basic_auth_wrong_password_is_auth_error_without_secret(basic_registry):
    with transport_for(basic_registry, "basic/app", credentials=Credentials(USER, "wrong-Secret-42")) as t:
        with pytest.raises(AuthError) as info:
            t.prepare()
    message = str(info.value)
    assert basic_registry.host in message and "HTTP 401" in message
    assert "check the user name and the password given" in message and "--password-stdin" not in message
    assert "wrong-Secret-42" not in message and "Authorization" not in message


def test_anonymous_against_basic_registry_is_auth_error(basic_registry, docker_config):
    with transport_for(basic_registry, "basic/app", lookup_credentials=True) as t:
        with pytest.raises(AuthError, match="no credentials"):
            t.prepare()


def test_credential_helper_from_docker_config(basic_registry, skopeo, docker_config, tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    helper = bindir / "docker-credential-pypushtest"
    asked = tmp_path / "asked"
    helper.write_text("#!/bin/sh\n"
                      f'read server; echo "$1 $server" >> {asked}\n'
                      f"printf '{{\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}'\n")
    helper.chmod(helper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    (docker_config / "config.json").write_text(json.dumps(
        {"auths": {basic_registry.host: {}}, "credHelpers": {f"https://{basic_registry.host}": "pypushtest"}}))
    with transport_for(basic_registry, "helper/app", lookup_credentials=True) as t:
        image = push_small_image(t, "helper/app", 3)
    assert asked.read_text().split() == ["get", basic_registry.host]  # asked once, for this registry
    assert skopeo_raw(skopeo, f"{basic_registry.host}/helper/app:v1") == image.raw


def test_auths_entry_from_docker_config(basic_registry, docker_config):
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    config = {"auths": {f"http://{basic_registry.host}/v1/": {"auth": auth}}}
    (docker_config / "config.json").write_text(json.dumps(config))
    with transport_for(basic_registry, "auths/app", lookup_credentials=True) as t:
        push_small_image(t, "auths/app", 5)


# ----- Bearer (token server) ------------------------------------------------------------------------

def test_bearer_flow_caches_token_per_scope(bearer_registry, token_server, skopeo):
    before = len(token_server.requests)
    with transport_for(bearer_registry, "bearer/app", credentials=Credentials(USER, PASSWORD)) as t:
        image = push_small_image(t, "bearer/app", 7)
        assert t.missing([b.descriptor.digest for b in image.blobs]) == set()
    # one token, for the push scope, served every request (prepare, HEADs, uploads from 4 threads, manifest)
    assert token_server.requests[before:] == [(USER, ["repository:bearer/app:pull,push"])]
    assert skopeo_raw(skopeo, f"{bearer_registry.host}/bearer/app:v1") == image.raw


def test_bearer_mount_asks_for_both_scopes(bearer_registry, token_server):
    creds = Credentials(USER, PASSWORD)
    blob = blob_of(random_bytes(300 * 1024, 9))
    with transport_for(bearer_registry, "bearer/src", credentials=creds) as src:
        src.upload(blob, Progress())
    before = len(token_server.requests)
    with transport_for(bearer_registry, "bearer/dst", credentials=creds, mount_from=["bearer/src"]) as dst:
        dst.upload(blob, Progress())
        assert dst.stats["mounted"] == 1 and dst.missing([blob.descriptor.digest]) == set()
    scopes = [s for _, s in token_server.requests[before:]]
    assert ["repository:bearer/dst:pull,push", "repository:bearer/src:pull"] in scopes


def test_bearer_token_refreshed_when_it_expires(bearer_registry, token_server, monkeypatch):
    token_server.expires_in = 11  # pypush refreshes ~10 s before expiry: here after ~1 s
    start, passed = time.monotonic(), [0.0]
    monkeypatch.setattr(token_auth, "clock", lambda: start + passed[0])  # time moves only when told
    try:
        with transport_for(bearer_registry, "bearer/refresh", credentials=Credentials(USER, PASSWORD)) as t:
            t.prepare()
            t.missing(["sha256:" + "0" * 64])
            fetched = len(token_server.requests)
            passed[0] = 0.9
            t.missing(["sha256:" + "2" * 64])
            assert len(token_server.requests) == fetched  # still fresh
            passed[0] = 1.3
            t.missing(["sha256:" + "1" * 64])
            assert len(token_server.requests) == fetched + 1
    finally:
        token_server.expires_in = 300


def test_bearer_identity_token_from_docker_config(bearer_registry, token_server, docker_config):
    (docker_config / "config.json").write_text(json.dumps(
        {"auths": {bearer_registry.host: {"auth": base64.b64encode(b"<token>:").decode(),
                                          "identitytoken": REFRESH_TOKEN}}}))
    with transport_for(bearer_registry, "bearer/oauth", lookup_credentials=True) as t:
        push_small_image(t, "bearer/oauth", 11)


def test_bearer_anonymous_cannot_push(bearer_registry, docker_config):
    blob = blob_of(random_bytes(1000, 13))
    with transport_for(bearer_registry, "bearer/anon", lookup_credentials=True) as t:
        t.prepare()  # anonymous tokens are enough for GET /v2/
        with pytest.raises(AuthError) as info:
            t.upload(blob, Progress())
    assert "no credentials (anonymous)" in str(info.value) and "bearer/anon" in str(info.value)


def test_bearer_bad_password_names_the_token_service(bearer_registry, token_server):
    with transport_for(bearer_registry, "bearer/app", credentials=Credentials(USER, "not-it-123")) as t:
        with pytest.raises(AuthError) as info:
            t.prepare()
    message = str(info.value)
    assert f"127.0.0.1:{token_server.port}" in message and "not-it-123" not in message
