"""The premium registry door (the endpoint's second port, named by premiumRegistryUri): pushes and pulls
with the owner's credentials (raw HTTP and skopeo), never anonymously; FREE and PREMIUM twins apart; a
premium push through the ECR API pulled back by skopeo; deletions refused after DRAFT; due images gone."""
from __future__ import annotations

import json

import pytest
import requests

from conftest import server_fixture
from endpoint_client import V2, client, gzip_tar_layer, manifest, password_of, push_blob, sha
from pypush.server import LocalEndpoint

pytestmark = [pytest.mark.servers, pytest.mark.endpoint_api]
P = {"repositoryType": "PREMIUM"}


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@server_fixture
def door(tmp_path):
    clock = Clock()
    with LocalEndpoint(data_dir=tmp_path / "data", clock=clock) as ep:
        c = client(ep)
        c.create_repository(repositoryName="app")
        c.create_premium_repository(repositoryName="app", marketplaceProducts=["prod"])
        yield ep, c, clock


def premium_v2(ep, password: str) -> V2:
    v2 = V2(ep, password)
    v2.base = ep.premium_url
    return v2


def test_registry_uri_is_the_door(door):
    ep, c, _ = door
    uri = c.describe_registries()["registries"][0]["premiumRegistryUri"]
    repo_uri = c.describe_premium_repositories()["repositories"][0]["repositoryUri"]
    assert uri == f"127.0.0.1:{ep.premium_port}/local" and repo_uri == f"{uri}/app"
    assert ep.premium_port != ep.port


def test_owner_pushes_and_pulls_and_the_twins_stay_apart(door):
    ep, c, _ = door
    v2 = premium_v2(ep, password_of(ep))
    raw = v2.put_image("local/app", "v1", layers=[b"premium bytes"])
    digest = sha(raw)
    # The premium repository got it (through either spelling); the FREE twin did not.
    assert [d["imageDigest"] for d in c.describe_images(repositoryName="app", **P)["imageDetails"]] == [digest]
    assert c.describe_images(repositoryName="app")["imageDetails"] == []
    assert v2("GET", "/v2/app/manifests/v1").content == raw
    assert v2("GET", f"/v2/local/app/blobs/{sha(b'premium bytes')}").content == b"premium bytes"
    assert v2("GET", "/v2/app/tags/list").json()["tags"] == ["v1"]
    assert v2("GET", "/v2/_catalog").json()["repositories"] == ["app"]
    free = V2(ep, password_of(ep))
    assert free("GET", "/v2/app/manifests/v1").status_code == 404
    assert free("GET", f"/v2/app/blobs/{sha(b'premium bytes')}").status_code == 404
    # No anonymous access, no anonymous token, no create-on-push, no AWS door on this port.
    anon = requests.get(f"{ep.premium_url}/v2/app/manifests/v1", timeout=30)
    assert anon.status_code == 401 and "Bearer" in anon.headers["Www-Authenticate"]
    assert str(ep.premium_port) in anon.headers["Www-Authenticate"]
    token = requests.get(f"{ep.premium_url}/token", timeout=30).json()["token"]
    denied = requests.get(f"{ep.premium_url}/v2/app/manifests/v1", headers={"Authorization": f"Bearer {token}"},
                          timeout=30)
    assert denied.status_code == 401 and denied.json()["errors"][0]["code"] == "DENIED"
    assert v2("POST", "/v2/other/blobs/uploads/").status_code == 404
    assert c.describe_premium_repositories()["repositories"][0]["repositoryName"] == "app"
    assert requests.post(ep.premium_url + "/", data=b"{}", timeout=30).status_code == 404
    # Deleting by tag or digest: allowed in DRAFT only.
    v2.put_image("app", "v2", layers=[b"more"])
    assert v2("DELETE", "/v2/app/manifests/v2").status_code == 202
    c.set_repository_state(repositoryName="app", repositoryType="PREMIUM", state="AVAILABLE")
    for ref in ("v1", digest):
        r = v2("DELETE", f"/v2/app/manifests/{ref}")
        assert r.status_code == 405 and r.json()["errors"][0]["code"] == "DENIED", r.text
    assert v2("GET", "/v2/app/manifests/v1").status_code == 200


def test_due_images_are_gone_from_the_door(door):
    ep, c, clock = door
    v2 = premium_v2(ep, password_of(ep))
    v2.put_image("app", "v1", layers=[b"old"])
    c.set_repository_state(repositoryName="app", repositoryType="PREMIUM", state="AVAILABLE")
    out = c.set_image_status(repositoryName="app", repositoryType="PREMIUM", imageId={"imageTag": "v1"},
                             status="DEPRECATED", deprecationPeriodDays=90)
    clock.now = out["scheduledDeletionAt"].timestamp() - 1
    assert v2("GET", "/v2/app/manifests/v1").status_code == 200  # buyers may pull until the date
    clock.now += 1
    assert v2("GET", "/v2/app/manifests/v1").status_code == 404


def test_skopeo_pushes_and_pulls_through_the_premium_door(door, skopeo, tmp_path):
    ep, c, _ = door
    creds = f"AWS:{password_of(ep)}"
    # An image pushed through the ECR API with repositoryType=PREMIUM...
    layer = gzip_tar_layer("hello.txt", b"api layer " * 1000)
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers",
                                                                            "diff_ids": [sha(layer)]}}).encode()
    for blob in (config, layer):
        push_blob(c, "app", blob, **P)
    text = manifest(config, [layer])
    c.put_image(repositoryName="app", imageManifest=text, imageTag="api", **P)
    ref = f"{ep.premium_host_port}/local/app"
    # ...skopeo reads back byte for byte with the owner's credentials, and is refused without them.
    raw = skopeo.run("inspect", "--raw", "--tls-verify=false", "--creds", creds, f"docker://{ref}:api").stdout
    assert raw.encode() == text.encode()
    dest = tmp_path / "pulled"
    skopeo.run("copy", "-q", "--src-tls-verify=false", "--src-creds", creds, f"docker://{ref}:api",
               f"oci:{dest}:latest")
    index = json.loads((dest / "index.json").read_text())
    assert index["manifests"][0]["digest"] == sha(text.encode())
    assert (dest / "blobs" / "sha256" / sha(layer).split(":")[1]).read_bytes() == layer
    assert skopeo.run("inspect", "--raw", "--tls-verify=false", f"docker://{ref}:api", check=False).returncode != 0
    # skopeo pushes the layout back under a new tag through the door; the API sees it as PREMIUM.
    skopeo.run("copy", "-q", "--dest-tls-verify=false", "--dest-creds", creds, f"oci:{dest}:latest",
               f"docker://{ref}:copied")
    tags = c.describe_image_tags(repositoryName="app", **P)["imageTagDetails"]
    assert {t["imageTag"]: t["imageDetail"]["imageDigest"] for t in tags} == \
        {"api": sha(text.encode()), "copied": sha(text.encode())}
    assert c.describe_image_tags(repositoryName="app")["imageTagDetails"] == []
