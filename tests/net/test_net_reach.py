"""The network layer both transports share: TLS trust (the AWS profile's ca_bundle on every ECR request,
UploadLayerPart included), proxies, the byte-skipping helper, the stats counter."""
from __future__ import annotations

import io
import json
import socket
import ssl
import threading

import pytest

from certs import self_signed
from conftest import run_pypush, server_fixture

from pypush.errors import DigestMismatchError, SourceError
from pypush.image.digest import VerifyingReader
from pypush.image.model import sha256_digest
from pypush.net.connections import proxies_for, registry_verify
from pypush.net.retry import Backoff, RetryPolicy
from pypush.net.stats import TransferStats
from pypush.errors import TransientError


class TlsTerminator:
    """https://127.0.0.1:PORT in front of a plain-http server: what a corporate TLS endpoint looks like."""

    def __init__(self, cert, key, upstream_port: int):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.upstream_port = upstream_port
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"https://127.0.0.1:{self.sock.getsockname()[1]}"
        self.handshakes = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(conn,), daemon=True).start()

    def _relay(self, conn: socket.socket) -> None:
        try:
            tls = self.context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            conn.close()  # the client did not trust us: what the test expects in the refusing case
            return
        self.handshakes += 1
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))

        def pump(src, dst) -> None:
            try:
                while True:
                    data = src.recv(1 << 20)
                    if not data:
                        break
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=pump, args=(upstream, tls), daemon=True).start()
        pump(tls, upstream)

    def close(self) -> None:
        self.sock.close()


@server_fixture
def tls_endpoint(endpoint, tmp_path):
    cert, key = self_signed(tmp_path)
    port = int(endpoint.url.rsplit(":", 1)[1])
    front = TlsTerminator(cert, key, port)
    yield front, cert
    front.close()


def _aws_env(tmp_path, ca_bundle=None) -> dict:
    config = tmp_path / "aws-config"
    config.write_text("[profile corp]\nregion = us-east-1\n" + (f"ca_bundle = {ca_bundle}\n" if ca_bundle else ""))
    return {"AWS_CONFIG_FILE": str(config), "AWS_PROFILE": "corp", "AWS_ACCESS_KEY_ID": "x",
            "AWS_SECRET_ACCESS_KEY": "y"}


