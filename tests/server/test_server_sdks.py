"""The local endpoint through AWS SDKs written in other languages: the AWS SDK for JavaScript v3
(@aws-sdk/client-ecr-public, on node) and the AWS SDKs for Go v1 and v2 (service/ecrpublic, Debian's
golang-github-aws-aws-sdk-go-dev and golang-github-aws-aws-sdk-go-v2-dev, built offline). Each runs tests/sdk_clients/'s scenario, every ECR Public
operation and the typed errors, against a LocalEndpoint that checks SigV4 signatures; its JSON summary must
equal botocore's for the same calls, and skopeo pulls the image it pushed back by digest."""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict

import pytest

from conftest import REPO_ROOT, server_fixture
from imagegen import random_bytes, tar_layer
from pullcheck import pull_and_check

sys.path.insert(0, str(Path(__file__).parent / "sdk_clients"))
import scenario_botocore  # noqa: E402

pytestmark = pytest.mark.servers

CLIENTS = Path(__file__).parent / "sdk_clients"
JS_SDK = "@aws-sdk/client-ecr-public@3.1108.0"
"""Pinned: the npm package the JavaScript scenario runs with (installed once per test session)."""
GOCODE = Path("/usr/share/gocode")
"""Where Debian's golang-*-dev packages put Go sources (a GOPATH: the programs build with no network)."""
GO_SDKS = {"v1": "src/github.com/aws/aws-sdk-go/service/ecrpublic",
           "v2": "src/github.com/aws/aws-sdk-go-v2/service/ecrpublic"}
ACCESS_KEY, SECRET_KEY = "AKIDSDKSCENARIO", "sdk-scenario-secret"
LAYER_SIZE = 12 * 1024 * 1024 + 4321
"""Above the endpoint's 10 MiB part size: two UploadLayerPart calls, the first a 14 MB JSON body."""


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory) -> Path:
    return write_image(tmp_path_factory.mktemp("sdk-image"))


def write_image(out: Path) -> Path:
    """A real image for the scenarios: a gzipped tar layer, its config, the manifest, a config-only manifest."""
    tar = tar_layer([("etc/hello.txt", b"hello from the SDK scenario\n"),
                     ("opt/blob.bin", random_bytes(LAYER_SIZE, seed=7))])
    layer = gzip.compress(tar, compresslevel=1, mtime=0)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                         "rootfs": {"type": "layers", "diff_ids": [sha256(tar)]}}).encode()
    cdesc = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(config), "size": len(config)}
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": cdesc,
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha256(layer),
                            "size": len(layer)}]}
    (out / "layer.tar.gz").write_bytes(layer)
    (out / "config.json").write_bytes(config)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    (out / "manifest-config-only.json").write_text(json.dumps({**manifest, "layers": []}, indent=2))
    (out / "logo.png").write_bytes(bytes.fromhex(
        "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cf"
        "c0f01f0005000201a1e5e0f30000000049454e44ae426082"))
    return out


def scenario_env(ep, image_dir: Path) -> Dict[str, str]:
    return {"ENDPOINT": ep.url, "ACCESS_KEY": ACCESS_KEY, "SECRET_KEY": SECRET_KEY, "IMAGE_DIR": str(image_dir)}


@server_fixture
def keyed_endpoint(tmp_path):
    """A LocalEndpoint that verifies every request's SigV4 signature against one key pair."""
    from pypush.server import LocalEndpoint

    with LocalEndpoint(data_dir=tmp_path / "ecr-data", access_key=ACCESS_KEY, secret_key=SECRET_KEY) as ep:
        yield ep


@server_fixture
def served_endpoint(tmp_path):
    """``pypush serve`` in its own process, keys from its environment: the endpoint as a user runs it."""
    env = {**os.environ, "PYPUSH_SERVE_ACCESS_KEY": ACCESS_KEY, "PYPUSH_SERVE_SECRET_KEY": SECRET_KEY}
    proc = subprocess.Popen([sys.executable, "-m", "pypush", "serve", "--data", str(tmp_path / "served")],
                            cwd=str(REPO_ROOT), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), proc.stderr.read()
        host_port = url[len("http://"):]
        yield SimpleNamespace(url=url, host_port=host_port, port=int(host_port.rsplit(":", 1)[1]))
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


@server_fixture(scope="module")
def reference(tmp_path_factory, image_dir) -> Dict[str, Any]:
    """botocore's summary of the scenario, on an endpoint of its own."""
    from pypush.server import LocalEndpoint

    with LocalEndpoint(data_dir=tmp_path_factory.mktemp("botocore-ecr"), access_key=ACCESS_KEY,
                       secret_key=SECRET_KEY) as ep:
        return scenario_botocore.run(scenario_env(ep, image_dir))


# -- the SDKs, built or installed once per session -----------------------------------------------
def _child_env(home: Path, **extra: str) -> Dict[str, str]:
    """The environment an SDK program runs in: no AWS settings, proxies or home of the developer's."""
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith("AWS_") and not k.lower().endswith("_proxy") and k not in ("HOME", "NODE_OPTIONS")}
    return {**keep, "HOME": str(home), **extra}


