"""docker-registry behind authentication, as fixtures: Basic (htpasswd) and Bearer (a token server issuing
RS256 JWTs), with the test user's credentials; skopeo reading with them."""
from __future__ import annotations

import base64
import datetime
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

import conftest
from conftest import server_fixture, start_docker_registry


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
