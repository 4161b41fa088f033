"""Repository policies enforced by the registry door: a write whose ECR Public actions a policy denies to every
principal answers 403 DENIED and stores nothing (raw HTTP and skopeo), on the FREE door and the premium door;
reads stay open; deleting the policy lets the same push through."""
from __future__ import annotations

import json

import pytest

from conftest import FIXTURES, run_pypush, server_fixture
from endpoint_client import OCI_MANIFEST, V2, client, password_of, sha
from pullcheck import pull_and_check
from pypush.server import LocalEndpoint

pytestmark = [pytest.mark.servers, pytest.mark.endpoint_api]


def policy(*actions: str, principal=None) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "NoPush", "Effect": "Deny", "Principal": principal or "*", "Action": list(actions)}]})


@server_fixture
def ep(tmp_path):
    with LocalEndpoint(data_dir=tmp_path / "data") as e:
        c = client(e)
        c.create_repository(repositoryName="app")
        yield e


def denied(r, action: str) -> None:
    assert r.status_code == 403, (r.status_code, r.text)
    error = r.json()["errors"][0]
    assert error["code"] == "DENIED" and f"ecr-public:{action}" in error["message"], error
    assert "explicit deny in a resource-based policy" in error["message"]


def test_each_write_is_refused_by_the_action_it_takes_and_reads_stay_open(ep):
    c, v2 = client(ep), V2(ep, password_of(ep))
    raw = v2.put_image("app", "v1", layers=[b"first layer"])
    blob = b"a new blob"
    c.set_repository_policy(repositoryName="app", policyText=policy("ecr-public:PutImage", "ecr-public:BatchDelete*"))
    # Blobs still go in (their actions are not denied); the manifest PUT is PutImage, DELETE BatchDeleteImage.
    assert v2.upload("app", blob) == sha(blob)
    denied(v2("PUT", "/v2/app/manifests/v2", data=raw, headers={"Content-Type": OCI_MANIFEST}), "PutImage")
    denied(v2("PUT", f"/v2/local/app/manifests/{sha(raw)}", data=raw, headers={"Content-Type": OCI_MANIFEST}),
           "PutImage")
    denied(v2("DELETE", f"/v2/app/manifests/{sha(raw)}"), "BatchDeleteImage")
    denied(v2("DELETE", "/v2/app/manifests/v1"), "BatchDeleteImage")
    assert sorted(t["imageTag"] for t in c.describe_image_tags(repositoryName="app")["imageTagDetails"]) == ["v1"]
    assert v2("GET", "/v2/app/manifests/v1").content == raw  # reads are not judged
    assert v2("HEAD", f"/v2/app/blobs/{sha(blob)}").status_code == 200

    # UploadLayerPart denied: a session opens (InitiateLayerUpload), its PATCH and a monolithic POST are refused.
    c.set_repository_policy(repositoryName="app", policyText=policy("ecr-public:UploadLayerPart"))
    start = v2("POST", "/v2/app/blobs/uploads/")
    assert start.status_code == 202
    denied(v2("PATCH", start.headers["Location"], data=b"chunk", headers={"Content-Range": "0-4"}), "UploadLayerPart")
    denied(v2("PUT", start.headers["Location"] + f"?digest={sha(b'chunk')}", data=b"chunk"), "UploadLayerPart")
    denied(v2("POST", f"/v2/app/blobs/uploads/?digest={sha(b'other')}", data=b"other"), "UploadLayerPart")
    assert v2("HEAD", f"/v2/app/blobs/{sha(b'other')}").status_code == 404

    # InitiateLayerUpload denied: no session opens, no blob mounts.
    c.set_repository_policy(repositoryName="app", policyText=policy("ecr-public:InitiateLayerUpload"))
    denied(v2("POST", "/v2/app/blobs/uploads/"), "InitiateLayerUpload")
    denied(v2("POST", f"/v2/app/blobs/uploads/?mount={sha(blob)}&from=app"), "InitiateLayerUpload")
    c.delete_repository_policy(repositoryName="app")
    assert v2.put_image("app", "v2", layers=[b"after the policy"])


