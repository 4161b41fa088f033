"""The state of half-sent uploads (pypush.transports.resume_state): what is written, what is trusted, what is
discarded — and how the transports use a state a previous run left (the destination is asked, and an upload
it no longer has, or whose bytes are not the blob's, starts over)."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Optional

import pytest
import requests

import pypush
from conftest import run_pypush, server_fixture
from endpoint_client import client, password_of
from imagegen import make_oci_layout, random_bytes
from pypush.engine.options import PushOptions
from pypush.engine.route import open_transport
from pypush.errors import AuthError, DigestMismatchError, RegistryError, SourceError, TransientError
from pypush.name.reference import parse_reference
from pypush.server import LocalEndpoint
from pypush.transports.resume_state import (MAX_AGE, ResumeStore, TrackedUpload, UploadKey, UploadState,
                                            keeps_upload, storable_url)

DIGEST = "sha256:" + "ab" * 32
KEY = UploadKey("v2", "registry.example:5000/team/app", DIGEST)
PART = 256 << 10


class Clock:
    """An injectable clock, starting now (the prune compares files' real modification times with it)."""

    def __init__(self, now: Optional[float] = None):
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now


def test_a_state_round_trips_atomically_and_names_its_key(tmp_path):
    store = ResumeStore(tmp_path / "s", Clock())
    store.save(KEY, UploadState("https://registry.example:5000/v2/team/app/blobs/uploads/u?_state=x", 3, 7, 5.0))
    assert os.listdir(tmp_path / "s") == [KEY.filename()]  # no temporary file left
    doc = json.loads(store.path(KEY).read_text())
    assert doc["key"] == {"transport": "v2", "destination": "registry.example:5000/team/app", "digest": DIGEST}
    store.clock.now = 5.0 + 60
    assert store.load(KEY) == UploadState("https://registry.example:5000/v2/team/app/blobs/uploads/u?_state=x", 3, 7,
                                          5.0)
    store.drop(KEY)
    assert store.load(KEY) is None and os.listdir(tmp_path / "s") == []


def test_a_stale_state_is_discarded(tmp_path):
    clock = Clock()
    store = ResumeStore(tmp_path, clock)
    tracked = TrackedUpload(store, KEY)
    tracked.save("upload-1", 0, PART)
    tracked.save("upload-1", PART, PART)  # keeps the start time: the lifetime counts from the session's start
    clock.now += MAX_AGE - 1
    assert store.load(KEY) == UploadState("upload-1", PART, PART, clock.now - MAX_AGE + 1)
    clock.now += 2
    assert store.load(KEY) is None
    assert not store.path(KEY).exists()


def test_a_state_from_the_future_is_discarded(tmp_path):
    store = ResumeStore(tmp_path, Clock())
    store.save(KEY, UploadState("u", 1, 1, store.clock() + 3600))
    assert store.load(KEY) is None and not store.path(KEY).exists()


@pytest.mark.parametrize("content", [b"\x00\xff not json", b"[]", b'{"format": 1}', b"",
                                     b'{"format": 1, "key": KEY, "session": "", "offset": 1, "part_size": 1, '
                                     b'"created": 1}',
                                     b'{"format": 1, "key": KEY, "session": "u", "offset": -1, "part_size": 1, '
                                     b'"created": 1}',
                                     b'{"format": 1, "key": KEY, "session": "u", "offset": true, "part_size": 1, '
                                     b'"created": 1}',
                                     b'{"format": 2, "key": KEY, "session": "u", "offset": 1, "part_size": 1, '
                                     b'"created": 1}'])
def test_an_unreadable_or_malformed_state_is_discarded(tmp_path, content):
    store = ResumeStore(tmp_path, Clock(2.0))
    store.path(KEY).write_bytes(content.replace(b"KEY", json.dumps(KEY.as_json()).encode()))
    assert store.load(KEY) is None
    assert not store.path(KEY).exists()


def test_a_state_of_another_destination_or_digest_is_not_used(tmp_path):
    store = ResumeStore(tmp_path, Clock(2.0))
    for other in (UploadKey("v2", "registry.example:5000/team/other", DIGEST),
                  UploadKey("v2", "elsewhere:5000/team/app", DIGEST),
                  UploadKey("ecr", "registry.example:5000/team/app", DIGEST),
                  UploadKey("v2", "registry.example:5000/team/app", "sha256:" + "cd" * 32)):
        assert other.filename() != KEY.filename()
        store.save(other, UploadState("u", 1, 1, 1.0))
        os.replace(store.path(other), store.path(KEY))  # the file of KEY says it belongs to ``other``
        assert store.load(KEY) is None
        assert not store.path(KEY).exists()


def test_states_untouched_for_longer_than_the_lifetime_are_pruned(tmp_path):
    clock = Clock()
    store = ResumeStore(tmp_path, clock)
    other = UploadKey("ecr", "h/ecr-public/public.ecr.aws/a/b", DIGEST)
    store.save(other, UploadState("u", 1, 1, clock.now))
    os.utime(store.path(other), (clock.now - MAX_AGE - 10,) * 2)
    store.save(KEY, UploadState("u", 1, 1, clock.now))
    assert store.load(KEY) is not None
    assert os.listdir(tmp_path) == [KEY.filename()]


def test_nothing_is_remembered_under_pypush_no_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("PYPUSH_CACHE_DIR", str(tmp_path))
    assert ResumeStore.default().directory == tmp_path / "uploads-v1"
    monkeypatch.setenv("PYPUSH_NO_CACHE", "1")
    assert ResumeStore.default() is None
    TrackedUpload(None, KEY).save("u", 1, 1)  # no store: nothing written, nothing raised
    assert os.listdir(tmp_path) == []


def test_an_unwritable_store_costs_only_the_resumption(tmp_path):
    (tmp_path / "file").write_text("")
    store = ResumeStore(tmp_path / "file" / "sub", Clock())
    store.save(KEY, UploadState("u", 1, 1, 1.0))
    assert store.load(KEY) is None


def test_session_urls_are_written_without_credentials(tmp_path):
    store = ResumeStore(tmp_path, Clock())
    assert TrackedUpload(store, KEY).save("https://user:secret@r.example/v2/a/blobs/uploads/u?_state=abc", 1, 1)
    assert "secret" not in store.path(KEY).read_text() and store.load(KEY).session.startswith("https://r.example/")
    assert not TrackedUpload(store, KEY).save("https://s3.example/up?X-Amz-Signature=f00", 0, 1)
    assert store.load(KEY) is None  # the signed URL was not written, and the earlier session's state is gone
    assert storable_url("https://user:secret@r.example/v2/a/blobs/uploads/u?_state=abc") == \
        "https://r.example/v2/a/blobs/uploads/u?_state=abc"
    assert storable_url("https://s3.example/up?X-Amz-Signature=f00&X-Amz-Credential=k") is None
    assert storable_url("https://r.example/up?token=t") is None


def test_which_failures_keep_an_upload():
    assert keeps_upload(KeyboardInterrupt()) and keeps_upload(RuntimeError("cancelled"))
    assert keeps_upload(TransientError("network")) and keeps_upload(AuthError("expired"))
    assert not keeps_upload(DigestMismatchError("bad bytes"))
    assert not keeps_upload(SourceError("gone")) and not keeps_upload(RegistryError("refused"))


# -- the transports use a state a previous run left ---------------------------------------------------------

@server_fixture
def ep(tmp_path):
    with LocalEndpoint(data_dir=tmp_path / "ecr-data", part_size=PART) as endpoint:
        client(endpoint).create_repository(repositoryName="app")
        yield endpoint


@pytest.fixture
def image(tmp_path):
    layer = random_bytes(5 * PART + 123, 31)
    layout = tmp_path / "img.oci"
    make_oci_layout(layout, [layer])
    return layout, layer, "sha256:" + __import__("hashlib").sha256(layer).hexdigest()


def _ecr(ep):
    return dict(endpoint_url=ep.url, compression="keep")


def _ecr_key(ep, digest: str) -> UploadKey:
    transport = open_transport(parse_reference("public.ecr.aws/local/app"), PushOptions(endpoint_url=ep.url))
    try:
        return transport.upload_key(digest)
    finally:
        transport.close()


def _held_by_service(ep, data: bytes) -> str:
    """An upload of ``data`` (whole parts) left unfinished in the service; its uploadId."""
    c = client(ep)
    upload_id = c.initiate_layer_upload(repositoryName="app")["uploadId"]
    for first in range(0, len(data), PART):
        part = data[first:first + PART]
        c.upload_layer_part(repositoryName="app", uploadId=upload_id, partFirstByte=first,
                            partLastByte=first + len(part) - 1, layerPartBlob=part)
    return upload_id


@pytest.mark.servers
@pytest.mark.parametrize("held", [2 * PART, 5 * PART + 123], ids=["two parts", "every part"])
def test_an_ecr_push_continues_the_upload_a_state_names(ep, image, held):
    layout, layer, digest = image
    store, key = ResumeStore.default(), _ecr_key(ep, digest)
    TrackedUpload(store, key).save(_held_by_service(ep, layer[:held]), held, PART)
    result = pypush.push(f"oci:{layout}:1", "public.ecr.aws/local/app:1", **_ecr(ep))
    assert result.bytes_resumed == held
    assert 0 < result.bytes_pushed - (len(layer) - held) < 1000  # the rest of the layer and the config
    assert store.load(key) is None
    avail = client(ep).batch_check_layer_availability(repositoryName="app", layerDigests=[digest])["layers"]
    assert [(a["layerDigest"], a["layerSize"]) for a in avail] == [(digest, len(layer))]


@pytest.mark.servers
def test_the_cli_says_what_it_resumed(ep, image):
    layout, layer, digest = image
    TrackedUpload(ResumeStore.default(), _ecr_key(ep, digest)).save(_held_by_service(ep, layer[:2 * PART]),
                                                                   2 * PART, PART)
    proc = run_pypush("push", f"oci:{layout}:1", "public.ecr.aws/local/app:1", "--endpoint-url", ep.url,
                      "--compression", "keep")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("public.ecr.aws/local/app@sha256:")  # stdout stays the reference
    assert f"resumed half-sent layers: {2 * PART / 1e6:.1f} MB an earlier run had sent" in proc.stderr


@pytest.mark.servers
def test_an_ecr_upload_that_ran_one_part_ahead_of_its_state_is_not_sent_twice(ep, image):
    layout, layer, digest = image  # killed after the service stored part 3, before the state said so
    TrackedUpload(ResumeStore.default(), _ecr_key(ep, digest)).save(_held_by_service(ep, layer[:3 * PART]),
                                                                   2 * PART, PART)
    result = pypush.push(f"oci:{layout}:1", "public.ecr.aws/local/app:1", **_ecr(ep))
    assert result.bytes_resumed == 2 * PART and result.digest


@pytest.mark.servers
def test_an_ecr_upload_holding_less_than_its_state_says_continues_from_what_the_service_holds(ep, image):
    layout, layer, digest = image
    TrackedUpload(ResumeStore.default(), _ecr_key(ep, digest)).save(_held_by_service(ep, layer[:PART]),
                                                                   3 * PART, PART)
    result = pypush.push(f"oci:{layout}:1", "public.ecr.aws/local/app:1", **_ecr(ep))
    assert result.bytes_resumed == PART  # lastValidByteReceived said so
    assert 0 < result.bytes_pushed - (len(layer) - PART) < 1000
    avail = client(ep).batch_check_layer_availability(repositoryName="app", layerDigests=[digest])["layers"]
    assert [(a["layerDigest"], a["layerSize"]) for a in avail] == [(digest, len(layer))]


@pytest.mark.servers
def test_an_ecr_upload_the_service_no_longer_has_starts_over(ep, image):
    layout, layer, digest = image
    store, key = ResumeStore.default(), _ecr_key(ep, digest)
    TrackedUpload(store, key).save("0b5e9d38-8a36-4f2b-9d0c-5b0e8f3c2a11", 2 * PART, PART)  # UploadNotFound
    result = pypush.push(f"oci:{layout}:1", "public.ecr.aws/local/app:1", **_ecr(ep))
    assert result.bytes_resumed == 0 and result.bytes_pushed >= len(layer)
    assert store.load(key) is None


@pytest.mark.servers
def test_an_ecr_upload_holding_other_bytes_starts_over(ep, image):
    layout, layer, digest = image
    store, key = ResumeStore.default(), _ecr_key(ep, digest)
    wrong = bytes(2 * PART)  # what the service holds is not the blob's start: its digest check says so
    TrackedUpload(store, key).save(_held_by_service(ep, wrong), 2 * PART, PART)
    result = pypush.push(f"oci:{layout}:1", "public.ecr.aws/local/app:1", **_ecr(ep))
    assert result.bytes_resumed == 0 and result.bytes_pushed >= len(layer)
    avail = client(ep).batch_check_layer_availability(repositoryName="app", layerDigests=[digest])["layers"]
    assert [a["layerDigest"] for a in avail] == [digest]
    assert store.load(key) is None


@pytest.mark.servers
def test_a_copy_from_a_registry_continues_the_upload_a_state_names(ep, image, docker_registry):
    layout, layer, digest = image
    pypush.push(f"oci:{layout}:1", f"{docker_registry.host}/src:1", compression="keep")
    store, key = ResumeStore.default(), _ecr_key(ep, digest)
    TrackedUpload(store, key).save(_held_by_service(ep, layer[:2 * PART]), 2 * PART, PART)
    result = pypush.copy(f"docker://{docker_registry.host}/src:1", "public.ecr.aws/local/app:1", endpoint_url=ep.url)
    assert result.bytes_resumed == 2 * PART
    assert store.load(key) is None
    avail = client(ep).batch_check_layer_availability(repositoryName="app", layerDigests=[digest])["layers"]
    assert [(a["layerDigest"], a["layerSize"]) for a in avail] == [(digest, len(layer))]


def _v2(ep) -> dict:
    return dict(transport="v2", insecure=True, username="AWS", password=password_of(ep), compression="keep")


def _v2_session(ep, data: bytes) -> str:
    """A v2 upload session of the endpoint's door holding ``data``; its URL."""
    auth = ("AWS", password_of(ep))
    resp = requests.post(f"{ep.url}/v2/app/blobs/uploads/", auth=auth, timeout=30)
    url = requests.compat.urljoin(resp.url, resp.headers["Location"])
    if data:
        headers = {"Content-Range": f"0-{len(data) - 1}", "Content-Type": "application/octet-stream"}
        resp = requests.patch(url, data=data, auth=auth, timeout=30, headers=headers)
        assert resp.status_code in (201, 202)
        url = requests.compat.urljoin(resp.url, resp.headers["Location"])
    return url


def _v2_key(ep, digest: str) -> UploadKey:
    transport = open_transport(parse_reference(f"{ep.host_port}/app"), PushOptions(**{
        k: v for k, v in _v2(ep).items() if k != "compression"}))
    try:
        return transport.upload_key(digest)
    finally:
        transport.close()


@pytest.mark.servers
@pytest.mark.parametrize("held", [2 * PART, 5 * PART + 123], ids=["two chunks' worth", "every byte"])
def test_a_v2_push_continues_from_the_sessions_range(ep, image, held):
    layout, layer, digest = image
    store, key = ResumeStore.default(), _v2_key(ep, digest)
    TrackedUpload(store, key).save(_v2_session(ep, layer[:held]), 0, PART)  # the session says how much it holds
    result = pypush.push(f"oci:{layout}:1", f"{ep.host_port}/app:1", **_v2(ep))
    assert result.bytes_resumed == held
    assert store.load(key) is None
    got = requests.get(f"{ep.url}/v2/app/blobs/{digest}", auth=("AWS", password_of(ep)), timeout=30).content
    assert got == layer


@pytest.mark.servers
def test_a_v2_session_holding_other_bytes_starts_over(ep, image):
    layout, layer, digest = image
    store, key = ResumeStore.default(), _v2_key(ep, digest)
    TrackedUpload(store, key).save(_v2_session(ep, bytes(2 * PART)), 2 * PART, PART)
    result = pypush.push(f"oci:{layout}:1", f"{ep.host_port}/app:1", **_v2(ep))
    assert result.bytes_resumed == 0 and result.bytes_pushed >= len(layer)
    assert store.load(key) is None
    got = requests.get(f"{ep.url}/v2/app/blobs/{digest}", auth=("AWS", password_of(ep)), timeout=30).content
    assert got == layer


@pytest.mark.servers
def test_a_v2_session_whose_chunks_the_registry_refuses_starts_over(ep, image):
    """A state whose chunks are below the registry's OCI-Chunk-Min-Length: the refusal starts the blob over."""
    layout, layer, digest = image
    store, key = ResumeStore.default(), _v2_key(ep, digest)
    TrackedUpload(store, key).save(_v2_session(ep, layer[:2 * PART]), 2 * PART, PART // 2)
    result = pypush.push(f"oci:{layout}:1", f"{ep.host_port}/app:1", **_v2(ep))
    assert result.bytes_resumed == 0 and result.bytes_pushed >= len(layer)
    assert store.load(key) is None
    got = requests.get(f"{ep.url}/v2/app/blobs/{digest}", auth=("AWS", password_of(ep)), timeout=30).content
    assert got == layer


@pytest.mark.servers
@pytest.mark.parametrize("gone", ["deleted", "other repository"])
def test_a_v2_session_the_registry_no_longer_has_starts_over(ep, image, gone):
    layout, layer, digest = image
    store, key = ResumeStore.default(), _v2_key(ep, digest)
    url = _v2_session(ep, layer[:PART])
    if gone == "deleted":
        requests.delete(url, auth=("AWS", password_of(ep)), timeout=30)
    else:
        url = url.replace("/v2/app/", "/v2/nosuch/")
    TrackedUpload(store, key).save(url, PART, PART)
    result = pypush.push(f"oci:{layout}:1", f"{ep.host_port}/app:1", **_v2(ep))
    assert result.bytes_resumed == 0 and result.bytes_pushed >= len(layer)
    assert store.load(key) is None
    got = requests.get(f"{ep.url}/v2/app/blobs/{digest}", auth=("AWS", password_of(ep)), timeout=30).content
    assert got == layer


def test_no_state_is_written_for_a_blob_whose_digest_is_unknown(tmp_path):
    assert TrackedUpload(ResumeStore(tmp_path), None).load() is None
    TrackedUpload(ResumeStore(tmp_path), None).save("u", 1, 1)
    assert list(Path(tmp_path).iterdir()) == []
