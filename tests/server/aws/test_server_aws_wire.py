"""The AWS JSON door on the wire, byte by byte, where SDKs other than botocore differ: headers they sign
(expect, user-agent), chunked bodies, ``Expect: 100-continue``, UNSIGNED-PAYLOAD, and the error type header."""
from __future__ import annotations

import hashlib
import hmac
import json
import socket
from datetime import datetime, timezone
from typing import Dict, List, Tuple

import pytest

from conftest import server_fixture

pytestmark = [pytest.mark.servers, pytest.mark.endpoint_api]  # also in CI's oldest/newest-dependency runs

AK, SK = "AKIDWIRE", "wire-secret"
TARGET = "SpencerFrontendService.DescribeRegistries"


@server_fixture
def keyed(tmp_path):
    from pypush.server import LocalEndpoint

    with LocalEndpoint(data_dir=tmp_path / "d", access_key=AK, secret_key=SK) as ep:
        yield ep


def signed_head(ep, body: bytes, extra: List[Tuple[str, str]], signed: List[str], payload_hash: str = "") -> List[str]:
    """Request headers signed by hand (SigV4 written out here, not the server's code): ``signed`` names the
    headers in the signature, ``extra`` adds headers as sent."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    headers = [("Host", ep.host_port), ("X-Amz-Date", stamp), ("X-Amz-Target", TARGET),
               ("Content-Type", "application/x-amz-json-1.1"), *extra]
    values: Dict[str, List[str]] = {}
    for name, value in headers:
        values.setdefault(name.lower(), []).append(" ".join(value.split()))
    names = sorted(signed)
    canonical = "\n".join(["POST", "/", "", *(f"{n}:{','.join(values[n])}" for n in names), "", ";".join(names),
                           payload_hash or hashlib.sha256(body).hexdigest()])
    scope = f"{stamp[:8]}/eu-central-1/ecr-public/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + SK).encode()
    for part in (stamp[:8], "eu-central-1", "ecr-public", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    auth = f"AWS4-HMAC-SHA256 Credential={AK}/{scope}, SignedHeaders={';'.join(names)}, Signature={sig}"
    return ["POST / HTTP/1.1", *(f"{k}: {v}" for k, v in headers), f"Authorization: {auth}"]


class Answer:
    def __init__(self, sock: socket.socket):
        self.file = sock.makefile("rb")
        self.status, self.headers = self._head()
        self.interim = None
        if self.status == 100:
            self.interim, (self.status, self.headers) = 100, self._head()
        self.body = self.file.read(int(self.headers["content-length"]))
        self.json = json.loads(self.body) if self.body else None

    def _head(self) -> Tuple[int, Dict[str, str]]:
        status = int(self.file.readline().split()[1])
        headers = {}
        while True:
            line = self.file.readline().decode("latin-1").strip()
            if not line:
                return status, headers
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()


def exchange(ep, head: List[str], body: bytes, wait_for_interim: bool = False) -> Answer:
    with socket.create_connection(("127.0.0.1", ep.port), timeout=30) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        if wait_for_interim:
            peek = sock.recv(len(b"HTTP/1.1 100"), socket.MSG_PEEK)
            if not peek.endswith(b"100"):
                return Answer(sock)  # refused before the body
        sock.sendall(body)
        return Answer(sock)


def test_headers_other_sdks_sign_are_verified_as_signed(keyed):
    body = b"{}"
    extra = [("User-Agent", "aws-sdk-java/1.12  Linux/6"), ("Expect", "100-continue"),
             ("Content-Length", str(len(body))), ("X-Amz-Meta", "a"), ("X-Amz-Meta", "b  c")]
    names = ["host", "x-amz-date", "x-amz-target", "content-type", "user-agent", "expect", "x-amz-meta"]
    answer = exchange(keyed, signed_head(keyed, body, extra, names), body, wait_for_interim=True)
    assert answer.interim == 100 and answer.status == 200, answer.body
    assert answer.json["registries"][0]["registryId"] == "123456789012"
    assert answer.headers["x-amzn-requestid"] and answer.headers["content-type"] == "application/x-amz-json-1.1"
    # The same headers, one of them changed after signing: refused, with the code in header and body.
    tampered = [h.replace("aws-sdk-java/1.12", "aws-sdk-java/1.13") for h in signed_head(keyed, body, extra, names)]
    answer = exchange(keyed, tampered, body)
    assert answer.status == 400 and answer.json["__type"] == "InvalidSignatureException"
    assert answer.headers["x-amzn-errortype"] == "InvalidSignatureException"


def test_chunked_body_with_extensions_and_trailers(keyed):
    body = b'{"maxResults": 1}'
    head = signed_head(keyed, body, [("Transfer-Encoding", "chunked")], ["host", "x-amz-date", "x-amz-target"])
    wire = b"5;name=value\r\n" + body[:5] + b"\r\n" + f"{len(body) - 5:x}\r\n".encode() + body[5:] + \
        b"\r\n0\r\nX-Trailer: t\r\n\r\n"
    answer = exchange(keyed, head, wire)
    assert answer.status == 200 and len(answer.json["registries"]) == 1


def test_unsigned_payload_is_what_was_signed(keyed):
    body = b"{}"
    head = signed_head(keyed, body, [("X-Amz-Content-SHA256", "UNSIGNED-PAYLOAD"), ("Content-Length", "2")],
                       ["host", "x-amz-content-sha256", "x-amz-date"], payload_hash="UNSIGNED-PAYLOAD")
    assert exchange(keyed, head, body).status == 200
    wrong = signed_head(keyed, body, [("X-Amz-Content-SHA256", "0" * 64), ("Content-Length", "2")],
                        ["host", "x-amz-content-sha256", "x-amz-date"], payload_hash="0" * 64)
    answer = exchange(keyed, wrong, body)
    assert (answer.status, answer.json["__type"]) == (400, "XAmzContentSHA256Mismatch")


@pytest.mark.parametrize("extra,wire,status,code", [
    ([("Content-Length", str(1 << 30)), ("Expect", "100-continue")], b"", 413, "InvalidParameterException"),
    ([("Transfer-Encoding", "chunked")], b"zz\r\n{}\r\n0\r\n\r\n", 400, "SerializationException"),
    ([("Transfer-Encoding", "gzip")], b"", 501, "SerializationException"),
    ([], b"", 411, "SerializationException"),
], ids=["expect-too-large", "bad-chunk", "unknown-coding", "no-length"])
def test_bodies_refused_before_they_are_read(keyed, extra, wire, status, code):
    """Refused with the final answer (never ``100 Continue``) and the connection closed."""
    head = signed_head(keyed, b"{}", extra, ["host", "x-amz-date"])
    answer = exchange(keyed, head, wire, wait_for_interim=("Expect", "100-continue") in extra)
    assert answer.interim is None and answer.status == status, answer.body
    assert answer.json["__type"] == code and answer.headers["x-amzn-errortype"] == code
    assert answer.headers["connection"] == "close"
