"""The local endpoint's registry door (/v2/ writes behind ECR's login) and the API door: one store.

skopeo and pypush's v2 transport push in; both doors read back with the same digests and sizes.
"""
from __future__ import annotations

import json
import os
import time

import pytest
import requests

from conftest import REPO_ROOT, run_pypush, server_fixture
from pullcheck import pull_and_check
from endpoint_client import password_of, V2, OCI_MANIFEST, MiB, client, sha
from registry_builders import gz_layer, make_image

from pypush.engine.transfer import push
from pypush.image.model import OCI_INDEX
from pypush.server import LocalEndpoint
from pypush.transports.distribution.docker_credentials import Credentials
from pypush.transports.distribution.destination import RegistryTransport

pytestmark = pytest.mark.servers  # every test here starts the endpoint or a server process

FIXTURES = REPO_ROOT / "fixtures"
ARTIFACT = "application/vnd.example.sbom+json"


@server_fixture
def ep(tmp_path):
    with LocalEndpoint(data_dir=tmp_path / "data", part_size=MiB) as e:
        for repo in ("team/app", "other"):
            client(e).create_repository(repositoryName=repo)
        yield e


def test_skopeo_pushes_with_ecr_login_and_both_doors_agree(ep, skopeo, tmp_path):
    password = password_of(ep)
    ref = f"{ep.host_port}/team/app:v1"
    denied = skopeo.run("copy", "--all", "--dest-tls-verify=false", "--dest-creds", "AWS:wrong",
                        f"oci:{FIXTURES / 'docker-list.oci'}", f"docker://{ref}", check=False)
    assert denied.returncode != 0 and client(ep).describe_images(repositoryName="team/app")["imageDetails"] == []
    skopeo.run("copy", "--all", "--dest-tls-verify=false", "--dest-creds", f"AWS:{password}",
               f"oci:{FIXTURES / 'docker-list.oci'}", f"docker://{ref}")
    raw = skopeo.inspect_raw(ref)
    pulled = pull_and_check(skopeo, ref, tmp_path / "pulled", expected_digest=sha(raw))
    # the API door: DescribeImages lists what skopeo pushed, with the digests, sizes and time v2 serves
    details = {d["imageDigest"]: d for d in client(ep).describe_images(repositoryName="team/app")["imageDetails"]}
    assert details[sha(raw)]["imageTags"] == ["v1"]
    children = [m["digest"] for m in json.loads(raw)["manifests"]]
    assert set(details) == {sha(raw), *children}
    private = client(ep, "ecr")
    got = private.batch_get_image(repositoryName="team/app", imageIds=[{"imageTag": "v1"}])["images"][0]
    assert got["imageManifest"].encode() == raw and got["imageId"]["imageDigest"] == sha(raw)
    child = json.loads(requests.get(f"{ep.url}/v2/team/app/manifests/{children[0]}", timeout=30).content)
    layers = child["layers"]
    avail = client(ep).batch_check_layer_availability(repositoryName="team/app",
                                                      layerDigests=[l["digest"] for l in layers])["layers"]
    assert sorted((a["layerDigest"], a["layerSize"]) for a in avail) == sorted((l["digest"], l["size"]) for l in layers)
    assert pulled["configs"]


