"""Registry sources that misbehave: a connection cut half-way through a blob, 429 with Retry-After,
manifests whose bytes are not what was asked for, blobs that are missing; and a source behind the
Bearer token server."""
from __future__ import annotations

import base64
import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import pypush
from conftest import oci_manifests, run_pypush, server_fixture
from imagegen import make_oci_layout, random_bytes
from layout_v2_server import LayoutV2Server, sha256
from pypush.errors import SourceError
from auth_registries import PASSWORD, USER, bearer_registry, skopeo_raw, token_server  # noqa: F401 (fixtures)

BIG = 6 << 20  # several 1 MiB reads, so that a cut lands mid-blob


@server_fixture
def served(tmp_path):
    layout = tmp_path / "src"
    layers = [random_bytes(BIG, 1), random_bytes(300_000, 2)]
    digest = make_oci_layout(layout, layers, tag="1")
    server = LayoutV2Server(layout)
    server.image_digest = digest  # type: ignore[attr-defined]
    server.big = sha256(layers[0])  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.mark.parametrize("to", ["v2", "ecr"])
def test_dropped_connection_resumes_with_range(served, tmp_path, docker_registry, endpoint, skopeo, to):
    served.cut_once.add(served.big)
    if to == "v2":
        result = pypush.copy(f"docker://{served.host}/img:1", f"{docker_registry.host}/resumed:1")
        ref = f"{docker_registry.host}/resumed:1"
    else:  # through the ECR API: the upload never notices
        result = pypush.copy(f"docker://{served.host}/img:1", "public.ecr.aws/local/resumed:1",
                             endpoint_url=endpoint.url, create_repository=True)
        ref = f"{endpoint.host_port}/resumed:1"
        assert result.retries == 0
    assert result.digest == served.image_digest
    assert sha256(skopeo.inspect_raw(ref)) == served.image_digest
    ranges = served.ranges(served.big)
    assert ranges[0] == "" and len(ranges) == 2 and ranges[1].startswith("bytes=")
    resumed_at = int(ranges[1][len("bytes="):-1])
    assert BIG // 2 - (1 << 20) <= resumed_at <= BIG // 2  # from the byte it reached (within one read)
    assert served.sent[served.big] <= BIG + (1 << 20)  # no second full read


def test_range_ignored_reads_past_what_it_has(served, tmp_path):
    served.cut_once.add(served.big)
    served.ignore_range = True
    result = pypush.pull(f"docker://{served.host}/img:1", f"oci:{tmp_path / 'out'}")
    assert result.digest == served.image_digest
    assert sha256((tmp_path / "out" / "blobs" / "sha256" / served.big.split(":")[1]).read_bytes()) == served.big


def test_429_retry_after_is_honoured(served):
    from pypush.name.reference import parse_remote
    from pypush.sources.remote import connect

    served.throttle["/manifests/1"] = 1
    served.throttle["/blobs/"] = 1
    served.retry_after = "7"
    reader = connect(parse_remote(f"docker://{served.host}/img:1"))
    waits = []
    reader.conn._retry.sleep = waits.append  # what the policy waits, without waiting
    try:
        root = reader.image("1")  # the manifest's GET, then the config's, each answered 429 once
        assert root.descriptor.digest == served.image_digest
    finally:
        reader.close()
    assert waits == [7.0, 7.0]
    assert len([p for m, p, _, _ in served.requests if p.endswith("/manifests/1")]) == 2


def test_manifest_not_matching_the_digest_asked_for_is_refused(served, tmp_path):
    served.tamper.add(served.image_digest)
    with pytest.raises(SourceError, match="served a manifest with digest .* not the sha256:.* asked for; refused"):
        pypush.pull(f"docker://{served.host}/img@{served.image_digest}", f"oci:{tmp_path / 'out'}")
    served.tamper = {"1"}
    proc = run_pypush("pull", f"docker://{served.host}/img:1", f"oci:{tmp_path / 'out'}")
    assert proc.returncode == 3 and "refused" in proc.stderr, proc.stderr
    assert not (tmp_path / "out").exists()


def test_failed_pull_leaves_nothing_behind(served, tmp_path):
    out = tmp_path / "pulls"
    out.mkdir()
    existing = out / "layout"
    pypush.pull(f"docker://{served.host}/img:1", f"oci:{existing}:old")
    small = [d for d in json.loads((existing / "blobs" / "sha256" / served.image_digest.split(":")[1]).read_text())
             ["layers"] if d["size"] < BIG][0]["digest"]
    served.missing.add(small)
    (existing / "blobs" / "sha256" / small.split(":")[1]).unlink()  # so that the second pull must fetch it
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    for target in (f"oci:{out / 'fresh'}", f"oci-archive:{out / 'fresh.tar'}", f"oci:{existing}:new"):
        proc = run_pypush("pull", f"docker://{served.host}/img:1", target)
        assert proc.returncode == 3 and "missing from the registry" in proc.stderr, proc.stderr
        assert sorted(p.relative_to(out) for p in out.rglob("*")) == before  # no temporary names, index unchanged