def test_a_policy_for_named_principals_or_with_a_condition_does_not_refuse(ep):
    c, v2 = client(ep), V2(ep, password_of(ep))
    c.set_repository_policy(repositoryName="app", policyText=policy(
        "ecr-public:*", principal={"AWS": "arn:aws:iam::111122223333:root"}))
    assert v2.put_image("app", "named", layers=[b"named principal"])
    text = json.loads(policy("ecr-public:*"))
    text["Statement"][0]["Condition"] = {"StringEquals": {"aws:PrincipalAccount": "111122223333"}}
    c.set_repository_policy(repositoryName="app", policyText=json.dumps(text))
    assert v2.put_image("app", "conditioned", layers=[b"with a condition"])


def test_skopeo_push_is_refused_then_goes_through_once_the_policy_is_gone(ep, skopeo, tmp_path):
    c = client(ep)
    creds = f"AWS:{password_of(ep)}"
    c.set_repository_policy(repositoryName="app", policyText=policy("ecr-public:*"))
    ref = f"{ep.host_port}/local/app:v1"
    source = f"oci:{FIXTURES / 'docker-list.oci'}"
    refused = skopeo.run("copy", "--all", "--dest-tls-verify=false", "--dest-creds", creds, source, f"docker://{ref}",
                         check=False)
    assert refused.returncode != 0 and "denied" in refused.stderr.lower(), refused.stderr
    assert c.describe_images(repositoryName="app")["imageDetails"] == []
    c.delete_repository_policy(repositoryName="app")
    skopeo.run("copy", "--all", "--dest-tls-verify=false", "--dest-creds", creds, source, f"docker://{ref}")
    raw = skopeo.inspect_raw(ref)
    assert raw == (FIXTURES / "docker-list.oci" / "blobs" / "sha256" / sha(raw).split(":")[1]).read_bytes()
    pull_and_check(skopeo, ref, tmp_path / "pulled", expected_digest=sha(raw))
    assert [d["imageDigest"] for d in c.describe_images(repositoryName="app")["imageDetails"]
            if d.get("imageTags") == ["v1"]] == [sha(raw)]


def test_the_premium_door_enforces_the_premium_repositorys_policy(tmp_path):
    with LocalEndpoint(data_dir=tmp_path / "data") as ep:
        c = client(ep)
        c.create_repository(repositoryName="app")
        c.create_premium_repository(repositoryName="app", marketplaceProducts=["prod"])
        c.set_premium_repository_policy(repositoryName="app", policyText=policy("ecr-public:PutImage"))
        premium = V2(ep, password_of(ep))
        premium.base = ep.premium_url
        free = V2(ep, password_of(ep))
        raw = free.put_image("app", "v1", layers=[b"twin layer"])  # the FREE twin has no policy
        for blob in (b"twin layer", json.loads(raw)["config"]):
            if isinstance(blob, dict):  # the config: copy it over the premium door (its actions are allowed)
                blob = free("GET", f"/v2/app/blobs/{blob['digest']}").content
            premium.upload("app", blob)
        denied(premium("PUT", "/v2/app/manifests/v1", data=raw, headers={"Content-Type": OCI_MANIFEST}), "PutImage")
        assert c.describe_images(repositoryName="app", repositoryType="PREMIUM")["imageDetails"] == []
        c.delete_premium_repository_policy(repositoryName="app")
        r = premium("PUT", "/v2/app/manifests/v1", data=raw, headers={"Content-Type": OCI_MANIFEST})
        assert r.status_code == 201 and r.headers["Docker-Content-Digest"] == sha(raw)


def test_a_v2_push_the_policy_denies_fails_naming_the_policy_not_the_password(ep):
    c = client(ep)
    c.set_repository_policy(repositoryName="app", policyText=policy("ecr-public:PutImage"))
    proc = run_pypush("push", f"oci:{FIXTURES / 'small.oci'}", f"{ep.host_port}/app:2", "--insecure", "-u", "AWS",
                      "--password-stdin", input=password_of(ep) + "\n")
    assert proc.returncode == 5, proc.stderr
    assert "403 DENIED" in proc.stderr and "ecr-public:PutImage" in proc.stderr
    assert "the repository's policy denies it" in proc.stderr and "password" not in proc.stderr
    assert c.describe_images(repositoryName="app")["imageDetails"] == []