def test_pypush_v2_push_and_api_push_read_through_the_other_door(ep, skopeo, tmp_path):
    password = password_of(ep)
    proc = run_pypush("push", str(FIXTURES / "docker25.tar"), f"{ep.host_port}/team/app:v2", "--transport", "v2",
                      "--insecure", "-u", "AWS", "--password-stdin", "--digest-file", str(tmp_path / "d"),
                      input=password, env={"PYPUSH_CACHE_DIR": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stderr
    digest = (tmp_path / "d").read_text().strip()
    detail = client(ep).describe_images(repositoryName="team/app", imageIds=[{"imageTag": "v2"}])["imageDetails"][0]
    assert detail["imageDigest"] == digest
    pull_and_check(skopeo, f"{ep.host_port}/team/app:v2", tmp_path / "v2", expected_digest=digest)
    # and the other way: an ECR API push pulls over v2 with its digest, size and push time
    proc = run_pypush("push", str(FIXTURES / "small.docker-archive.tar"), "public.ecr.aws/local/other:api",
                      "--endpoint-url", ep.url, "--digest-file", str(tmp_path / "d2"),
                      env={"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b", "PYPUSH_CACHE_DIR": str(tmp_path / "c2")})
    assert proc.returncode == 0, proc.stderr
    api_digest = (tmp_path / "d2").read_text().strip()
    pull_and_check(skopeo, f"{ep.host_port}/local/other:api", tmp_path / "api", expected_digest=api_digest)
    pushed = client(ep).describe_images(repositoryName="other")["imageDetails"][0]
    manifest = requests.get(f"{ep.url}/v2/other/manifests/api", timeout=30)
    assert manifest.headers["Docker-Content-Digest"] == pushed["imageDigest"] == api_digest


def test_login_challenges_tokens_and_expiry(tmp_path):
    with LocalEndpoint(data_dir=tmp_path / "pub") as ep:
        client(ep).create_repository(repositoryName="rr")
        password = password_of(ep)
        r = requests.get(ep.url + "/v2/", timeout=10)
        assert r.status_code == 401 and r.json()["errors"][0]["code"] == "UNAUTHORIZED"
        assert r.headers["Www-Authenticate"] == f'Bearer realm="{ep.url}/token/",service="{ep.host_port}",scope="aws"'
        assert requests.get(ep.url + "/v2/", auth=("AWS", password), timeout=10).status_code == 200
        for user, pw in (("AWS", "wrong"), ("admin", password)):
            assert requests.get(ep.url + "/v2/", auth=(user, pw), timeout=10).status_code == 401
            assert requests.post(ep.url + "/v2/rr/blobs/uploads/", auth=(user, pw), timeout=10).status_code == 401
        assert requests.post(ep.url + "/v2/rr/blobs/uploads/", timeout=10).status_code == 401
        # the Bearer flow: anonymous pull token, push token for the password
        anon = requests.get(ep.url + "/token/?service=x&scope=repository:rr:pull", timeout=10).json()["token"]
        bearer = {"Authorization": f"Bearer {anon}"}
        assert requests.get(ep.url + "/v2/", headers=bearer, timeout=10).status_code == 200
        r = requests.post(ep.url + "/v2/rr/blobs/uploads/", headers=bearer, timeout=10)
        assert r.status_code == 401 and r.headers["Www-Authenticate"].endswith(',error="insufficient_scope"')
        assert requests.get(ep.url + "/token/", auth=("AWS", "nope"), timeout=10).status_code == 401
        push = requests.get(ep.url + "/token/", auth=("AWS", password), timeout=10).json()
        assert push["expires_in"] > 11 * 3600
        r = requests.post(ep.url + "/v2/rr/blobs/uploads/", headers={"Authorization": f"Bearer {push['token']}"}, timeout=10)
        assert r.status_code == 202 and r.headers["Location"].startswith("/v2/rr/blobs/uploads/")
        expires = client(ep).get_authorization_token()["authorizationData"]["expiresAt"].timestamp()
        assert 11.9 * 3600 < expires - time.time() <= 12 * 3600
    # a token past the expiresAt the service gave is refused (here the service says: already expired)
    with LocalEndpoint(data_dir=tmp_path / "old", token_lifetime=-1) as ep:
        client(ep).create_repository(repositoryName="rr")
        stale = password_of(ep)
        assert requests.post(ep.url + "/v2/rr/blobs/uploads/", auth=("AWS", stale), timeout=10).status_code == 401
        assert requests.get(ep.url + "/token/", auth=("AWS", stale), timeout=10).status_code == 401
    # private ECR: a Basic challenge and no anonymous pulls
    with LocalEndpoint(data_dir=tmp_path / "priv", login="private") as ep:
        client(ep).create_repository(repositoryName="rr")
        r = requests.get(ep.url + "/v2/rr/tags/list", timeout=10)
        assert r.status_code == 401
        assert r.headers["Www-Authenticate"] == f'Basic realm="{ep.url}/",service="ecr.amazonaws.com"'
        password = password_of(ep, "ecr")
        assert requests.get(ep.url + "/v2/rr/tags/list", auth=("AWS", password), timeout=10).json()["tags"] == []


def test_chunked_uploads_ranges_and_ecr_defaults(ep):
    v2 = V2(ep, password_of(ep))
    data = os.urandom(3 * MiB + 100)
    r = v2("POST", "/v2/team/app/blobs/uploads/")
    assert r.status_code == 202 and r.headers["OCI-Chunk-Min-Length"] == str(MiB) and r.headers["Range"] == "0-0"
    loc, uuid = r.headers["Location"], r.headers["Docker-Upload-UUID"]
    assert loc.endswith(uuid)
    r = v2("PATCH", loc, data=data[:MiB], headers={"Content-Range": f"0-{MiB - 1}"})
    assert r.status_code == 201 and r.headers["Range"] == f"0-{MiB - 1}"  # ECR answers 201
    r = v2("PATCH", loc, data=data[2 * MiB :], headers={"Content-Range": f"{2 * MiB}-{len(data) - 1}"})
    assert r.status_code == 416 and r.json()["errors"][0]["code"] == "BLOB_UPLOAD_INVALID"
    r = v2("PATCH", loc, data=iter([data[MiB : 2 * MiB]]))  # chunked transfer coding, no Content-Range
    assert r.status_code == 201 and r.headers["Range"] == f"0-{2 * MiB - 1}"
    r = v2("PATCH", loc, data=data[2 * MiB : 2 * MiB + 10], headers={"Content-Range": f"{2 * MiB}-{2 * MiB + 9}"})
    assert r.status_code == 201
    r = v2("PATCH", loc, data=data[2 * MiB + 10 :])  # the chunk before was under the minimum
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "BLOB_UPLOAD_INVALID"
    r = v2("GET", loc)
    assert r.status_code == 204 and r.headers["Range"] == f"0-{2 * MiB + 9}"
    r = v2("PUT", loc + f"?digest={sha(data)}", data=data[2 * MiB + 10 :])  # nor on the closing PUT
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "BLOB_UPLOAD_INVALID"
    data = data[: 2 * MiB + 10]  # the last chunk may be small
    r = v2("PUT", loc + f"?digest={sha(data)}")
    assert r.status_code == 201 and r.headers["Docker-Content-Digest"] == sha(data)
    assert r.headers["Location"] == f"/v2/team/app/blobs/{sha(data)}"
    assert v2("GET", loc).status_code == 404
    assert v2("GET", f"/v2/team/app/blobs/{sha(data)}").content == data
    # a restart from byte 0 starts the session over (unless no-restart); a wrong digest commits nothing
    loc = v2("POST", "/v2/team/app/blobs/uploads/").headers["Location"]
    assert v2("PATCH", loc, data=b"garbage", headers={"Content-Range": "0-6"}).status_code == 201
    assert v2("PATCH", loc, data=b"abc", headers={"Content-Range": "0-2"}).headers["Range"] == "0-2"
    r = v2("PUT", loc + f"?digest={sha(b'abd')}")
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "DIGEST_INVALID"
    assert v2("HEAD", f"/v2/team/app/blobs/{sha(b'abd')}").status_code == 404
    # cross-repository mount: 201 when the source has it, an upload session otherwise
    r = v2("POST", f"/v2/other/blobs/uploads/?mount={sha(data)}&from=team/app")
    assert r.status_code == 201 and r.headers["Docker-Content-Digest"] == sha(data)
    assert v2("HEAD", f"/v2/other/blobs/{sha(data)}").headers["Content-Length"] == str(len(data))
    r = v2("POST", f"/v2/other/blobs/uploads/?mount={sha(b'none')}&from=team/app")
    assert r.status_code == 202 and v2("DELETE", r.headers["Location"]).status_code == 204
    avail = client(ep).batch_check_layer_availability(repositoryName="other", layerDigests=[sha(data)])["layers"]
    assert avail[0]["layerSize"] == len(data)


def test_quirks_single_patch_and_no_restart(tmp_path):
    with LocalEndpoint(data_dir=tmp_path / "d", part_size=MiB, registry_quirks="single-patch,no-restart") as ep:
        client(ep).create_repository(repositoryName="qq")
        v2 = V2(ep, password_of(ep))
        data = os.urandom(2 * MiB)
        loc = v2("POST", "/v2/qq/blobs/uploads/").headers["Location"]
        assert v2("PATCH", loc, data=data[:MiB], headers={"Content-Range": f"0-{MiB - 1}"}).status_code == 201
        r = v2("PATCH", loc, data=data[:MiB], headers={"Content-Range": f"0-{MiB - 1}"})
        assert r.status_code == 416 and r.json()["errors"][0]["code"] == "BLOB_UPLOAD_INVALID"
        r = v2("PATCH", loc, data=data[MiB:], headers={"Content-Range": f"{MiB}-{2 * MiB - 1}"})
        assert r.status_code == 201 and r.headers["Range"] == f"0-{2 * MiB - 1}"  # accepted ... and dropped
        r = v2("PUT", loc + f"?digest={sha(data)}")
        assert r.status_code == 400 and r.json()["errors"][0]["code"] == "DIGEST_INVALID"
        # pypush's v2 transport still gets every blob in: chunked (1 MiB chunks), it learns and resends whole
        image = make_image([gz_layer(3 * MiB, 1), gz_layer(MiB // 2, 2)])
        with RegistryTransport(ep.host_port, "qq", insecure=True, lookup_credentials=False, chunk_size=MiB,
                               credentials=Credentials("AWS", password_of(ep))) as t:
            result = push(image, t, tags=["t"])
            assert t.resumable is False
        assert result.digest == image.descriptor.digest
        for blob in (image.config, *image.layers):
            got = v2("GET", f"/v2/qq/blobs/{blob.descriptor.digest}").content
            assert sha(got) == blob.descriptor.digest


def test_pypush_cli_against_every_quirk(tmp_path, skopeo):
    with LocalEndpoint(data_dir=tmp_path / "d", registry_quirks="all") as ep:
        client(ep).create_repository(repositoryName="all")
        proc = run_pypush("push", str(FIXTURES / "multiarch.oci") + ":1", f"{ep.host_port}/all:x", "--transport", "v2",
                          "--insecure", "-u", "AWS", "--password-stdin", "--digest-file", str(tmp_path / "d1"),
                          input=password_of(ep), env={"PYPUSH_CACHE_DIR": str(tmp_path / "cache")})
        assert proc.returncode == 0, proc.stderr
        pull_and_check(skopeo, f"{ep.host_port}/all:x", tmp_path / "x",
                       expected_digest=(tmp_path / "d1").read_text().strip())
        # skopeo too: one streamed PATCH per blob, so ECR's one-PATCH sessions hold everything
        skopeo.run("copy", "--all", "--dest-tls-verify=false", "--dest-creds", f"AWS:{password_of(ep)}",
                   f"oci:{FIXTURES / 'docker-list.oci'}", f"docker://{ep.host_port}/all:sk")
        pull_and_check(skopeo, f"{ep.host_port}/all:sk", tmp_path / "sk")


def test_manifests_tags_paging_referrers_and_deletes(ep):
    v2 = V2(ep, password_of(ep))
    subject = v2.put_image("team/app", "base", [b"layer"])
    for tag in ("a", "b", "c"):
        assert v2("PUT", f"/v2/team/app/manifests/{tag}", data=subject,
                  headers={"Content-Type": OCI_MANIFEST}).status_code == 201
    later = v2.put_image("team/app", "c", [b"other layer"])  # the later PUT of a tag wins
    assert v2("GET", "/v2/team/app/manifests/c").content == later
    assert v2("PUT", "/v2/team/app/manifests/c", data=subject, headers={"Content-Type": OCI_MANIFEST}).status_code == 201
    r = v2("GET", "/v2/team/app/tags/list?n=2")
    assert r.json()["tags"] == ["a", "b"] and r.headers["Link"] == '</v2/team/app/tags/list?n=2&last=b>; rel="next"'
    r = v2("GET", "/v2/team/app/tags/list?n=2&last=b")
    assert r.json()["tags"] == ["base", "c"] and "Link" not in r.headers
    # a referrer: OCI-Subject on its PUT; listed by the referrers API, filtered by artifactType
    sbom = {"digest": sha(subject), "mediaType": OCI_MANIFEST, "size": len(subject)}
    ref_raw = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": ARTIFACT,
                          "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": v2.upload("team/app", b"{}"),
                                     "size": 2}, "layers": [], "subject": sbom,
                          "annotations": {"org.example": "yes"}}).encode()
    r = v2("PUT", f"/v2/team/app/manifests/{sha(ref_raw)}", data=ref_raw, headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 201 and r.headers["OCI-Subject"] == sha(subject)
    index = v2("GET", f"/v2/team/app/referrers/{sha(subject)}").json()
    assert index["manifests"] == [{"mediaType": OCI_MANIFEST, "digest": sha(ref_raw), "size": len(ref_raw),
                                   "artifactType": ARTIFACT, "annotations": {"org.example": "yes"}}]
    r = v2("GET", f"/v2/team/app/referrers/{sha(subject)}?artifactType=other/type")
    assert r.json()["manifests"] == [] and r.headers["OCI-Filters-Applied"] == "artifactType"
    r = v2("GET", f"/v2/team/never-pushed/referrers/{sha(subject)}")  # the spec: the referrers API never 404s
    assert (r.status_code, r.headers["Content-Type"], r.json()["manifests"]) == (200, OCI_INDEX, [])
    # manifests naming blobs the repository lacks are refused; a tag DELETE removes the tag only
    bad = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {
        "mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(b"nope"), "size": 4}, "layers": []}).encode()
    r = v2("PUT", "/v2/team/app/manifests/bad", data=bad, headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "MANIFEST_BLOB_UNKNOWN"
    for tag in ("bad%20tag", "-dash", "x" * 129):  # the spec's tag grammar: nothing stored
        r = v2("PUT", f"/v2/team/app/manifests/{tag}", data=subject, headers={"Content-Type": OCI_MANIFEST})
        assert r.status_code == 400 and r.json()["errors"][0]["code"] == "TAG_INVALID", tag
    assert all(t.isalnum() for t in v2("GET", "/v2/team/app/tags/list").json()["tags"])
    assert v2("DELETE", "/v2/team/app/manifests/a").status_code == 202
    assert v2("GET", "/v2/team/app/manifests/a").status_code == 404
    assert v2("GET", f"/v2/team/app/manifests/{sha(subject)}").content == subject
    assert v2("DELETE", f"/v2/team/app/manifests/{sha(subject)}").status_code == 202
    assert v2("GET", "/v2/team/app/manifests/b").status_code == 404
    tags = {d["imageTag"] for d in client(ep).describe_image_tags(repositoryName="team/app")["imageTagDetails"]}
    assert tags == set()
    assert v2("DELETE", "/v2/team/app/manifests/a").json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"


def test_create_on_push_and_the_spec_profile(tmp_path):
    with LocalEndpoint(data_dir=tmp_path / "d", registry_quirks="spec") as ep:
        v2 = V2(ep, password_of(ep))
        raw = v2.put_image("local/made/here", "v1", [b"layer"])  # <alias>/<repo> creates <repo>
        names = [r["repositoryName"] for r in client(ep).describe_repositories()["repositories"]]
        assert names == ["made/here"] and v2("GET", "/v2/made/here/manifests/v1").content == raw
        assert v2("PUT", "/v2/Bad_Name/manifests/x", data=raw).json()["errors"][0]["code"] == "NAME_INVALID"
        # the spec to the letter: 202 on PATCH, no chunk minimum, 416 when a chunk is sent again
        r = v2("POST", "/v2/made/here/blobs/uploads/")
        assert r.status_code == 202 and "OCI-Chunk-Min-Length" not in r.headers
        loc = r.headers["Location"]
        assert v2("PATCH", loc, data=b"ab", headers={"Content-Range": "0-1"}).status_code == 202
        assert v2("PATCH", loc, data=b"ab", headers={"Content-Range": "0-1"}).status_code == 416
        assert v2("PATCH", loc, data=b"cd", headers={"Content-Range": "2-3"}).headers["Range"] == "0-3"
        assert v2("PUT", loc + f"?digest={sha(b'abcd')}").status_code == 201
        # a last chunk PUT out of order: 416 and the session kept, as the conformance suite checks
        loc = v2("POST", "/v2/made/here/blobs/uploads/").headers["Location"]
        assert v2("PATCH", loc, data=b"ab", headers={"Content-Range": "0-1"}).status_code == 202
        r = v2("PUT", loc + f"?digest={sha(b'abcdef')}", data=b"ef", headers={"Content-Range": "4-5"})
        assert r.status_code == 416 and r.json()["errors"][0]["code"] == "BLOB_UPLOAD_INVALID"
        assert v2("GET", loc).headers["Range"] == "0-1"
        assert v2("PUT", loc + f"?digest={sha(b'abcd')}", data=b"cd", headers={"Content-Range": "2-3"}).status_code == 201
    with LocalEndpoint(data_dir=tmp_path / "e", registry_quirks="no-create") as ep:
        r = V2(ep, password_of(ep))("POST", "/v2/nowhere/blobs/uploads/")
        assert r.status_code == 404 and r.json()["errors"][0]["code"] == "NAME_UNKNOWN"