def test_profile_ca_bundle_is_trusted_by_every_ecr_request(tls_endpoint, tmp_path, monkeypatch):
    front, cert = tls_endpoint
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)  # the profile's ca_bundle is all there is
    env = _aws_env(tmp_path, cert)
    proc = run_pypush("push", "fixtures/small.oci", "public.ecr.aws/local/corp:1", "--endpoint-url", front.url,
                      "--create-repository", "--format", "json", "--profile", "corp", env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["blobs_pushed"] == 4
    assert front.handshakes >= 2  # botocore's pool and the hand-built UploadLayerPart connection


def test_untrusted_endpoint_certificate_fails_cleanly(tls_endpoint, tmp_path, monkeypatch):
    front, _ = tls_endpoint
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    proc = run_pypush("push", "fixtures/small.oci", "public.ecr.aws/local/corp:1", "--endpoint-url", front.url,
                      "--create-repository", "--profile", "corp", env=_aws_env(tmp_path))
    assert proc.returncode == 4, proc.stderr  # not retried: trust will not come by waiting
    assert "Traceback" not in proc.stderr and "ca_bundle" in proc.stderr


def test_aws_ca_bundle_env_wins_over_the_profile(tmp_path, monkeypatch):
    from pypush.net.aws import make_session
    from pypush.net.connections import aws_verify

    for key, value in _aws_env(tmp_path, "/profile/ca.pem").items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_CA_BUNDLE")
    assert aws_verify(make_session("corp")) == "/profile/ca.pem"
    monkeypatch.setenv("AWS_CA_BUNDLE", "/env/ca.pem")
    assert aws_verify(make_session("corp")) == "/env/ca.pem"


def test_registry_trust_comes_from_requests_bundle_variables(monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    assert registry_verify() is True and registry_verify(insecure=True) is False
    monkeypatch.setenv("CURL_CA_BUNDLE", "/curl.pem")
    assert registry_verify() == "/curl.pem"
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/requests.pem")
    assert registry_verify() == "/requests.pem"


def test_proxies_follow_no_proxy(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy", "ALL_PROXY",
                 "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("https_proxy", "http://proxy.example:3128")
    monkeypatch.setenv("no_proxy", "internal.example,.corp.example")
    assert proxies_for("https://registry.example/v2/") == {"https": "http://proxy.example:3128"}
    assert proxies_for("https://internal.example:5000/v2/") == {}
    assert proxies_for("https://api.ecr.corp.example/") == {}
    monkeypatch.setenv("no_proxy", "10.0.0.0/8, fd00::/8")
    assert proxies_for("http://10.1.2.3:5000/v2/") == {} and proxies_for("http://[fd00::1]:5000/v2/") == {}
    assert proxies_for("http://11.1.2.3:5000/v2/") == {"https": "http://proxy.example:3128"}


def test_skip_reads_and_hashes_what_the_server_holds():
    data = b"abcdefgh" * 1000
    reader = VerifyingReader(io.BytesIO(data), sha256_digest(data), len(data), "blob")
    reader.skip(5000)
    assert reader.count == 5000
    assert reader.read() == data[5000:]  # verified at EOF: the skipped bytes were hashed


def test_skip_past_the_end_is_a_source_error_not_a_silent_short_read():
    reader = VerifyingReader(io.BytesIO(b"short"), "", None, "layer.tar")
    with pytest.raises(SourceError, match="layer.tar ends after 5 bytes, but the registry already holds 10"):
        reader.skip(10)
    sized = VerifyingReader(io.BytesIO(b"short"), "", 10, "layer.tar")
    with pytest.raises(DigestMismatchError):  # a declared size is checked first, at the EOF
        sized.skip(10)


def test_one_retry_policy_counts_retries_and_throttling():
    stats = TransferStats()
    waits = []
    failures = iter([TransientError("slow down", "ThrottlingException"), TransientError("HTTP 503", "503"),
                     TransientError("HTTP 429", "TOOMANYREQUESTS")])

    def flaky() -> str:
        exc = next(failures, None)
        if exc is not None:
            raise exc
        return "done"

    policy = RetryPolicy(Backoff(attempts=4, base=0.01), stats, sleep=waits.append)
    assert policy.call(flaky, "PutImage", lambda e: isinstance(e, TransientError)) == "done"
    assert (stats["retries"], stats["throttled"], len(waits)) == (3, 2, 3)
    stats.blob_uploaded(10)
    stats.add("mounted")
    assert (stats["uploaded"], stats["bytes"], stats["mounted"]) == (1, 10, 1)


@pytest.mark.parametrize("profile", ["default", "corp"])
@pytest.mark.parametrize("env_bundle", [None, "/env/ca.pem"])
def test_the_probe_trusts_what_botocore_trusts(tmp_path, monkeypatch, profile, env_bundle):
    """The re-push probe reads the AWS config without botocore: it must reach the same decision."""
    from pypush.net.aws import make_session
    from pypush.net.connections import aws_verify, aws_verify_from_files

    config = tmp_path / "aws-config"
    config.write_text("[default]\nca_bundle = /default/ca.pem\n[profile corp]\nca_bundle = /corp/ca.pem\n"
                      "[profile bare]\nregion = us-east-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    if env_bundle:
        monkeypatch.setenv("AWS_CA_BUNDLE", env_bundle)
    if profile != "default":
        monkeypatch.setenv("AWS_PROFILE", profile)
    assert aws_verify_from_files() == aws_verify(make_session()) == (env_bundle or f"/{profile}/ca.pem")
    monkeypatch.setenv("AWS_PROFILE", "bare")
    assert aws_verify_from_files() == aws_verify(make_session()) == (env_bundle or True)


def test_keep_alive_is_one_connection_per_thread_and_target_and_close_closes_all():
    from pypush.net.connections import KeepAlive

    class Conn:
        closed = False

        def close(self):
            self.closed = True

    made, conns = [], KeepAlive()

    def opener():
        made.append(Conn())
        return made[-1]

    first = conns.get("a", opener)
    assert conns.get("a", opener) is first and len(made) == 1
    other = conns.get("b", opener)  # another target: the old connection is closed
    assert first.closed and not other.closed
    seen = []
    worker = threading.Thread(target=lambda: seen.append(conns.get("b", opener)))
    worker.start()
    worker.join()
    assert seen[0] is not other  # another thread, its own connection
    conns.drop()
    assert other.closed and not seen[0].closed
    conns.close()
    assert seen[0].closed