def test_source_behind_bearer_token_server(bearer_registry, token_server, docker_config, skopeo,  # noqa: F811
                                           tmp_path):
    layout = tmp_path / "src"
    make_oci_layout(layout, [random_bytes(200_000, 5)], tag="1")
    skopeo.run("copy", "-q", "--dest-tls-verify=false", "--dest-creds", f"{USER}:{PASSWORD}", f"oci:{layout}:1",
               f"docker://{bearer_registry.host}/private/app:1")
    want = sha256(skopeo_raw(skopeo, f"{bearer_registry.host}/private/app:1"))
    anonymous = run_pypush("pull", f"docker://{bearer_registry.host}/private/app:1", f"oci:{tmp_path / 'anon'}")
    assert anonymous.returncode == 5, anonymous.stderr
    assert "pull rights" in anonymous.stderr
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    (docker_config / "config.json").write_text(json.dumps({"auths": {bearer_registry.host: {"auth": auth}}}))
    requests_before = len(token_server.requests)
    result = pypush.pull(f"docker://{bearer_registry.host}/private/app:1", f"oci:{tmp_path / 'out'}")
    assert result.digest == want
    scopes = [s for _, asked in token_server.requests[requests_before:] for s in asked]
    assert "repository:private/app:pull" in scopes and not any("push" in s for s in scopes)


def test_docker_hub_pull_limit_says_so(served):
    from pypush.name.reference import parse_remote
    from pypush.net.retry import Backoff
    from pypush.sources.remote import RemoteReader
    from pypush.transports.distribution.client import RegistryClient

    served.throttle["/manifests/"] = 99
    served.retry_after = "0"
    conn = RegistryClient(served.host, repository="img", access="pull", backoff=Backoff(attempts=2),
                          lookup_credentials=False)
    reader = RemoteReader(parse_remote("docker://img:1"), conn)  # Docker Hub's name, served here
    reader.repository = "img"
    with pytest.raises(pypush.TransientError, match="Docker Hub's pull rate limit is reached; log in"):
        reader.image("1")
    conn.close()


def test_all_tags_follows_tag_pages(served, tmp_path, docker_registry):
    index = json.loads((served.layout / "index.json").read_text())
    entry = index["manifests"][0]
    index["manifests"] = [dict(entry, annotations={"org.opencontainers.image.ref.name": t}) for t in "abc"]
    (served.layout / "index.json").write_text(json.dumps(index))
    results = pypush.mirror(f"docker://{served.host}/img", f"{docker_registry.host}/all")
    assert sorted(r.tags[0] for r in results) == ["a", "b", "c"]
    assert [r.bytes_pushed > 0 for r in results] == [True, False, False]  # blobs once, then only manifests
    assert len([p for m, p, _, _ in served.requests if p.endswith("/tags/list")]) == 3


def test_all_tags_stops_at_a_link_to_a_page_already_read(served, tmp_path):
    """A registry whose last page links to itself again: every tag copied once, not a loop."""
    serve = served.handle

    def handle(h, head):
        if h.path.split("?")[0].endswith("/tags/list"):
            served.requests.append((h.command, h.path, "", 0.0))
            return served._reply(h, 200, b'{"name": "img", "tags": ["1"]}',
                                 {"Link": '</v2/img/tags/list?n=1&last=1>; rel="next"'}, head)
        return serve(h, head)

    served.handle = handle
    results = pypush.mirror(f"docker://{served.host}/img", f"oci:{tmp_path / 'all'}")
    assert [r.tags for r in results] == [["1"]]
    assert len([p for _, p, _, _ in served.requests if "/tags/list" in p]) == 2


def test_all_tags_into_a_layout_directory(served, tmp_path, caplog):
    index = json.loads((served.layout / "index.json").read_text())
    entry = index["manifests"][0]
    index["manifests"] = [dict(entry, annotations={"org.opencontainers.image.ref.name": t}) for t in "xy"]
    old = json.dumps({"schemaVersion": 1, "name": "img", "tag": "old", "fsLayers": []}).encode()
    (served.layout / "blobs" / "sha256" / sha256(old).split(":")[1]).write_bytes(old)
    index["manifests"].append({"mediaType": "application/vnd.docker.distribution.manifest.v1+prettyjws",
                               "digest": sha256(old), "size": len(old),
                               "annotations": {"org.opencontainers.image.ref.name": "old"}})
    (served.layout / "index.json").write_text(json.dumps(index))
    results = pypush.mirror(f"docker://{served.host}/img", f"oci:{tmp_path / 'all'}")
    assert [r.tags for r in results] == [["x"], ["y"]]  # the schema 1 tag is skipped, with a warning
    assert "schema 1" in caplog.text and "img:old" in caplog.text
    assert pypush.mirror(f"docker://{served.host}/img", f"oci:{tmp_path / 'arm'}", platform=["linux/arm64"]) == []
    assert sorted(m["annotations"]["org.opencontainers.image.ref.name"] for m in oci_manifests(tmp_path / "all")) \
        == ["x", "y"]
    assert pypush.mirror(f"docker://{served.host}/img", f"oci:{tmp_path / 'all'}") == []
    with pytest.raises(pypush.UsageError, match="every tag goes into a layout directory"):
        pypush.mirror(f"docker://{served.host}/img", f"oci-archive:{tmp_path / 'all.tar'}")


