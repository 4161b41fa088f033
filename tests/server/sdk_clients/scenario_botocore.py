"""The SDK scenario through botocore: the reference the JavaScript and Go programs beside this file are
compared with. All three run the same calls in the same order and print the same JSON summary (one
entry per step: what the call returned, or its error as ``failure`` reports it);
``python scenario_botocore.py`` prints it like the others.

Environment: ENDPOINT (http://HOST:PORT), ACCESS_KEY, SECRET_KEY, IMAGE_DIR (layer.tar.gz, config.json,
manifest.json, manifest-config-only.json, logo.png).
"""
from __future__ import annotations

import base64
import datetime
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

DAY = 86400.0


def when(value: Any) -> Any:
    """"date" for a timestamp the SDK parsed into a date within a day of now, else what it is."""
    if isinstance(value, datetime.datetime) and abs(value.timestamp() - time.time()) < DAY:
        return "date"
    return repr(value)


def failure(exc: ClientError) -> Dict[str, Any]:
    """An error as every scenario reports it: code, whether the SDK raised its typed class, status, message."""
    err = exc.response["Error"]
    out = {"error": err["Code"], "typed": type(exc).__name__ == err["Code"],
           "status": exc.response["ResponseMetadata"]["HTTPStatusCode"], "message": err.get("Message", "")}
    for member in ("lastValidByteReceived",):
        if member in exc.response:
            out[member] = exc.response[member]
    return out


def catalog(data: Dict[str, Any]) -> Dict[str, Any]:
    keys = ("description", "aboutText", "usageText", "architectures", "operatingSystems", "logoUrl",
            "marketplaceCertified")
    return {k: data[k] for k in keys if k in data}