@pytest.fixture(scope="session")
def js_sdk(tmp_path_factory) -> Dict[str, str]:
    """NODE_PATH reaching @aws-sdk/client-ecr-public, npm-installed into a session temp dir."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are not installed (on plain Debian: packages nodejs npm): the JavaScript SDK "
                    "is not tested")
    prefix = tmp_path_factory.mktemp("aws-sdk-js")
    proc = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix", str(prefix),
                           JS_SDK], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"npm install {JS_SDK} failed: {proc.stderr[-2000:]}"
    return {"NODE_PATH": str(prefix / "node_modules"), "NODE_NO_WARNINGS": "1"}


class GoBuilder:
    """Builds tests/sdk_clients/scenario_go* offline in GOPATH mode against Debian's Go SDK sources, with one
    GOCACHE for the session."""

    def __init__(self, go: str, root: Path):
        self.go, self.root = go, root
        shutil.copytree(CLIENTS / "scenariokit", root / "src" / "scenariokit")  # what the scenarios share
        self.env = _child_env(root, GO111MODULE="off", GOPATH=f"{root}:{GOCODE}", GOCACHE=str(root / "cache"),
                              GOFLAGS="", GOPROXY="off", CGO_ENABLED="0")

    def build(self, name: str) -> Path:
        shutil.copytree(CLIENTS / name, self.root / "src" / name)
        proc = subprocess.run([self.go, "build", "-o", str(self.root / name), name], cwd=self.root, env=self.env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"go build of {name} failed: {proc.stderr[-3000:]}"
        return self.root / name


@pytest.fixture(scope="session")
def go_builder(tmp_path_factory) -> GoBuilder:
    go = shutil.which("go")
    if go is None:
        pytest.skip("go is not installed (Debian package golang-go): the Go SDKs are not tested")
    return GoBuilder(go, tmp_path_factory.mktemp("gopath"))


@pytest.fixture(scope="session")
def go_v1_scenario(go_builder) -> Path:
    if not (GOCODE / GO_SDKS["v1"]).is_dir():
        pytest.skip("the AWS SDK for Go sources are missing (Debian package golang-github-aws-aws-sdk-go-dev)")
    return go_builder.build("scenario_go")


@pytest.fixture(scope="session")
def go_v2_scenario(go_builder) -> Path:
    if not (GOCODE / GO_SDKS["v2"]).is_dir():
        pytest.skip("the AWS SDK for Go v2 sources are missing (Debian package golang-github-aws-aws-sdk-go-v2-dev)")
    return go_builder.build("scenario_go_v2")


# -- what every summary must say, whoever ran it -------------------------------------------------
ERRORS = {
    "CreateRepository.again": "RepositoryAlreadyExistsException",
    "CreateRepository.invalid": "InvalidParameterException",
    "DescribeRepositories.missing": "RepositoryNotFoundException",
    "pushLayer.again": "LayerAlreadyExistsException",
    "UploadLayerPart.outOfOrder": "InvalidLayerPartException",
    "PutImage.again": "ImageAlreadyExistsException",
    "PutImage.missingLayers": "LayersNotFoundException",
    "GetRepositoryPolicy.deleted": "RepositoryPolicyNotFoundException",
    "ListTagsForResource.missing": "RepositoryNotFoundException",
    "DeleteRepository.notEmpty": "RepositoryNotEmptyException",
    "DeleteRepository.missing": "RepositoryNotFoundException",
    "Signature.wrongSecret": "InvalidSignatureException",
    "Signature.unknownKey": "UnrecognizedClientException",
}
UNMODELED = {"InvalidSignatureException", "UnrecognizedClientException"}
"""Errors of the AWS front door, not in the ECR Public model: every SDK raises its generic service error."""


def _dates(value: Any) -> list:
    """Every timestamp field's value in a summary."""
    if isinstance(value, dict):
        return [v for k, v in value.items() if k in ("createdAt", "imagePushedAt") and isinstance(v, str)] + \
            [d for v in value.values() for d in _dates(v)]
    if isinstance(value, list):
        return [d for v in value for d in _dates(v)]
    return []


