"""Abandoned uploads (ECR API uploads and /v2/ sessions) expire after the upload lifetime, on a clock the
test moves; the endpoint logs how many it discarded."""
from __future__ import annotations

import logging
import subprocess
import sys
import threading

import pytest

from endpoint_client import V2, code_of, client, password_of

pytestmark = pytest.mark.servers


class Clock:
    """A clock the test moves; the endpoint reads it for the age of uploads."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _part(ecr, upload_id: str, data: bytes = b"abc"):
    return ecr.upload_layer_part(repositoryName="up", uploadId=upload_id, partFirstByte=0,
                                 partLastByte=len(data) - 1, layerPartBlob=data)


def test_uploads_idle_beyond_the_lifetime_are_discarded_and_counted(tmp_path, caplog):
    from pypush.server import LocalEndpoint

    caplog.set_level(logging.INFO, logger="pypush.server")
    clock = Clock()
    data = tmp_path / "data"
    with LocalEndpoint(data_dir=data, upload_lifetime=3600, clock=clock) as ep:
        ecr = client(ep)
        ecr.create_repository(repositoryName="up")
        v2 = V2(ep, password_of(ep))
        old_api = ecr.initiate_layer_upload(repositoryName="up")["uploadId"]
        old_session = v2("POST", "/v2/up/blobs/uploads/").headers["Location"]
        busy_api = ecr.initiate_layer_upload(repositoryName="up")["uploadId"]
        clock.now += 3000
        _part(ecr, busy_api)  # a part keeps an upload alive
        kept_session = v2("POST", "/v2/up/blobs/uploads/").headers["Location"]
        assert len(list((data / "uploads").iterdir())) == 4
        clock.now += 700  # the first two have had no part for 3700 s, the others for 700 s
        assert not [r for r in caplog.records if "expired" in r.getMessage()]
        fresh = ecr.initiate_layer_upload(repositoryName="up")["uploadId"]  # starting an upload sweeps
        assert [r.getMessage() for r in caplog.records if "expired" in r.getMessage()] == \
            ["expired 2 abandoned uploads (no part for 3600 s)"]
        assert code_of(_part, ecr=ecr, upload_id=old_api) == "UploadNotFoundException"
        r = v2("GET", old_session)
        assert r.status_code == 404 and r.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"
        assert v2("GET", kept_session).status_code == 204
        _part(ecr, fresh)
        assert len(list((data / "uploads").iterdir())) == 3  # the expired uploads' files are gone


def test_an_expired_upload_is_unknown_even_before_a_sweep(tmp_path):
    from pypush.server import LocalEndpoint

    clock = Clock()
    with LocalEndpoint(data_dir=tmp_path / "data", upload_lifetime=60, clock=clock) as ep:
        ecr = client(ep)
        ecr.create_repository(repositoryName="up")
        upload_id = ecr.initiate_layer_upload(repositoryName="up")["uploadId"]
        clock.now += 59
        _part(ecr, upload_id)
        clock.now += 61
        assert code_of(_part, ecr=ecr, upload_id=upload_id) == "UploadNotFoundException"


def test_an_idle_endpoint_discards_abandoned_uploads_on_its_own(tmp_path):
    from pypush.server import LocalEndpoint

    clock = Clock()
    swept = threading.Event()

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "expired 1 abandoned upload " in record.getMessage():
                swept.set()

    logger = logging.getLogger("pypush.server")
    handler, level = Watch(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with LocalEndpoint(data_dir=tmp_path / "data", upload_lifetime=0.2, clock=clock) as ep:
            ecr = client(ep)
            ecr.create_repository(repositoryName="up")
            ecr.initiate_layer_upload(repositoryName="up")
            clock.now += 1
            assert swept.wait(30)  # the endpoint's own sweep, no request needed
            assert list((tmp_path / "data" / "uploads").iterdir()) == []
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.mark.parametrize("value", ["0", "-5", "nan"])
def test_serve_refuses_a_lifetime_that_is_not_positive(tmp_path, value):
    r = subprocess.run([sys.executable, "-m", "pypush.server", "--data", str(tmp_path), "--upload-lifetime", value],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "upload lifetime must be above 0 seconds" in r.stderr
    assert r.stdout == ""
