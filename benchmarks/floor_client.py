#!/usr/bin/env python3
"""The floor peer: a v2 client that does the least a client can do, to measure what the registry alone costs.

    python3 benchmarks/floor_client.py push LAYOUT HOST REPO TAG
    python3 benchmarks/floor_client.py copy SRC_HOST DST_HOST REPO TAG

It hashes nothing (as crane, which lets the registry check the digests), sends each blob of the layout's
first image with ``sendfile`` on a thread of its own (``push``) or streams each blob's GET into its PUT
with one reused buffer (``copy``), then PUTs the manifest. Plain http, no auth, no retries: a yardstick
for the benchmarks (crane cannot run here), never a tool. What pypush takes beyond it is what pypush's
own work costs on the cores it shares with the registry (interpreter start, checking every byte).
"""
from __future__ import annotations

import http.client
import json
import os
import socket
import sys
import threading
from pathlib import Path
from typing import Callable, Dict, List

ACCEPT = ",".join(["application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json"])


def _upload(host: str, repo: str, digest: str, size: int, send_body: Callable[[socket.socket], None]) -> None:
    conn = http.client.HTTPConnection(host, timeout=300)
    conn.request("POST", f"/v2/{repo}/blobs/uploads/")
    resp = conn.getresponse()
    resp.read()
    location = resp.getheader("Location") or ""
    location = location.split(host, 1)[-1]
    conn.putrequest("PUT", f"{location}{'&' if '?' in location else '?'}digest={digest}")
    conn.putheader("Content-Length", str(size))
    conn.putheader("Content-Type", "application/octet-stream")
    conn.endheaders()
    send_body(conn.sock)
    resp = conn.getresponse()
    resp.read()
    if resp.status != 201:
        raise SystemExit(f"PUT {digest}: HTTP {resp.status}")



def _in_threads(jobs: List[Callable[[], None]]) -> None:
    errors: List[BaseException] = []

    def run(job: Callable[[], None]) -> None:
        try:
            job()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def _put_manifest(host: str, repo: str, tag: str, raw: bytes, media_type: str) -> None:
    conn = http.client.HTTPConnection(host, timeout=300)
    conn.request("PUT", f"/v2/{repo}/manifests/{tag}", body=raw, headers={"Content-Type": media_type})
    resp = conn.getresponse()
    resp.read()
    if resp.status != 201:
        raise SystemExit(f"PUT manifest: HTTP {resp.status}")


def push(layout: Path, host: str, repo: str, tag: str) -> None:
    entry = json.loads((layout / "index.json").read_text())["manifests"][0]
    path = lambda digest: layout / "blobs" / "sha256" / digest.split(":", 1)[1]  # noqa: E731
    raw = path(entry["digest"]).read_bytes()
    doc = json.loads(raw)

    def job(desc: Dict) -> Callable[[], None]:
        def send(sock: socket.socket) -> None:
            with open(path(desc["digest"]), "rb") as f:
                sock.sendfile(f)
        return lambda: _upload(host, repo, desc["digest"], desc["size"], send)

    _in_threads([job(d) for d in [doc["config"], *doc["layers"]]])
    _put_manifest(host, repo, tag, raw, entry["mediaType"])


def copy(src: str, dst: str, repo: str, tag: str) -> None:
    conn = http.client.HTTPConnection(src, timeout=300)
    conn.request("GET", f"/v2/{repo}/manifests/{tag}", headers={"Accept": ACCEPT})
    resp = conn.getresponse()
    raw = resp.read()
    media_type = resp.getheader("Content-Type") or ""
    doc = json.loads(raw)

    def job(desc: Dict) -> Callable[[], None]:
        def send(sock: socket.socket) -> None:
            get = http.client.HTTPConnection(src, timeout=300)
            get.request("GET", f"/v2/{repo}/blobs/{desc['digest']}")
            body = get.getresponse()
            buf = memoryview(bytearray(1 << 20))
            while True:
                n = body.readinto(buf)
                if not n:
                    break
                sock.sendall(buf[:n])
        return lambda: _upload(dst, repo, desc["digest"], desc["size"], send)

    _in_threads([job(d) for d in [doc["config"], *doc["layers"]]])
    _put_manifest(dst, repo, tag, raw, media_type)


def main(argv: List[str]) -> None:
    if len(argv) == 5 and argv[0] == "push":
        push(Path(argv[1]), argv[2], argv[3], argv[4])
    elif len(argv) == 5 and argv[0] == "copy":
        copy(argv[1], argv[2], argv[3], argv[4])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.stdout.flush()
    os._exit(0)