def run(env: Dict[str, str]) -> Dict[str, Any]:
    image = Path(env["IMAGE_DIR"])
    layer = (image / "layer.tar.gz").read_bytes()
    config = (image / "config.json").read_bytes()
    manifest = (image / "manifest.json").read_text()
    config_only = (image / "manifest-config-only.json").read_text()
    logo = (image / "logo.png").read_bytes()

    def client(access_key: str = env["ACCESS_KEY"], secret_key: str = env["SECRET_KEY"]) -> Any:
        return botocore.session.get_session().create_client(
            "ecr-public", region_name="us-east-1", endpoint_url=env["ENDPOINT"], aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=Config(parameter_validation=False, retries={"total_max_attempts": 1}))

    c = client()
    out: Dict[str, Any] = {}

    def step(name: str, fn: Callable[[], Any]) -> None:
        try:
            out[name] = fn()
        except ClientError as e:
            out[name] = failure(e)

    def push_blob(repo: str, data: bytes) -> Dict[str, Any]:
        up = c.initiate_layer_upload(repositoryName=repo)
        size = up["partSize"]
        received: List[int] = []
        for first in range(0, len(data), size):
            part = data[first:first + size]
            r = c.upload_layer_part(repositoryName=repo, uploadId=up["uploadId"], partFirstByte=first,
                                    partLastByte=first + len(part) - 1, layerPartBlob=part)
            received.append(r["lastByteReceived"])
        done = c.complete_layer_upload(repositoryName=repo, uploadId=up["uploadId"],
                                       layerDigests=[sha256(data)])
        return {"partSize": size, "lastByteReceived": received, "layerDigest": done["layerDigest"],
                "uploadIdMatches": done["uploadId"] == up["uploadId"]}

    step("GetRegistryCatalogData.initial", lambda: c.get_registry_catalog_data()["registryCatalogData"])
    step("PutRegistryCatalogData", lambda: c.put_registry_catalog_data(displayName="SDK test")["registryCatalogData"])
    step("GetRegistryCatalogData", lambda: c.get_registry_catalog_data()["registryCatalogData"])

    def registries() -> Any:
        r = c.describe_registries()["registries"]
        return [{k: x[k] for k in ("registryId", "registryArn", "registryUri", "verified", "aliases")} for x in r]
    step("DescribeRegistries", registries)

    def create() -> Any:
        r = c.create_repository(repositoryName="app", catalogData={
            "description": "an app", "aboutText": "# About", "usageText": "docker pull", "architectures": ["x86-64"],
            "operatingSystems": ["Linux"], "logoImageBlob": logo}, tags=[{"Key": "team", "Value": "a"}])
        repo = r["repository"]
        return {"repositoryName": repo["repositoryName"], "repositoryUri": repo["repositoryUri"],
                "repositoryArn": repo["repositoryArn"], "registryId": repo["registryId"],
                "createdAt": when(repo["createdAt"]), "catalogData": catalog(r["catalogData"])}
    step("CreateRepository", create)
    step("CreateRepository.again", lambda: c.create_repository(repositoryName="app"))
    step("CreateRepository.invalid", lambda: c.create_repository(repositoryName="Bad Name!"))
    for i in range(5):
        c.create_repository(repositoryName=f"page-{i}")

    def paged() -> Any:
        names, pages, token = [], 0, None
        while True:
            r = c.describe_repositories(maxResults=2, **({"nextToken": token} if token else {}))
            pages += 1
            names += [(x["repositoryName"], when(x["createdAt"])) for x in r["repositories"]]
            token = r.get("nextToken")
            if not token:
                return {"pages": pages, "repositories": [list(n) for n in names]}
    step("DescribeRepositories.paged", paged)
    step("DescribeRepositories.missing", lambda: c.describe_repositories(repositoryNames=["nope"]))

    def token() -> Any:
        data = c.get_authorization_token()["authorizationData"]
        user = base64.b64decode(data["authorizationToken"]).decode().split(":")[0]
        return {"user": user, "expiresAt": "future" if data["expiresAt"].timestamp() > time.time() + 3600 else "past"}
    step("GetAuthorizationToken", token)

    step("pushLayer", lambda: push_blob("app", layer))
    step("pushConfig", lambda: push_blob("app", config))
    step("pushLayer.again", lambda: push_blob("app", layer))

    def out_of_order() -> Any:
        up = c.initiate_layer_upload(repositoryName="app")
        return c.upload_layer_part(repositoryName="app", uploadId=up["uploadId"], partFirstByte=5, partLastByte=7,
                                   layerPartBlob=b"abc")
    step("UploadLayerPart.outOfOrder", out_of_order)

    def check() -> Any:
        r = c.batch_check_layer_availability(repositoryName="app",
                                             layerDigests=[sha256(layer), sha256(config), "sha256:" + "1" * 64])
        return {"layers": r["layers"], "failures": [{k: f[k] for k in ("layerDigest", "failureCode")}
                                                    for f in r["failures"]]}
    step("BatchCheckLayerAvailability", check)

    def put(tag: str, text: str = manifest, repo: str = "app") -> Any:
        img = c.put_image(repositoryName=repo, imageManifest=text, imageTag=tag)["image"]
        return {"imageId": img["imageId"], "imageManifestMediaType": img["imageManifestMediaType"],
                "manifestMatches": img["imageManifest"] == text}
    step("PutImage", lambda: put("v1"))
    step("PutImage.again", lambda: put("v1"))
    step("PutImage.v2", lambda: put("v2"))
    step("PutImage.missingLayers", lambda: put("v1", repo="page-1"))

    def images() -> Any:
        return [{"imageDigest": d["imageDigest"], "imageTags": sorted(d.get("imageTags", [])),
                 "imageSizeInBytes": d["imageSizeInBytes"], "imageManifestMediaType": d["imageManifestMediaType"],
                 "artifactMediaType": d.get("artifactMediaType"), "imagePushedAt": when(d["imagePushedAt"])}
                for d in c.describe_images(repositoryName="app")["imageDetails"]]
    step("DescribeImages", images)

    def image_tags() -> Any:
        return [{"imageTag": t["imageTag"], "createdAt": when(t["createdAt"]),
                 "imageDigest": t["imageDetail"]["imageDigest"],
                 "imagePushedAt": when(t["imageDetail"]["imagePushedAt"])}
                for t in c.describe_image_tags(repositoryName="app")["imageTagDetails"]]
    step("DescribeImageTags", image_tags)

    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "pull", "Effect": "Allow", "Principal": "*", "Action": ["ecr-public:BatchCheckLayerAvailability"]}]})

    def policy_of(r: Dict[str, Any]) -> Any:
        return {"repositoryName": r["repositoryName"], "policy": json.loads(r["policyText"])}
    step("SetRepositoryPolicy", lambda: policy_of(c.set_repository_policy(repositoryName="app", policyText=policy)))
    step("GetRepositoryPolicy", lambda: policy_of(c.get_repository_policy(repositoryName="app")))
    step("DeleteRepositoryPolicy", lambda: policy_of(c.delete_repository_policy(repositoryName="app")))
    step("GetRepositoryPolicy.deleted", lambda: c.get_repository_policy(repositoryName="app"))

    step("PutRepositoryCatalogData", lambda: catalog(c.put_repository_catalog_data(
        repositoryName="app", catalogData={"description": "changed", "architectures": ["ARM 64"]})["catalogData"]))
    step("GetRepositoryCatalogData", lambda: catalog(c.get_repository_catalog_data(repositoryName="app")["catalogData"]))

    arn = "arn:aws:ecr-public::123456789012:repository/app"

    def tags() -> Any:
        return sorted([t["Key"], t["Value"]] for t in c.list_tags_for_resource(resourceArn=arn)["tags"])
    step("TagResource", lambda: c.tag_resource(resourceArn=arn, tags=[{"Key": "env", "Value": "ci"}]) and tags())
    step("UntagResource", lambda: c.untag_resource(resourceArn=arn, tagKeys=["team"]) and tags())
    step("ListTagsForResource.missing", lambda: c.list_tags_for_resource(
        resourceArn="arn:aws:ecr-public::123456789012:repository/nope"))

    def delete_images() -> Any:
        r = c.batch_delete_image(repositoryName="app", imageIds=[{"imageTag": "v2"}, {"imageTag": "gone"}])
        return {"imageIds": r["imageIds"], "failures": [{k: f[k] for k in ("imageId", "failureCode")}
                                                        for f in r["failures"]]}
    step("BatchDeleteImage", delete_images)

    def doomed() -> Any:
        c.create_repository(repositoryName="doomed")
        push_blob("doomed", config)
        return put("only", config_only, "doomed")
    step("PutImage.configOnly", doomed)
    step("DeleteRepository.notEmpty", lambda: c.delete_repository(repositoryName="doomed"))
    step("DeleteRepository.force", lambda: c.delete_repository(repositoryName="doomed", force=True)["repository"]
         ["repositoryName"])
    step("DeleteRepository.empty", lambda: c.delete_repository(repositoryName="page-0")["repository"]["repositoryName"])
    step("DeleteRepository.missing", lambda: c.delete_repository(repositoryName="page-0"))

    step("Signature.wrongSecret", lambda: client(secret_key="not-the-secret").describe_registries())
    step("Signature.unknownKey", lambda: client(access_key="AKIDUNKNOWN").describe_registries())
    r = c.describe_registries()["ResponseMetadata"]
    out["requestId"] = bool(r.get("RequestId"))
    return out


def sha256(data: bytes) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(data).hexdigest()


if __name__ == "__main__":
    json.dump(run(dict(os.environ)), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
