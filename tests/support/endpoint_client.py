"""Clients of the local endpoint (pypush.server) shared by the server, gallery and management tests: a stock
boto3 client, ECR API pushes of blobs and images, manifest/index builders, the ECR login password and a raw
/v2/ client with it, and the CLI run against the endpoint."""
from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import io
import json
import sys
import tarfile
import types
from typing import Any, Dict, Optional, Sequence

import boto3
import botocore.session
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import run_pypush
from pypush import apimodels
from pypush.cli.main import main


MiB = 1024 * 1024


DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def client(ep, service: str = "ecr-public", **kw: Any):
    """A stock boto3 client for the endpoint, on pypush's pinned API models (so an older installed botocore
    still calls every operation); client-side validation off so the server's is tested."""
    session = boto3.Session(botocore_session=apimodels.add_to_session(botocore.session.get_session()))
    return session.client(
        service, endpoint_url=ep.url, region_name=kw.pop("region_name", "us-east-1"),
        aws_access_key_id=kw.pop("access_key", "x"), aws_secret_access_key=kw.pop("secret_key", "y"),
        config=Config(parameter_validation=False, retries={"total_max_attempts": 1}), **kw,
    )


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def error_of(call, **kwargs: Any) -> Dict[str, Any]:
    """The parsed error response of a call that must fail."""
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return info.value.response


def code_of(call, **kwargs: Any) -> str:
    return error_of(call, **kwargs)["Error"]["Code"]


def push_blob(c, repo: str, data: bytes, part_size: Optional[int] = None, **extra: Any) -> str:
    """InitiateLayerUpload / UploadLayerPart* / CompleteLayerUpload; returns the digest."""
    up = c.initiate_layer_upload(repositoryName=repo, **extra)
    size = part_size or up["partSize"]
    for first in range(0, len(data), size):
        part = data[first : first + size]
        r = c.upload_layer_part(repositoryName=repo, uploadId=up["uploadId"], partFirstByte=first,
                                partLastByte=first + len(part) - 1, layerPartBlob=part, **extra)
        assert r["lastByteReceived"] == first + len(part) - 1
    done = c.complete_layer_upload(repositoryName=repo, uploadId=up["uploadId"], layerDigests=[sha(data)], **extra)
    assert done["layerDigest"] == sha(data)
    return done["layerDigest"]


def manifest(config: bytes, layers: Sequence[bytes], media_type: str = OCI_MANIFEST, **extra: Any) -> str:
    oci = media_type == OCI_MANIFEST
    doc: Dict[str, Any] = {
        "schemaVersion": 2, "mediaType": media_type,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json" if oci
                   else "application/vnd.docker.container.image.v1+json", "digest": sha(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip" if oci
                    else "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": sha(l), "size": len(l)}
                   for l in layers],
    }
    doc.update(extra)
    return json.dumps(doc, indent=2)


def index(children: Sequence[str], media_type: str = OCI_INDEX, child_type: str = OCI_MANIFEST) -> str:
    return json.dumps({"schemaVersion": 2, "mediaType": media_type, "manifests": [
        {"mediaType": child_type, "digest": sha(m.encode()), "size": len(m.encode()),
         "platform": {"architecture": arch, "os": "linux"}} for m, arch in zip(children, ["amd64", "arm64", "s390x"])]})


