"""Base64 on both paths (pybase64 and the standard library): the same text out, the same strictness in,
and the endpoint refusing malformed UploadLayerPart blobs through a stock boto3 client."""
from __future__ import annotations

import base64
import os

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import server_fixture
from pypush import b64

MALFORMED = [b"QU=DQUJD", b"QUJD\n", b"QUJ", b"QU-_", b"Q===", b"QUJD====", b"=QUJ", b"QUJD QUJD", b"QUI=QUJD",
             b"QQ==QUJD", b"QUJ\x00"]


@pytest.fixture(params=["pybase64", "stdlib"])
def path(request):
    fast = request.param == "pybase64"
    if fast and b64._pybase64 is None:
        pytest.fail("pybase64 is a runtime dependency: install the package with its dependencies")
    b64.use_fast(fast)
    yield request.param
    b64.use_fast(True)


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 5, 767, 768, 3 << 18, (3 << 18) + 1])
def test_round_trip_matches_the_standard_library(path, size):
    data = os.urandom(size)
    text = b64.encode(data)
    assert text == base64.b64encode(data) and b"\n" not in text
    assert b64.decode(text) == data
    assert b64.decode(memoryview(bytearray(text))) == data
    assert b64.fast_path() == (None if path == "stdlib" else "pybase64")


@pytest.mark.parametrize("text", MALFORMED)
def test_anything_but_canonical_base64_is_refused(path, text):
    with pytest.raises(b64.Base64Error):
        b64.decode(text)


@server_fixture
def endpoint_client(tmp_path):
    from pypush.server import LocalEndpoint

    with LocalEndpoint(data_dir=tmp_path / "d") as ep:
        yield boto3.client("ecr-public", endpoint_url=ep.url, region_name="us-east-1", aws_access_key_id="x",
                           aws_secret_access_key="y")


def _with_blob_text(client, text: bytes):
    """Send the part's base64 as ``text`` (botocore would encode it correctly): the body is rewritten."""
    def rewrite(request, **_):
        request.body = request.body.replace(b'"QUJDQUJD"', b'"' + text + b'"')
    client.meta.events.register("before-send.ecr-public.UploadLayerPart", rewrite)


@pytest.mark.parametrize("text", [b"QU=DQUJD", b"QUJDQU-_", b"QUJD QUJ"], ids=["inner-padding", "url-safe", "space"])
def test_endpoint_answers_malformed_part_blobs_with_an_error(path, endpoint_client, text):
    c = endpoint_client
    c.create_repository(repositoryName="strict")
    upload = c.initiate_layer_upload(repositoryName="strict")["uploadId"]
    _with_blob_text(c, text)
    with pytest.raises(ClientError) as info:
        c.upload_layer_part(repositoryName="strict", uploadId=upload, partFirstByte=0, partLastByte=5,
                            layerPartBlob=b"ABCABC")
    assert info.value.response["Error"]["Code"] == "InvalidParameterException"
    assert "not valid base64" in info.value.response["Error"]["Message"]


def test_endpoint_keeps_nothing_of_a_refused_part(path, endpoint_client):
    c = endpoint_client
    c.create_repository(repositoryName="strict")
    upload = c.initiate_layer_upload(repositoryName="strict")["uploadId"]
    _with_blob_text(c, b"QU=DQUJD")
    with pytest.raises(ClientError):
        c.upload_layer_part(repositoryName="strict", uploadId=upload, partFirstByte=0, partLastByte=5,
                            layerPartBlob=b"ABCABC")
    good = boto3.client("ecr-public", endpoint_url=c.meta.endpoint_url, region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="y")
    done = good.upload_layer_part(repositoryName="strict", uploadId=upload, partFirstByte=0, partLastByte=5,
                                  layerPartBlob=b"ABCABC")
    assert done["lastByteReceived"] == 5