def check_summary(summary: Dict[str, Any], image_dir: Path) -> None:
    """The scenario's own expectations: the typed errors, dates, the pushed digests."""
    for step, code in ERRORS.items():
        got = summary[step]
        assert isinstance(got, dict) and got.get("error") == code, f"{step}: {got}"
        assert got["typed"] == (code not in UNMODELED), f"{step}: the SDK's exception class for {code}: {got}"
        assert got["status"] == 400 and got["message"], f"{step}: {got}"
    failed = sorted(k for k, v in summary.items() if isinstance(v, dict) and "error" in v and k not in ERRORS)
    assert not failed, {k: summary[k] for k in failed}
    assert summary["UploadLayerPart.outOfOrder"]["lastValidByteReceived"] == -1
    dates = _dates(summary) + [r[1] for r in summary["DescribeRepositories.paged"]["repositories"]]
    assert len(dates) == 12 and set(dates) == {"date"}, dates
    assert summary["GetAuthorizationToken"] == {"user": "AWS", "expiresAt": "future"}
    layer = (image_dir / "layer.tar.gz").read_bytes()
    assert summary["pushLayer"]["layerDigest"] == sha256(layer)
    assert summary["pushLayer"]["lastByteReceived"] == [10 * 1024 * 1024 - 1, len(layer) - 1]
    assert summary["PutImage"]["imageId"]["imageDigest"] == sha256((image_dir / "manifest.json").read_bytes())
    assert summary["DescribeRepositories.paged"]["pages"] == 3
    assert summary["requestId"] is True


def test_botocore_reference_says_what_the_scenario_expects(reference, image_dir):
    check_summary(reference, image_dir)


def run_scenario(cmd: list, ep, image_dir: Path, home: Path, **extra: str) -> Dict[str, Any]:
    proc = subprocess.run(cmd, env=_child_env(home, **scenario_env(ep, image_dir), **extra), capture_output=True,
                          text=True, timeout=180)
    assert proc.returncode == 0, f"{cmd[-1]} failed: {proc.stderr[-3000:]}"
    return json.loads(proc.stdout)


def same_as_botocore(summary: Dict[str, Any], reference: Dict[str, Any]) -> None:
    diff = {k: {"botocore": reference.get(k), "sdk": summary.get(k)} for k in sorted(set(summary) | set(reference))
            if summary.get(k) != reference.get(k)}
    assert not diff, json.dumps(diff, indent=1)[:6000]


def pulled_back(skopeo, ep, image_dir: Path, dest: Path) -> None:
    """skopeo pulls the image the scenario left in ``app:v1`` and checks every blob."""
    expected = sha256((image_dir / "manifest.json").read_bytes())
    got = pull_and_check(skopeo, f"{ep.host_port}/app:v1", dest, expected_digest=expected)
    assert got["digest"] == expected and len(got["diff_ids"]) == 1


@pytest.mark.parametrize("bodies", ["sized", "stream"])
def test_javascript_sdk_v3(bodies, js_sdk, keyed_endpoint, reference, image_dir, skopeo, tmp_path):
    """``stream``: every body chunked, behind ``Expect: 100-continue``, signed as UNSIGNED-PAYLOAD (each
    call answered 411 before the endpoint took chunked bodies); endpoint and region from the environment."""
    where = {"AWS_ENDPOINT_URL_ECR_PUBLIC": keyed_endpoint.url, "AWS_REGION": "eu-west-3"} if bodies == "stream" else {}
    summary = run_scenario(["node", str(CLIENTS / "scenario_js.cjs")], keyed_endpoint, image_dir, tmp_path,
                           BODIES=bodies, **where, **js_sdk)
    check_summary(summary, image_dir)
    same_as_botocore(summary, reference)
    pulled_back(skopeo, keyed_endpoint, image_dir, tmp_path / "pulled")


def test_javascript_sdk_corrects_a_slow_clock(js_sdk, keyed_endpoint, tmp_path):
    """A client two hours slow is refused in the service's words; the SDK takes the time from the answer's
    Date header and its retry is signed right."""
    proc = subprocess.run(["node", str(CLIENTS / "clock_skew_js.cjs")], capture_output=True, text=True, timeout=60,
                          env=_child_env(tmp_path, ENDPOINT=keyed_endpoint.url, ACCESS_KEY=ACCESS_KEY,
                                         SECRET_KEY=SECRET_KEY, **js_sdk))
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout)
    assert got["refused"]["error"] == "InvalidSignatureException", got
    assert got["refused"]["message"].startswith("Signature expired: "), got
    assert got["retried"] == {"attempts": 2, "registryId": "123456789012"}


def test_go_sdk_v1(go_v1_scenario, keyed_endpoint, reference, image_dir, skopeo, tmp_path):
    """Its layer parts go behind a signed ``Expect: 100-continue`` (refused as InvalidSignatureException while
    the endpoint canonicalised with botocore's rules, which leave expect out)."""
    summary = run_scenario([str(go_v1_scenario)], keyed_endpoint, image_dir, tmp_path)
    check_summary(summary, image_dir)
    same_as_botocore(summary, reference)
    pulled_back(skopeo, keyed_endpoint, image_dir, tmp_path / "pulled")


def test_go_sdk_v2(go_v2_scenario, served_endpoint, reference, image_dir, skopeo, tmp_path):
    """Against ``pypush serve`` itself, its keys given in PYPUSH_SERVE_ACCESS_KEY / PYPUSH_SERVE_SECRET_KEY."""
    summary = run_scenario([str(go_v2_scenario)], served_endpoint, image_dir, tmp_path)
    check_summary(summary, image_dir)
    same_as_botocore(summary, reference)
    pulled_back(skopeo, served_endpoint, image_dir, tmp_path / "pulled")
