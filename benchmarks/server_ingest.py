"""How fast the local endpoint ingests layer parts, and how much memory it needs.

Runs `python -m pypush.server` as a subprocess, uploads 200 MB (default) in 10 MiB parts through
the stock botocore `ecr-public` client (and through a hand-built, SigV4-signed request for
comparison; and ``v2``: the registry door, PATCH chunks of the part size then PUT ?digest=, with
the GetAuthorizationToken password), with 1, 2 and 4 concurrent uploads, and prints a table:

- wall MB/s: layer bytes / elapsed time (client and server share this machine's cores);
- server CPU s and server MB/s: layer bytes / the server process's CPU seconds (user+system), i.e.
  the rate one core of server-side work sustains — what decides whether the server limits a push;
- peak RSS: the server's VmHWM after the whole run.

Usage: python benchmarks/server_ingest.py [--mb 200] [--part-mib 10] [--concurrency 1,2,4]
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List, Tuple

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

ROOT = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024


def server_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def make_botocore_client(url: str):
    return botocore.session.get_session().create_client(
        "ecr-public", endpoint_url=url, region_name="us-east-1", aws_access_key_id="x",
        aws_secret_access_key="y", config=Config(max_pool_connections=16, retries={"total_max_attempts": 1}))


class HandBuilt:
    """UploadLayerPart with the JSON built as bytes and signed by botocore's SigV4Auth."""

    def __init__(self, url: str):
        self.host = url.split("//", 1)[1]
        self.url = url
        self.signer = SigV4Auth(Credentials("x", "y"), "ecr-public", "us-east-1")
        self.local = threading.local()

    def upload_layer_part(self, repositoryName: str, uploadId: str, partFirstByte: int, partLastByte: int,
                          layerPartBlob: bytes) -> None:
        head = json.dumps({"repositoryName": repositoryName, "uploadId": uploadId, "partFirstByte": partFirstByte,
                           "partLastByte": partLastByte})[:-1].encode()
        body = head + b', "layerPartBlob": "' + base64.b64encode(layerPartBlob) + b'"}'
        req = AWSRequest("POST", self.url + "/", data=body, headers={
            "X-Amz-Target": "SpencerFrontendService.UploadLayerPart",
            "Content-Type": "application/x-amz-json-1.1"})
        self.signer.add_auth(req)
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(self.host, timeout=120)
        conn.request("POST", "/", body=body, headers=dict(req.headers))
        resp = conn.getresponse()
        payload = resp.read()
        if resp.status != 200:
            raise RuntimeError(payload.decode())


class V2Uploads:
    """The registry door: POST, PATCH per part (Content-Range), PUT ?digest=, over http.client."""

    def __init__(self, url: str, control):
        self.host = url.split("//", 1)[1]
        token = control.get_authorization_token()["authorizationData"]["authorizationToken"]
        self.auth = {"Authorization": "Basic " + token}
        self.local = threading.local()

    def _call(self, method: str, path: str, body: bytes = b"", **headers: str) -> http.client.HTTPResponse:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(self.host, timeout=120)
        conn.request(method, path, body=body, headers={**self.auth, **headers})
        resp = conn.getresponse()
        payload = resp.read()
        if resp.status >= 300:
            raise RuntimeError(f"{method} {path}: {resp.status} {payload.decode()}")
        return resp

    def push_layer(self, repo: str, data: memoryview, part: int) -> None:
        loc = self._call("POST", f"/v2/{repo}/blobs/uploads/").headers["Location"]
        for first in range(0, len(data), part):
            chunk = data[first : first + part]
            loc = self._call("PATCH", loc, bytes(chunk), **{"Content-Range": f"{first}-{first + len(chunk) - 1}"}
                             ).headers["Location"]
        self._call("PUT", f"{loc}?digest=sha256:{hashlib.sha256(data).hexdigest()}")


def push_layer(control, parts_client, repo: str, data: memoryview, part: int) -> None:
    if isinstance(parts_client, V2Uploads):
        parts_client.push_layer(repo, data, part)
        return
    up = control.initiate_layer_upload(repositoryName=repo)["uploadId"]
    for first in range(0, len(data), part):
        chunk = bytes(data[first : first + part])
        parts_client.upload_layer_part(repositoryName=repo, uploadId=up, partFirstByte=first,
                                       partLastByte=first + len(chunk) - 1, layerPartBlob=chunk)
    control.complete_layer_upload(repositoryName=repo, uploadId=up,
                                  layerDigests=["sha256:" + hashlib.sha256(data).hexdigest()])


def run_case(url: str, pid: int, data: bytes, part: int, concurrency: int, kind: str, n: int) -> Tuple[float, float]:
    control = make_botocore_client(url)
    repo = f"bench/{kind}-{concurrency}-{n}"
    control.create_repository(repositoryName=repo)
    parts_client = control if kind == "botocore" else V2Uploads(url, control) if kind == "v2" else HandBuilt(url)
    view = memoryview(data)
    size = len(data) // concurrency
    slices = [view[i * size : (i + 1) * size] for i in range(concurrency)]
    cpu0, t0 = server_cpu_seconds(pid), time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda s: push_layer(control, parts_client, repo, s, part), slices))
    return time.perf_counter() - t0, server_cpu_seconds(pid) - cpu0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--part-mib", type=int, default=10)
    ap.add_argument("--concurrency", default="1,2,4")
    ap.add_argument("--clients", default="botocore,hand-built,v2")
    args = ap.parse_args()
    data = hashlib.shake_256(b"bench").digest(args.mb * 1000 * 1000)
    part = args.part_mib * MiB
    with tempfile.TemporaryDirectory(prefix="pypush-bench-") as tmp:
        proc = subprocess.Popen([sys.executable, "-m", "pypush.server", "--port", "0", "--data", tmp,
                                 "--part-size", str(part)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
        try:
            url = proc.stdout.readline().strip()
            rows: List[Tuple[str, int, float, float]] = []
            for kind in args.clients.split(","):
                for n, conc in enumerate(int(c) for c in args.concurrency.split(",")):
                    wall, cpu = run_case(url, proc.pid, data, part, conc, kind, n)
                    rows.append((kind, conc, wall, cpu))
            hwm = server_hwm_mib(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    mb = len(data) / 1e6
    print(f"server ingest of {mb:.0f} MB in {args.part_mib} MiB parts ({os.cpu_count()} cores)")
    print(f"{'client':<11} {'uploads':>7} {'wall s':>7} {'wall MB/s':>9} {'srv CPU s':>9} {'srv MB/s':>9}")
    for kind, conc, wall, cpu in rows:
        print(f"{kind:<11} {conc:>7} {wall:>7.2f} {mb / wall:>9.0f} {cpu:>9.2f} {mb / cpu if cpu else float('inf'):>9.0f}")
    print(f"server peak RSS (VmHWM): {hwm:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