def test_refused_configured_credentials_fall_back_to_anonymous(served, tmp_path, docker_config):
    served.bearer = True
    auth = base64.b64encode(b"someone:expired").decode()
    (docker_config / "config.json").write_text(json.dumps({"auths": {served.host: {"auth": auth}}}))
    result = pypush.pull(f"docker://{served.host}/img:1", f"oci:{tmp_path / 'out'}")
    assert result.digest == served.image_digest
    assert len([p for m, p, _, _ in served.requests if p == "/token"]) == 2  # refused with, given without
    explicit = run_pypush("pull", f"docker://{served.host}/img:1", f"oci:{tmp_path / 'again'}",
                          "--src-username", "someone", "--src-password-stdin", input="expired\n")
    assert explicit.returncode == 5, explicit.stderr  # credentials given on purpose are not dropped


def test_blob_redirect_to_another_host_gets_no_credentials(served, tmp_path):
    """Registries send blob GETs to S3 or a CDN with a 307: followed, without the registry's credentials."""
    seen = {"origin": [], "cdn": []}

    class Cdn(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            seen["cdn"].append(self.headers.get("Authorization"))
            data = (served.layout / "blobs" / "sha256" / self.path.split(":")[-1].split("?")[0]).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    cdn = ThreadingHTTPServer(("127.0.0.1", 0), Cdn)
    threading.Thread(target=cdn.serve_forever, daemon=True).start()
    serve = served.handle

    def handle(h, head):
        seen["origin"].append(h.headers.get("Authorization"))
        if not h.headers.get("Authorization"):  # a private registry: Basic credentials on every request
            return served._reply(h, 401, b'{"errors": [{"code": "UNAUTHORIZED", "message": "login"}]}',
                                 {"WWW-Authenticate": 'Basic realm="registry"'}, head)
        if "/blobs/" in h.path and not head:
            h.send_response(307)
            h.send_header("Location", f"http://127.0.0.1:{cdn.server_address[1]}/bucket/{h.path.split('/')[-1]}?X-Sig=1")
            h.send_header("Content-Length", "0")
            h.end_headers()
            return None
        return serve(h, head)

    served.handle = handle
    try:
        result = pypush.pull(f"docker://{served.host}/img:1", f"oci:{tmp_path / 'out'}", src_username="someone",
                             src_password="s3cret")
    finally:
        cdn.shutdown()
        cdn.server_close()
    assert result.digest == served.image_digest
    assert len(seen["cdn"]) == 3 and seen["cdn"] == [None] * 3  # config and both layers, no Authorization
    assert seen["origin"][-1].startswith("Basic ")  # the registry itself got them


def test_blobs_served_gzip_encoded_by_a_proxy_are_decoded(served, tmp_path):
    """A proxy or CDN that gzips responses: blob GETs ask for identity, and an encoded answer all the same is
    decoded back to the blob's bytes (was: a size or digest mismatch)."""
    asked = []
    reply = served._reply

    def encoding(h, status, body, headers, head):
        if "/blobs/" in h.path and status == 200 and not head:
            asked.append(h.headers.get("Accept-Encoding"))
            body, headers = gzip.compress(body), {**headers, "Content-Encoding": "gzip"}
        return reply(h, status, body, headers, head)

    served._reply = encoding
    result = pypush.pull(f"docker://{served.host}/img:1", f"oci:{tmp_path / 'out'}")
    assert result.digest == served.image_digest
    assert asked and set(asked) == {"identity"}


def test_all_tags_skips_a_tag_deleted_since_the_listing(served, tmp_path, caplog):
    """tags/list names a tag the registry no longer has (deleted in between): a warning, the rest copied."""
    serve = served.handle

    def handle(h, head):
        if h.path.split("?")[0].endswith("/tags/list"):
            return served._reply(h, 200, b'{"name": "img", "tags": ["1", "gone"]}', {}, head)
        return serve(h, head)

    served.handle = handle
    results = pypush.mirror(f"docker://{served.host}/img", f"oci:{tmp_path / 'all'}")
    assert [r.tags for r in results] == [["1"]]
    assert "skipped docker://" in caplog.text and ":gone: no such image in the registry (HTTP 404)" in caplog.text
