"""Authentication against docker-registry: Basic (htpasswd) and the Bearer token flow (the registry's
own token auth, trusting a small JWT token server run here), credentials from docker's config.json
and credential helpers. Results are checked with skopeo using the same credentials."""
from __future__ import annotations

import base64
import datetime
import json
import os
import stat
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

import pytest

import conftest
from conftest import start_docker_registry, server_fixture
from test_registry_push import Progress, blob_of, gz_layer, make_image, transport_for

from pypush.transports.distribution import token_auth
from pypush.transports.distribution.docker_credentials import Credentials
from pypush.engine.transfer import push
from pypush.errors import AuthError
from imagegen import random_bytes

USER, PASSWORD = "alice", "s3cret-Pa55"
REFRESH_TOKEN = "refresh-token-for-alice"
conftest.SECRETS_USED.update((PASSWORD, REFRESH_TOKEN))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """Issues RS256 JWTs that docker-registry's token auth verifies through the x5c certificate.

    Known users get the actions they ask for; anonymous callers get nothing. Every request is
    recorded as (user, [scopes]).
    """

    service, issuer = "pypush-test-registry", "pypush-test-issuer"

    def __init__(self, tmp: Path, expires_in: int = 300):
        from cryptography import x509  # test dependencies of the server tests only: imported when used
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        self.expires_in = expires_in
        self.requests: List[Tuple[str, List[str]]] = []
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pypush test token issuer")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(self.key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
                .not_valid_after(now + datetime.timedelta(days=1)).sign(self.key, hashes.SHA256()))
        self.cert_path = tmp / "token-cert.pem"
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.x5c = [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                user = server.basic_user(self.headers.get("Authorization"))
                self.answer(user, query.get("scope", []))

            def do_POST(self) -> None:
                form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode())
                ok = form.get("grant_type") == ["refresh_token"] and form.get("refresh_token") == [REFRESH_TOKEN]
                self.answer(USER if ok else None, " ".join(form.get("scope", [])).split())

            def answer(self, user: Optional[str], scopes: List[str]) -> None:
                server.requests.append((user or "", scopes))
                if user is None:
                    return self.reply(401, {"details": "bad credentials"})
                self.reply(200, {"token": server.issue(user, scopes), "expires_in": server.expires_in})

            def reply(self, status: int, doc: dict) -> None:
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @staticmethod
    def basic_user(header: Optional[str]) -> Optional[str]:
        """"" for anonymous, the user for good Basic credentials, None for bad ones."""
        if not header:
            return ""
        user, _, password = base64.b64decode(header.split(" ", 1)[1]).decode().partition(":")
        return user if (user, password) == (USER, PASSWORD) else None

    def issue(self, user: str, scopes: List[str]) -> str:
        access = []
        for scope in scopes if user else []:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": self.x5c}
        claims = {"iss": self.issuer, "sub": user, "aud": self.service, "exp": now + self.expires_in,
                  "nbf": now - 10, "iat": now, "jti": os.urandom(8).hex(), "access": access}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    def registry_config(self) -> str:
        return (f"auth: {{token: {{realm: 'http://127.0.0.1:{self.port}/token', service: {self.service}, "
                f"issuer: {self.issuer}, rootcertbundle: {self.cert_path}}}}}\n")

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@server_fixture(scope="module")
def token_server(tmp_path_factory):
    server = TokenServer(tmp_path_factory.mktemp("token"))
    yield server
    server.stop()


@server_fixture(scope="module")
def bearer_registry(tmp_path_factory, token_server):
    reg = start_docker_registry(tmp_path_factory.mktemp("bearer-registry"), token_server.registry_config())
    yield reg
    reg.stop()


@server_fixture(scope="module")
def basic_registry(tmp_path_factory):
    import bcrypt

    root = tmp_path_factory.mktemp("basic-registry")
    htpasswd = root / "htpasswd"
    htpasswd.write_bytes(USER.encode() + b":" + bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)) + b"\n")
    reg = start_docker_registry(root, f"auth: {{htpasswd: {{realm: basic-realm, path: {htpasswd}}}}}\n")
    yield reg
    reg.stop()


def skopeo_raw(skopeo, ref: str) -> bytes:
    """The manifest bytes skopeo reads with the test user's credentials."""
    proc = skopeo.run("inspect", "--raw", "--tls-verify=false", "--creds", f"{USER}:{PASSWORD}", f"docker://{ref}")
    return proc.stdout.encode()


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
    assert basic_registry.host in message and "docker login" in message and "HTTP 401" in message
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
