"""Buyers pull premium images through the premium registry door (skopeo, with the password
GetAuthorizationToken gives a buyer account): only while the repository is AVAILABLE or HIDDEN and lists
one of the buyer's products (the --entitlements stub); never push; and the pulls count in the publisher
reports as the PREMIUM repository's."""
from __future__ import annotations

import base64
import csv
import gzip
import io
import json

import pytest
import requests

from conftest import server_fixture
from endpoint_client import V2, client, gzip_tar_layer, manifest, push_blob, sha
from pypush.server import LocalEndpoint

pytestmark = [pytest.mark.servers, pytest.mark.endpoint_api]

BUYER, STRANGER = "111122223333", "777788889999"
P = {"repositoryType": "PREMIUM"}


def password(ep, account: str = "") -> str:
    c = client(ep, access_key=account) if account else client(ep)
    token = c.get_authorization_token()["authorizationData"]["authorizationToken"]
    user, _, secret = base64.b64decode(token).decode().partition(":")
    assert user == "AWS"
    return secret


def push(c, repo: str, seed: str, tag: str) -> str:
    layer = gzip_tar_layer(f"{seed}.txt", seed.encode() * 100)
    config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed,
                         "rootfs": {"type": "layers", "diff_ids": [sha(gzip.decompress(layer))]}}).encode()
    for blob in (config, layer):
        push_blob(c, repo, blob, **P)
    text = manifest(config, [layer])
    c.put_image(repositoryName=repo, imageManifest=text, imageTag=tag, **P)
    return text


@server_fixture
def shop(tmp_path):
    with LocalEndpoint(data_dir=tmp_path / "data", entitlements={BUYER: ["prod-a"], STRANGER: ["prod-z"]}) as ep:
        c = client(ep)
        c.create_premium_repository(repositoryName="paid/app", marketplaceProducts=["prod-a"])
        yield ep, c


def pull(skopeo, ep, creds: str, ref: str, dest):
    args = ["copy", "-q", "--src-tls-verify=false"] + (["--src-creds", creds] if creds else [])
    return skopeo.run(*args, f"docker://{ep.premium_host_port}/{ref}", f"oci:{dest}:latest", check=False)


def pulled_manifest(dest) -> bytes:
    index = json.loads((dest / "index.json").read_text())
    digest = index["manifests"][0]["digest"]
    return (dest / "blobs" / "sha256" / digest.split(":")[1]).read_bytes()


def test_buyers_pull_what_they_are_entitled_to(shop, skopeo, tmp_path):
    ep, c = shop
    text = push(c, "paid/app", "one", "v1")
    buyer = f"AWS:{password(ep, BUYER)}"
    denied = pull(skopeo, ep, buyer, "local/paid/app:v1", tmp_path / "draft")
    assert denied.returncode != 0 and "entitlement" in denied.stderr  # DRAFT: the owner's only
    c.set_repository_state(repositoryName="paid/app", repositoryType="PREMIUM", state="AVAILABLE")
    assert pull(skopeo, ep, buyer, "local/paid/app:v1", tmp_path / "available").returncode == 0
    assert pulled_manifest(tmp_path / "available") == text.encode()
    c.set_repository_state(repositoryName="paid/app", repositoryType="PREMIUM", state="HIDDEN")
    assert pull(skopeo, ep, buyer, "paid/app:v1", tmp_path / "hidden").returncode == 0
    # A deprecated image stays pullable until its deletion.
    c.set_image_status(repositoryName="paid/app", repositoryType="PREMIUM", imageId={"imageTag": "v1"},
                       status="DEPRECATED", deprecationPeriodDays=90)
    assert pull(skopeo, ep, buyer, "paid/app:v1", tmp_path / "deprecated").returncode == 0
    # Another buyer and anonymous clients get nothing.
    for creds in (f"AWS:{password(ep, STRANGER)}", ""):
        refused = pull(skopeo, ep, creds, "paid/app:v1", tmp_path / "refused")
        assert refused.returncode != 0, creds
    # A product added later entitles its buyers too.
    c.put_premium_repository_products(repositoryName="paid/app", marketplaceProducts=["prod-a", "prod-z"])
    assert pull(skopeo, ep, f"AWS:{password(ep, STRANGER)}", "paid/app:v1", tmp_path / "later").returncode == 0


def test_buyers_never_push_nor_list(shop):
    ep, c = shop
    push(c, "paid/app", "one", "v1")
    c.set_repository_state(repositoryName="paid/app", repositoryType="PREMIUM", state="AVAILABLE")
    v2 = V2(ep, password(ep, BUYER))
    v2.base = ep.premium_url
    assert v2("GET", "/v2/paid/app/manifests/v1").status_code == 200
    r = v2("POST", "/v2/paid/app/blobs/uploads/")
    assert r.status_code == 401 and r.json()["errors"][0]["code"] == "DENIED"
    r = v2("PUT", "/v2/paid/app/manifests/v2", data=b"{}", headers={"Content-Type": "application/json"})
    assert r.status_code == 401 and r.json()["errors"][0]["code"] == "DENIED"
    assert v2("GET", "/v2/_catalog").status_code == 403
    # Through the Bearer flow: the buyer's password buys a pull token that carries the account.
    token = requests.get(f"{ep.premium_url}/token/", auth=("AWS", password(ep, BUYER)), timeout=30).json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{ep.premium_url}/v2/paid/app/manifests/v1", headers=bearer, timeout=30).status_code == 200
    other = requests.get(f"{ep.premium_url}/token/", auth=("AWS", password(ep, STRANGER)), timeout=30).json()["token"]
    r = requests.get(f"{ep.premium_url}/v2/paid/app/manifests/v1", headers={"Authorization": f"Bearer {other}"},
                     timeout=30)
    assert r.status_code == 403 and r.json()["errors"][0]["code"] == "DENIED"
    # On the FREE door a buyer's password is a pull-only credential.
    c.create_repository(repositoryName="free/app")
    free = V2(ep, password(ep, BUYER))
    assert free("POST", "/v2/free/app/blobs/uploads/").status_code == 401
    assert free("GET", "/v2/").status_code == 200


def test_buyer_pulls_count_in_the_publisher_reports(shop, skopeo, tmp_path):
    ep, c = shop
    text = push(c, "paid/app", "one", "v1")
    c.set_repository_state(repositoryName="paid/app", repositoryType="PREMIUM", state="AVAILABLE")
    buyer = f"AWS:{password(ep, BUYER)}"
    for n in range(3):
        assert pull(skopeo, ep, buyer, "paid/app:v1", tmp_path / f"pull{n}").returncode == 0
    reports = c.list_publisher_reports(granularity="WEEKLY")["reports"]
    assert len(reports) == 1
    url = c.get_download_url_for_publisher_report(reportId=reports[0]["reportId"])["downloadUrl"]
    rows = list(csv.DictReader(io.StringIO(gzip.decompress(requests.get(url, timeout=30).content).decode())))
    assert [(r["repository_name"], r["repository_type"], r["image_digest"], r["pulls"]) for r in rows] == [
        ("paid/app", "PREMIUM", sha(text.encode()), "3")]
