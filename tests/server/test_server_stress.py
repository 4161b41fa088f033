"""The local endpoint under many clients at once (both doors), a held SQLite lock, kill -9 mid-traffic,
and a bounded fuzz of malformed requests. The server runs as its own process (``python -m pypush.server``)."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import signal
import socket
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from types import SimpleNamespace
from typing import Dict, List, Optional, Tuple

import pytest
import requests
from botocore.exceptions import ClientError

from endpoint_client import MiB, client, push_blob, push_image, sha, V2, password_of
from endpoint_process import start_server, url_of

pytestmark = pytest.mark.servers  # every test here starts the endpoint or a server process


def _v2_push(v2: V2, repo: str, shared: bytes, seed: int, tag: str) -> bytes:
    """Blobs (one shared by every pusher, one chunked) and a manifest through /v2/."""
    own = hashlib.shake_256(b"v2-%d" % seed).digest(MiB + seed)
    r = v2("POST", f"/v2/{repo}/blobs/uploads/")
    loc = r.headers["Location"]
    assert v2("PATCH", loc, data=own[:MiB], headers={"Content-Range": f"0-{MiB - 1}"}).status_code == 201
    assert v2("PUT", loc + f"?digest={sha(own)}", data=own[MiB:]).status_code == 201
    return v2.put_image(repo, tag, [shared, own])


def _api_push(c, repo: str, shared: bytes, seed: int, tag: str) -> bytes:
    own = hashlib.shake_256(b"api-%d" % seed).digest(MiB + seed)
    try:
        push_blob(c, repo, shared)
    except ClientError as e:  # another pusher completed it first: as on ECR
        if e.response["Error"]["Code"] != "LayerAlreadyExistsException":
            raise
    return push_image(c, repo, [shared, own], tag=tag, seed=str(seed)).encode()


def _served(base: str, repo: str, ref: str) -> Optional[bytes]:
    r = requests.get(f"{base}/v2/{repo}/manifests/{ref}", timeout=30)
    return r.content if r.status_code == 200 else None


def _check_blob_files(data: Path) -> int:
    """Every blob file is complete: its bytes hash to its name. Returns how many there are."""
    files = list((data / "blobs" / "sha256").iterdir())
    for path in files:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        assert h.hexdigest() == path.name, f"blob file {path.name} holds other bytes"
    return len(files)


def test_many_clients_both_doors_a_held_lock_and_kill_9(tmp_path):
    data = tmp_path / "data"
    proc = start_server(data, "--part-size", str(MiB))
    try:
        ep = SimpleNamespace(url=url_of(proc))
        c = client(ep)
        for repo in ("race", "door/v2", "door/api"):
            c.create_repository(repositoryName=repo)
        password = password_of(ep)
        shared = hashlib.shake_256(b"shared").digest(2 * MiB + 1)

        def one(i: int) -> Tuple[str, bytes]:
            """16 pushers: 8 per door; each pushes its own image and races for the tag race:latest."""
            if i % 2:
                v2 = V2(ep, password)
                mine = _v2_push(v2, "door/v2", shared, i, f"t{i}")
                race = _v2_push(v2, "race", shared, 100 + i, "latest")
                return "door/v2", mine + b"\0" + race
            cl = client(ep)
            mine = _api_push(cl, "door/api", shared, i, f"t{i}")
            race = _api_push(cl, "race", shared, 100 + i, "latest")
            return "door/api", mine + b"\0" + race

        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(one, range(16)))
        races = set()
        for i, (repo, both) in enumerate(results):
            mine, race = both.split(b"\0")
            assert _served(ep.url, repo, f"t{i}") == mine
            races.add(sha(race))
        winner = _served(ep.url, "race", "latest")
        assert winner is not None and sha(winner) in races  # one of them, whole
        tagged = [d for d in c.describe_images(repositoryName="race")["imageDetails"] if d.get("imageTags")]
        assert [d["imageDigest"] for d in tagged] == [sha(winner)] and len(races) == 16
        for layer in json.loads(winner)["layers"]:
            assert requests.head(f"{ep.url}/v2/race/blobs/{layer['digest']}", timeout=30).status_code == 200

        # another process holds the SQLite write lock for a while: requests wait, none fail
        other = sqlite3.connect(str(data / "metadata.sqlite3"), isolation_level=None, timeout=30)
        other.execute("BEGIN IMMEDIATE")
        waiting = ThreadPoolExecutor(2)
        held = [waiting.submit(_v2_push, V2(ep, password), "door/v2", shared, 50, "held"),
                waiting.submit(_api_push, client(ep), "door/api", shared, 51, "held")]
        with pytest.raises(FutureTimeout):  # it cannot finish while the lock is held ...
            held[0].result(timeout=1)
        other.execute("COMMIT")
        other.close()
        pushed_while_held = [f.result(timeout=120) for f in held]  # ... and finishes after, without errors
        waiting.shutdown()
        assert _served(ep.url, "door/v2", "held") == pushed_while_held[0]

        # kill -9 in the middle of more pushes: whatever was answered as done survives
        completed: List[Tuple[str, str, bytes]] = []
        lock = threading.Lock()
        stop = threading.Event()

        def keep_pushing(i: int) -> None:
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    if i % 2:
                        raw = _v2_push(V2(ep, password), "door/v2", shared, 1000 * i + n, f"k{i}-{n}")
                        where = "door/v2"
                    else:
                        raw = _api_push(client(ep), "door/api", shared, 1000 * i + n, f"k{i}-{n}")
                        where = "door/api"
                except Exception:  # the server died under it
                    return
                with lock:
                    completed.append((where, f"k{i}-{n}", raw))

        threads = [threading.Thread(target=keep_pushing, args=(i,), daemon=True) for i in range(8)]
        for t in threads:
            t.start()
        while True:  # until a few pushes are through (each thread keeps going)
            with lock:
                if len(completed) >= 6:
                    break
            threads[0].join(timeout=0.05)
        proc.kill()
        proc.wait(timeout=30)
        stop.set()
        for t in threads:
            t.join(timeout=60)
        with lock:
            survivors = list(completed)
        assert survivors
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)

    assert _check_blob_files(data) > 20
    proc = start_server(data)
    try:
        base = url_of(proc)
        for repo, tag, raw in survivors:
            assert _served(base, repo, tag) == raw, (repo, tag)
            for layer in json.loads(raw)["layers"]:
                r = requests.get(f"{base}/v2/{repo}/blobs/{layer['digest']}", timeout=30)
                assert sha(r.content) == layer["digest"]
        assert list((data / "uploads").iterdir()) == []
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


# ----- fuzz ------------------------------------------------------------------------------------

V2_CODES = {"BLOB_UNKNOWN", "BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "DIGEST_INVALID", "MANIFEST_BLOB_UNKNOWN",
            "MANIFEST_INVALID", "MANIFEST_UNKNOWN", "NAME_INVALID", "NAME_UNKNOWN", "SIZE_INVALID", "UNAUTHORIZED",
            "DENIED", "UNSUPPORTED", "TOOMANYREQUESTS", "TAG_INVALID", "NOT_FOUND", "PAGINATION_NUMBER_INVALID",
            "MALFORMED_REQUEST"}
TARGETS = ["SpencerFrontendService.PutImage", "SpencerFrontendService.UploadLayerPart",
           "SpencerFrontendService.CreateRepository", "AmazonEC2ContainerRegistry_V20150921.PutImage",
           "SpencerFrontendService.Nope", "", "X.Y", "SpencerFrontendService.InitiateLayerUpload"]
NAMES = ["fz", "local/fz", "fz", "../etc", "fz/../../x", "%2e%2e/x", "FZ", "a" * 300, "fz//x", "fz/./x", "fz\\x", "-fz"]
REFS = ["latest", "sha256:" + "0" * 64, "sha256:xyz", "sha512:" + "0" * 128, "../../x", "t" * 200, "%00", ""]


def _request(rng: random.Random, auth: str) -> Tuple[bytes, bool]:
    """One malformed-ish request (bytes on the wire), and whether its body is cut short."""
    kind = rng.randrange(6)
    headers: Dict[str, str] = {"Host": "127.0.0.1"}
    if rng.random() < 0.7:
        headers["Authorization"] = auth
    elif rng.random() < 0.5:
        headers["Authorization"] = rng.choice(["Basic !!!", "Bearer x.y.z.w", "Basic " + "QVdTOng=", "Negotiate"])
    body = b""
    truncated = False
    if kind <= 1:  # AWS JSON API
        method, path = "POST", "/"
        headers["X-Amz-Target"] = rng.choice(TARGETS)
        headers["Authorization"] = rng.choice(["AWS4-HMAC-SHA256 Credential=a/20260101/us-east-1/ecr-public/aws4_request, "
                                               "SignedHeaders=host, Signature=" + "0" * 64, "junk", ""])
        body = rng.choice([b"{", b"[]", b'{"repositoryName": 5}', b'{"repositoryName": "fz", "imageManifest": {}}',
                           b'{"repositoryName": "fz", "uploadId": "x", "partFirstByte": -1, "partLastByte": "a", '
                           b'"layerPartBlob": "!!!!"}', b'{"layerPartBlob": "QUJD"}', os.urandom(rng.randrange(1, 300)),
                           b'{"repositoryName": "' + b"a" * 5000 + b'"}', b"\xff\xfe"])
    else:
        method = rng.choice(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"])
        name, ref = rng.choice(NAMES), rng.choice(REFS)
        path = rng.choice([f"/v2/{name}/manifests/{ref}", f"/v2/{name}/blobs/{ref}", f"/v2/{name}/blobs/uploads/",
                           f"/v2/{name}/blobs/uploads/{ref}", f"/v2/{name}/tags/list?n={ref}&last={ref}",
                           f"/v2/{name}/referrers/{ref}?artifactType={ref}", "/v2/_catalog?n=-1", "/v2/../../",
                           f"/token/?scope={ref}", f"/v2/{name}/blobs/uploads/?mount={ref}&from={name}",
                           f"/v2/{name}/blobs/uploads/?digest={ref}"])
        if method in ("PUT", "PATCH", "POST"):
            body = rng.choice([b"", b"{}", b"not json", os.urandom(rng.randrange(1, 2000)),
                               json.dumps({"schemaVersion": 2, "config": 5, "layers": "x"}).encode()])
            if rng.random() < 0.3:
                headers["Content-Range"] = rng.choice(["0-1", "5-2", "bytes=0-", "x", "0-99999999999999999999"])
            if rng.random() < 0.3:
                headers["Content-Type"] = rng.choice(["application/vnd.oci.image.manifest.v1+json", "text/plain", ";;"])
        if rng.random() < 0.2:
            headers["Range"] = rng.choice(["bytes=0-0", "bytes=-5", "bytes=9-1", "bytes=x", "chars=0-1"])
    if body and rng.random() < 0.1:  # truncated: the client hangs up mid-body
        truncated = True
    headers["Content-Length"] = str(len(body))
    if body and rng.random() < 0.1 and not truncated:  # a Content-Length that lies upward is a truncated body
        headers["Content-Length"] = str(len(body) + 10)
        truncated = True
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return head.encode("latin-1") + body, truncated


def _exchange(port: int, raw: bytes, truncated: bool) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(raw)
        s.shutdown(socket.SHUT_WR) if truncated else None
        out = b""
        while b"\r\n\r\n" not in out:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk
        head, _, rest = out.partition(b"\r\n\r\n")
        length = next((int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")), 0)
        if raw.startswith(b"HEAD "):
            return head + b"\r\n\r\n"
        while len(rest) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            rest += chunk
        return head + b"\r\n\r\n" + rest


def _rss_kib(pid: int) -> Optional[int]:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def test_fuzz_no_crash_no_hang_documented_errors(tmp_path):
    proc = start_server(tmp_path / "data", "--header-timeout", "1")
    try:
        url = url_of(proc)
        port = int(url.rsplit(":", 1)[1])
        ep = SimpleNamespace(url=url)
        client(ep).create_repository(repositoryName="fz")
        auth = "Basic " + base64.b64encode(f"AWS:{password_of(ep)}".encode()).decode()
        # slow headers: a request that never finishes its headers is cut off
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n")
            assert s.recv(100) == b""
        rng = random.Random(15)
        requests_ = [_request(rng, auth) for _ in range(3000)]
        rss_before = _rss_kib(proc.pid)

        def run(item: Tuple[bytes, bool]) -> Tuple[bytes, bytes, bool]:
            return item[0], _exchange(port, *item), item[1]

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(run, requests_))
        statuses: Dict[int, int] = {}
        for raw, answer, truncated in answers:
            if not answer:
                assert truncated, raw[:200]  # only a body cut short may go unanswered
                continue
            head, _, body = answer.partition(b"\r\n\r\n")
            status = int(head.split(b" ")[1])
            statuses[status] = statuses.get(status, 0) + 1
            assert status < 500, (raw[:300], answer[:300])
            if status >= 400 and body:
                doc = json.loads(body)
                if "errors" in doc:
                    assert doc["errors"][0]["code"] in V2_CODES, doc
                else:
                    assert doc["__type"] and doc["message"], doc
        assert proc.poll() is None and len(statuses) > 5
        assert requests.get(url + "/v2/fz/tags/list", timeout=10).status_code == 200
        rss_after = _rss_kib(proc.pid)
        if rss_before is not None and rss_after is not None:
            assert rss_after - rss_before < 200 * 1024, (rss_before, rss_after)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
