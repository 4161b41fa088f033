"""Every malformed AWS JSON body is a 4xx: deep nesting, lone surrogates, and a few thousand random and
mutated bodies over a real socket, each answered (no 5xx, no reset)."""
from __future__ import annotations

import base64
import http.client
import json
import random
from typing import Dict, List, Set, Tuple

import pytest

from endpoint_client import OCI_MANIFEST, client, manifest, password_of

pytestmark = pytest.mark.servers

PUBLIC = "SpencerFrontendService."
PRIVATE = "AmazonEC2ContainerRegistry_V20150921."
NESTED = {"SerializationException", "InvalidParameterException"}
"""Too deep for the JSON parser (CPython's), or parsed and then not the member's type (PyPy's parser goes deeper)."""


def _post(conn: http.client.HTTPConnection, target: str, body: bytes) -> Tuple[int, dict]:
    """POST one AWS JSON request (unsigned: the endpoint checks signatures only when given keys)."""
    service = "ecr" if target.startswith(PRIVATE) else "ecr-public"
    auth = (f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/{service}/aws4_request, "
            f"SignedHeaders=host, Signature={'0' * 64}")
    conn.request("POST", "/", body=body, headers={"X-Amz-Target": target, "Authorization": auth,
                                                  "Content-Type": "application/x-amz-json-1.1"})
    r = conn.getresponse()
    payload = r.read()
    return r.status, json.loads(payload) if payload else {}


def post_fuzzed(conn: http.client.HTTPConnection, target: str, raw: bytes, statuses: Dict[int, int],
                codes: Set[str]) -> None:
    """POST a fuzzed body: the connection must stay up and the answer be below 500, an error one naming its
    type and message; the status is counted in ``statuses``, the error type added to ``codes``."""
    try:
        status, doc = _post(conn, target, raw)
    except (ConnectionError, http.client.HTTPException) as e:
        pytest.fail(f"{target} {raw[:200]!r}: {e!r}")
    assert status < 500, (target, raw[:300], doc)
    statuses[status] = statuses.get(status, 0) + 1
    if status >= 400:
        assert doc["__type"] and doc["message"], doc
        codes.add(doc["__type"])


def test_a_deeply_nested_body_is_a_400(endpoint):
    conn = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=60)
    for depth in (5000, 100_000):
        deep = b'{"repositoryName": ' + b"[" * depth + b"]" * depth + b"}"
        status, doc = _post(conn, PUBLIC + "CreateRepository", deep)
        assert status == 400 and doc["__type"] in NESTED, doc
    # a large UploadLayerPart body (its blob located in place) nested deeply beside the blob
    big = (b'{"repositoryName": "r", "uploadId": "u", "partFirstByte": 0, "partLastByte": 0, "x": '
           + b"[" * 50_000 + b"]" * 50_000 + b', "layerPartBlob": "' + b"QUJD" * 40_000 + b'"}')
    status, doc = _post(conn, PUBLIC + "UploadLayerPart", big)
    assert status == 400 and doc["__type"] in NESTED, doc
    status, _ = _post(conn, PUBLIC + "DescribeRepositories", b"{}")  # the connection still serves
    assert status == 200


def test_a_body_that_is_not_utf8_is_a_serialization_error(endpoint):
    """AWS JSON is UTF-8: a UTF-16 or UTF-32 body (which json.loads alone would read, and PyPy's parser
    failed on with a SystemError that ended the connection) or stray bytes are refused."""
    conn = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=60)
    for raw in ['{"repositoryName": "u16"}'.encode("utf-16"), '{"repositoryName": "u32"}'.encode("utf-32-le"),
                b"\xff\xfe[]", b"\xfe\xff\x00[\x00]", b'{"repositoryName": "\xed\xa0\x80x"}', b"\x00\x00\x00{"]:
        status, doc = _post(conn, PUBLIC + "CreateRepository", raw)
        assert (status, doc["__type"]) == (400, "SerializationException"), (raw, doc)
    assert client(endpoint).describe_repositories()["repositories"] == []


def test_json_nested_deeply_inside_a_member_is_a_400(endpoint):
    """Members that hold JSON of their own (a manifest, a policy, a page token) and the registry door's
    manifest PUT: too deep for the parser is a malformed document, not a 500."""
    client(endpoint).create_repository(repositoryName="deep")
    deep = '{"schemaVersion": 2, "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    conn = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=60)
    token = base64.urlsafe_b64encode(("[" * 100_000 + "]" * 100_000).encode()).decode()
    for target, body in [
        (PUBLIC + "PutImage", {"repositoryName": "deep", "imageManifest": deep, "imageTag": "t",
                               "imageManifestMediaType": OCI_MANIFEST}),
        (PRIVATE + "PutImage", {"repositoryName": "deep", "imageManifest": deep,
                                "imageManifestMediaType": OCI_MANIFEST}),
        (PUBLIC + "SetRepositoryPolicy", {"repositoryName": "deep", "policyText": deep}),
        (PUBLIC + "DescribeRepositories", {"nextToken": token}),
    ]:
        status, doc = _post(conn, target, json.dumps(body).encode())
        assert (status, doc["__type"]) == (400, "InvalidParameterException"), (target, doc)
    auth = "Basic " + base64.b64encode(f"AWS:{password_of(endpoint)}".encode()).decode()
    conn.request("PUT", "/v2/deep/manifests/t", body=deep.encode(),
                 headers={"Authorization": auth, "Content-Type": OCI_MANIFEST})
    r = conn.getresponse()
    assert r.status == 400 and json.loads(r.read())["errors"][0]["code"] == "MANIFEST_INVALID"


