"""`python -m pypush.server` as a process: URL on the first line, clean SIGTERM, and nothing completed
is lost after kill -9 in the middle of an upload."""
from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from types import SimpleNamespace

import pytest

from conftest import REPO_ROOT
from endpoint_process import start_server, url_of
from endpoint_client import MiB, client, code_of, push_blob, push_image, sha

pytestmark = pytest.mark.servers  # every test here starts the endpoint or a server process


def test_first_line_is_the_url_and_sigterm_stops_cleanly(tmp_path):
    proc = start_server(tmp_path / "data")
    try:
        url = url_of(proc)
        with urllib.request.urlopen(url + "/v2/_catalog", timeout=10) as r:
            assert r.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0


def test_kill_9_mid_upload_keeps_completed_layers_and_images(tmp_path):
    data = tmp_path / "data"
    proc = start_server(data)
    ep = SimpleNamespace(url=url_of(proc))
    c = client(ep)
    c.create_repository(repositoryName="keep/me")
    text = push_image(c, "keep/me", [b"first layer" * 1000], tag="v1")
    big = os.urandom(12 * MiB)
    layer = push_blob(c, "keep/me", big)
    # An upload in flight: one part stored, the next part streaming when the server dies.
    up = c.initiate_layer_upload(repositoryName="keep/me")["uploadId"]
    c.upload_layer_part(repositoryName="keep/me", uploadId=up, partFirstByte=0, partLastByte=10 * MiB - 1,
                        layerPartBlob=big[: 10 * MiB])
    # The next part is half sent when the server dies: headers and 1 MiB of a 14 MB body are on the wire.
    body = json.dumps({"repositoryName": "keep/me", "uploadId": up, "partFirstByte": 10 * MiB,
                       "partLastByte": 20 * MiB - 1,
                       "layerPartBlob": base64.b64encode(os.urandom(10 * MiB)).decode()}).encode()
    host, port = ep.url.rsplit("/", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-amz-json-1.1\r\n"
                     b"X-Amz-Target: SpencerFrontendService.UploadLayerPart\r\nContent-Length: %d\r\n\r\n"
                     % (ep.url.rsplit("/", 1)[1].encode(), len(body)) + body[:MiB])
        proc.kill()
        proc.wait(timeout=10)

    proc = start_server(data)
    try:
        ep = SimpleNamespace(url=url_of(proc))
        c = client(ep)
        detail = c.describe_images(repositoryName="keep/me")["imageDetails"]
        assert [(d["imageDigest"], d["imageTags"]) for d in detail] == [(sha(text.encode()), ["v1"])]
        avail = c.batch_check_layer_availability(repositoryName="keep/me", layerDigests=[layer])["layers"]
        assert avail[0]["layerSize"] == len(big)
        with urllib.request.urlopen(f"{ep.url}/v2/keep/me/blobs/{layer}", timeout=30) as r:
            assert sha(r.read()) == layer
        assert code_of(c.complete_layer_upload, repositoryName="keep/me", uploadId=up,
                       layerDigests=[layer]) == "UploadNotFoundException"
        assert list((data / "uploads").iterdir()) == []
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0


def test_settings_outside_the_model_are_usage_errors(tmp_path):
    for args in (["--alias", "Not_An_Alias"], ["--registry-id", "12"], ["--part-size", "0"], ["--faults", "x=1"],
                 ["--registry-quirks", "bogus"], ["--header-timeout", "0"]):
        proc = subprocess.run([sys.executable, "-m", "pypush.server", "--data", str(tmp_path), *args],
                              capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
        assert proc.returncode == 2 and proc.stdout == "", (args, proc.stderr)
        assert proc.stderr.startswith("pypush serve: ")
