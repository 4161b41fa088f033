"""What stands before the operations: SigV4, quotas, fault injection, protocol-level errors."""
from __future__ import annotations

import json
import time
import urllib.request
from urllib.error import HTTPError

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

from pypush.server import LocalEndpoint
from endpoint_client import MiB, client, error_of, push_blob

pytestmark = pytest.mark.servers  # every test here starts the endpoint or a server process


def test_sigv4_verified_when_keys_are_configured(tmp_path):
    with LocalEndpoint(data_dir=tmp_path / "d", access_key="AKIDLOCAL", secret_key="s3cret") as ep:
        good = client(ep, access_key="AKIDLOCAL", secret_key="s3cret")
        good.create_repository(repositoryName="signed")
        data = b"z" * (11 * MiB)  # a large signed body too
        push_blob(good, "signed", data)
        wrong_secret = error_of(client(ep, access_key="AKIDLOCAL", secret_key="nope").describe_repositories)
        assert wrong_secret["Error"]["Code"] == "InvalidSignatureException"
        assert wrong_secret["ResponseMetadata"]["HTTPStatusCode"] == 400  # ECR answers auth errors with 400
        wrong_key = error_of(client(ep, access_key="OTHER", secret_key="s3cret").describe_repositories)
        assert wrong_key["Error"]["Code"] == "UnrecognizedClientException"
        assert wrong_key["ResponseMetadata"]["HTTPStatusCode"] == 400
        private = client(ep, "ecr", access_key="AKIDLOCAL", secret_key="s3cret", region_name="ap-south-1")
        assert private.describe_repositories()["repositories"][0]["repositoryName"] == "signed"


def test_any_signature_accepted_by_default_but_not_none(endpoint):
    client(endpoint, access_key="anything", secret_key="at-all").create_repository(repositoryName="open")
    unsigned = boto3.client("ecr-public", endpoint_url=endpoint.url, region_name="us-east-1",
                            config=Config(signature_version=UNSIGNED, retries={"total_max_attempts": 1}))
    err = error_of(unsigned.describe_repositories)
    assert err["Error"]["Code"] == "MissingAuthenticationTokenException"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_an_old_signature_is_expired_in_the_service_words():
    from datetime import datetime, timedelta, timezone
    from email.message import Message

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from pypush.server.aws.protocol import ApiError
    from pypush.server.aws.sigv4 import Verifier

    request = AWSRequest(method="POST", url="http://h/", data=b"{}", headers={"Host": "h"})
    SigV4Auth(Credentials("AK", "SK"), "ecr-public", "us-east-1").add_auth(request)
    headers = Message()
    for k, v in request.headers.items():
        headers[k] = v.decode() if isinstance(v, bytes) else v
    signed = datetime.strptime(headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    with pytest.raises(ApiError) as e:
        Verifier("AK", "SK").verify("POST", "/", headers, memoryview(b"{}"), now=signed + timedelta(minutes=20))
    fmt = "%Y%m%dT%H%M%SZ"
    now = signed + timedelta(minutes=20)
    assert (e.value.code, e.value.status) == ("InvalidSignatureException", 400)
    assert e.value.message == (f"Signature expired: {signed.strftime(fmt)} is now earlier than "
                               f"{(now - timedelta(minutes=15)).strftime(fmt)} ({now.strftime(fmt)} - 15 min.)")


def test_enforced_quotas_throttle_at_published_rates(tmp_path):
    with LocalEndpoint(data_dir=tmp_path / "d", enforce_quotas=True) as ep:
        c = client(ep)
        c.create_repository(repositoryName="quota")
        outcomes = []
        for _ in range(15):  # InitiateLayerUpload: 10 a second
            try:
                c.initiate_layer_upload(repositoryName="quota")
                outcomes.append("ok")
            except ClientError as e:
                outcomes.append(e.response["Error"]["Code"])
        assert "ThrottlingException" in outcomes and outcomes[:5] == ["ok"] * 5
        for _ in range(30):  # BatchCheckLayerAvailability: 200 a second
            c.batch_check_layer_availability(repositoryName="quota", layerDigests=["sha256:" + "0" * 64])
        # the bucket refills: within a deadline InitiateLayerUpload is accepted again
        deadline = time.monotonic() + 10
        while True:
            try:
                c.initiate_layer_upload(repositoryName="quota")
                break
            except ClientError as e:
                assert e.response["Error"]["Code"] == "ThrottlingException" and time.monotonic() < deadline
                time.sleep(0.05)  # polling interval


def _outcomes(ep, n: int):
    c = client(ep)
    out = []
    for _ in range(n):
        try:
            c.describe_registries()
            out.append("ok")
        except ClientError as e:
            out.append(e.response["Error"]["Code"])
        except (ConnectionClosedError, EndpointConnectionError):
            out.append("dropped")
    return out


def test_faults_are_deterministic_by_seed(tmp_path):
    spec = "seed=7,error=0.2,throttle=0.2,drop=0.1"
    runs = []
    for i in range(2):
        with LocalEndpoint(data_dir=tmp_path / f"d{i}", faults=spec) as ep:
            runs.append(_outcomes(ep, 40))
    assert runs[0] == runs[1]
    assert {"ok", "ServerException", "ThrottlingException", "dropped"} <= set(runs[0])
    with LocalEndpoint(data_dir=tmp_path / "e", faults="seed=1,error=1") as ep:
        err = error_of(client(ep).describe_registries)
        assert (err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]) == ("ServerException", 500)


def _post(ep, target: str, body: bytes):
    req = urllib.request.Request(ep.url + "/", data=body, method="POST", headers={
        "X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1",
        "Authorization": "AWS4-HMAC-SHA256 Credential=x/20240101/us-east-1/ecr-public/aws4_request, "
                         "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.mark.parametrize("target,body,status,code", [
    ("SpencerFrontendService.NoSuchThing", b"{}", 400, "UnknownOperationException"),
    ("Bogus.DescribeRegistries", b"{}", 400, "UnknownOperationException"),
    ("SpencerFrontendService.DescribeRegistries", b"{not json", 400, "SerializationException"),
    ("SpencerFrontendService.DescribeRegistries", b"[]", 400, "SerializationException"),
    ("SpencerFrontendService.CreateRepository", b'{"repositoryName": 5}', 400, "InvalidParameterException"),
])
def test_protocol_errors(endpoint, target, body, status, code):
    got_status, got = _post(endpoint, target, body)
    assert (got_status, got["__type"]) == (status, code)
    assert got["message"]


def test_drop_after_runs_the_operation_then_loses_the_answer(tmp_path):
    with LocalEndpoint(data_dir=tmp_path / "d", faults="seed=1,drop_after=1") as ep:
        c = client(ep)
        with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
            c.create_repository(repositoryName="made")
    with LocalEndpoint(data_dir=tmp_path / "d") as ep:
        assert client(ep).describe_repositories()["repositories"][0]["repositoryName"] == "made"