def test_a_lone_surrogate_is_an_invalid_parameter(endpoint):
    ecr = client(endpoint)
    ecr.create_repository(repositoryName="sg")
    conn = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=60)
    good = manifest(b"{}", [])
    bad = good.replace('"schemaVersion"', '"\ud800schemaVersion"')  # a surrogate in the member's text
    for target, body in [
        (PUBLIC + "PutImage", {"repositoryName": "sg", "imageManifest": bad, "imageTag": "t"}),
        (PRIVATE + "PutImage", {"repositoryName": "sg", "imageManifest": bad}),
        (PUBLIC + "PutImage", {"repositoryName": "sg", "imageManifest": good, "imageTag": "t\udfff"}),
        (PUBLIC + "PutRepositoryCatalogData", {"repositoryName": "sg", "catalogData": {"aboutText": "\ud83d"}}),
        (PUBLIC + "TagResource", {"resourceArn": "arn:aws:ecr-public::123456789012:repository/sg",
                                  "tags": [{"Key": "k\udc00", "Value": "v"}]}),
    ]:
        raw = json.dumps(body).encode()  # ensure_ascii: the surrogate travels as a \\u escape
        assert b"\\ud" in raw
        status, doc = _post(conn, target, raw)
        assert (status, doc["__type"]) == (400, "InvalidParameterException"), (target, doc)
        assert "Unicode" in doc["message"]
    # a surrogate escaped inside the manifest's own JSON: the manifest is refused, not a 500
    inner = good.replace('"schemaVersion"', '"\\ud800schemaVersion"')
    status, doc = _post(conn, PUBLIC + "PutImage", json.dumps({"repositoryName": "sg", "imageManifest": inner}).encode())
    assert (status, doc["__type"]) == (400, "InvalidParameterException"), doc
    assert ecr.describe_images(repositoryName="sg")["imageDetails"] == []  # nothing half-written


def _valid_bodies() -> List[Tuple[str, dict]]:
    m = manifest(b"{}", [])
    return [
        ("CreateRepository", {"repositoryName": "fz", "catalogData": {"description": "d", "architectures": ["ARM"]}}),
        ("PutImage", {"repositoryName": "fz", "imageManifest": m, "imageTag": "v1"}),
        ("BatchCheckLayerAvailability", {"repositoryName": "fz", "layerDigests": ["sha256:" + "0" * 64]}),
        ("InitiateLayerUpload", {"repositoryName": "fz"}),
        ("UploadLayerPart", {"repositoryName": "fz", "uploadId": "x", "partFirstByte": 0, "partLastByte": 2,
                             "layerPartBlob": "QUJD"}),
        ("DescribeImages", {"repositoryName": "fz", "imageIds": [{"imageTag": "v1"}], "maxResults": 5}),
        ("DescribeRepositories", {"repositoryNames": ["fz"], "nextToken": "abc"}),
        ("TagResource", {"resourceArn": "arn:aws:ecr-public::123456789012:repository/fz",
                         "tags": [{"Key": "k", "Value": "v"}]}),
        ("BatchDeleteImage", {"repositoryName": "fz", "imageIds": [{"imageDigest": "sha256:" + "1" * 64}]}),
    ]


def _mutate(rng: random.Random, value: object, depth: int = 0) -> object:
    """``value`` with one random change somewhere inside: a wrong type, a surrogate, a deep nest, a huge number."""
    if isinstance(value, dict) and value and rng.random() < 0.7:
        key = rng.choice(list(value))
        return {**value, key: _mutate(rng, value[key], depth + 1)}
    if isinstance(value, list) and value and rng.random() < 0.7:
        i = rng.randrange(len(value))
        return value[:i] + [_mutate(rng, value[i], depth + 1)] + value[i + 1:]
    return rng.choice([
        None, True, -1, 2 ** 70, 1.5e308, "", "\ud800", "a\udfffb", "x" * rng.randrange(1, 3000), [], {},
        [[[[[]]]]], {"a": {"b": {"c": None}}}, "sha256:" + "z" * 64, "\u0000", "é😀", [value, value],
    ])


def _garble(rng: random.Random, raw: bytes) -> bytes:
    """Byte-level damage: truncation, a flipped byte, an inserted bracket run, a bad escape."""
    kind = rng.randrange(5)
    if kind == 0:
        return raw[: rng.randrange(len(raw) + 1)]
    if kind == 1:
        i = rng.randrange(len(raw))
        return raw[:i] + bytes([rng.randrange(256)]) + raw[i + 1:]
    if kind == 2:
        i = rng.randrange(len(raw))
        n = rng.choice([10, 3000, 20000])
        return raw[:i] + b"[" * n + raw[i:]
    if kind == 3:
        i = rng.randrange(len(raw))
        return raw[:i] + rng.choice([b"\\ud800", b"\\u12", b"\\x", b"\xff\xfe", b'"', b"\x00"]) + raw[i:]
    return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))


def test_fuzzed_bodies_are_answered_with_4xx(endpoint):
    client(endpoint).create_repository(repositoryName="fz")
    rng = random.Random(20)
    bodies = _valid_bodies()
    conn = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=60)
    statuses = {}
    codes = set()
    for i in range(3000):
        op, valid = rng.choice(bodies)
        prefix = rng.choice([PUBLIC, PUBLIC, PRIVATE])
        raw = json.dumps(_mutate(rng, valid)).encode()
        if i % 2:
            raw = _garble(rng, raw)
        post_fuzzed(conn, prefix + op, raw, statuses, codes)
    # the mutations reach the operations, not only the parser
    assert 200 in statuses and {"SerializationException", "InvalidParameterException"} < codes, (statuses, codes)