def push_image(c, repo: str, layers: Sequence[bytes], tag: Optional[str] = "v1", media_type: str = OCI_MANIFEST,
               seed: str = "") -> str:
    """Blobs then manifest; returns the manifest text."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed,
                         "rootfs": {"type": "layers", "diff_ids": [sha(l) for l in layers]}}).encode()
    for blob in (config, *layers):
        if not c.batch_check_layer_availability(repositoryName=repo, layerDigests=[sha(blob)])["layers"]:
            push_blob(c, repo, blob)
    text = manifest(config, layers, media_type)
    c.put_image(repositoryName=repo, imageManifest=text, **({"imageTag": tag} if tag else {}))
    return text


EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"


def put_artifact(c, repo: str, artifact_type: str, payload: bytes, subject: str = "", config_type: str = "",
                 tag: str = "") -> str:
    """An OCI artifact manifest (empty config unless ``config_type``), optionally referring to ``subject``
    (a manifest text of the same repository); returns its digest."""
    config = b"{}" if not config_type else json.dumps({"name": "chart", "version": "1.0.0"}).encode()
    for blob in (config, payload):
        if not c.batch_check_layer_availability(repositoryName=repo, layerDigests=[sha(blob)])["layers"]:
            push_blob(c, repo, blob)
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
           "config": {"mediaType": config_type or EMPTY_CONFIG, "digest": sha(config), "size": len(config)},
           "layers": [{"mediaType": artifact_type, "digest": sha(payload), "size": len(payload)}]}
    if not config_type:
        doc["artifactType"] = artifact_type
    if subject:
        doc["subject"] = {"mediaType": OCI_MANIFEST, "digest": sha(subject.encode()), "size": len(subject.encode())}
    text = json.dumps(doc)
    c.put_image(repositoryName=repo, imageManifest=text, **({"imageTag": tag} if tag else {}))
    return sha(text.encode())


def gzip_tar_layer(name: str, payload: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mtime = len(payload), 0
        tar.addfile(info, io.BytesIO(payload))
    return gzip.compress(buf.getvalue(), compresslevel=1, mtime=0)


def password_of(ep, service: str = "ecr-public") -> str:
    data = client(ep, service).get_authorization_token()["authorizationData"]
    token = (data[0] if isinstance(data, list) else data)["authorizationToken"]
    user, _, password = base64.b64decode(token).decode().partition(":")
    assert user == "AWS"
    return password


class V2:
    """A raw HTTP client of /v2/ with Basic ``AWS:<password>``."""

    def __init__(self, ep, password: str):
        self.base = ep.url
        self.s = requests.Session()
        self.s.auth = ("AWS", password)

    def __call__(self, method: str, path: str, **kw) -> requests.Response:
        return self.s.request(method, self.base + path, timeout=60, **kw)

    def upload(self, repo: str, data: bytes) -> str:
        r = self("POST", f"/v2/{repo}/blobs/uploads/?digest={sha(data)}", data=data)
        assert r.status_code == 201, r.text
        return sha(data)

    def put_image(self, repo: str, ref: str, layers=(), **extra) -> bytes:
        config = json.dumps({"architecture": "amd64", "os": "linux", "n": ref}).encode()
        descs = [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": self.upload(repo, l),
                  "size": len(l)} for l in layers]
        doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json", "digest": self.upload(repo, config),
            "size": len(config)}, "layers": descs, **extra}
        raw = json.dumps(doc).encode()
        r = self("PUT", f"/v2/{repo}/manifests/{ref}", data=raw, headers={"Content-Type": OCI_MANIFEST})
        assert r.status_code == 201 and r.headers["Docker-Content-Digest"] == sha(raw), r.text
        return raw


def cli(endpoint, *args: str, columns: Optional[int] = None, stdin: str = "", subprocess: bool = False):
    """Run ``pypush ARGS --endpoint-url URL``: in this process (pypush.cli.main.main, fast) or, with
    ``subprocess``, as users do; returns an object with returncode, stdout and stderr."""
    argv = [*args, "--endpoint-url", endpoint.url]
    if subprocess:
        return run_pypush(*argv, env={"COLUMNS": str(columns)} if columns else None, input=stdin, timeout=120)
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        if columns:
            mp.setenv("COLUMNS", str(columns))
        else:
            mp.delenv("COLUMNS", raising=False)
        mp.setattr(sys, "stdin", io.StringIO(stdin))
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    return types.SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


def cli_json(endpoint, *args: str, subprocess: bool = False):
    proc = cli(endpoint, *args, "--format", "json", subprocess=subprocess)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)
