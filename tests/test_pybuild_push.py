"""`pypush build` pushed to registries: docker-registry (v2, no referrers API: the SBOM goes under the
``sha256-<hex>`` tag fallback) and `pypush serve` through the ECR API; skopeo pulls back equal digests."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import pybuild_helpers as h  # noqa: E402

from conftest import run_pypush  # noqa: E402

PROJECTS = Path(__file__).parent / "projects"
pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mmdebstrap"),
                                reason="needs root and mmdebstrap (.ci/run installs them)")


@pytest.fixture(scope="session")
def base() -> Path:
    return h.base_layout()


def _build(project: Path, dest: str, base: Path, *extra: str) -> dict:
    proc = run_pypush("build", str(project), dest, "--base", f"oci:{base}:bookworm", "--platform", "linux/arm64",
                      "--format", "json", *extra, env={"SOURCE_DATE_EPOCH": "1700000000"})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _digest(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def test_build_into_docker_registry_with_sbom_tag_fallback(base, tmp_path, docker_registry, skopeo):
    project = tmp_path / "hello"
    shutil.copytree(PROJECTS / "hello", project)
    result = _build(project, f"{docker_registry.host}/hello:1", base, "--insecure")
    raw = skopeo.inspect_raw(f"{docker_registry.host}/hello:1")
    assert _digest(raw) == result["digest"]
    pulled = skopeo.pull_oci(f"{docker_registry.host}/hello:1", tmp_path / "pulled")
    assert json.loads((pulled / "index.json").read_text())["manifests"][0]["digest"] == result["digest"]
    fallback = json.loads(skopeo.inspect_raw(f"{docker_registry.host}/hello:{result['digest'].replace(':', '-')}"))
    assert [m["digest"] for m in fallback["manifests"]] == result["referrers"]
    sbom = json.loads(skopeo.inspect_raw(f"{docker_registry.host}/hello@{result['referrers'][0]}"))
    assert sbom["subject"]["digest"] == result["digest"] and sbom["artifactType"] == "application/spdx+json"

    cli = project / "src/hello/cli.py"  # an app-only change moves only the app layer, config and manifests
    cli.write_text(cli.read_text().replace('f"hello ', 'f"hi '))
    second = _build(project, f"{docker_registry.host}/hello:2", base, "--insecure")
    app_layer = json.loads(skopeo.inspect_raw(f"{docker_registry.host}/hello:2"))["layers"][-1]["size"]
    assert second["blobs_pushed"] == 3  # app layer, config, SBOM document (the empty config is there)
    assert second["bytes_pushed"] < app_layer + 20_000


def test_build_into_local_endpoint_through_ecr_api(base, tmp_path, endpoint, skopeo):
    project = tmp_path / "tool"
    shutil.copytree(PROJECTS / "tool", project)
    result = _build(project, "public.ecr.aws/local/tool:1", base, "--endpoint-url", endpoint.url,
                    "--create-repository")
    assert _digest(skopeo.inspect_raw(f"{endpoint.host_port}/tool:1")) == result["digest"]
    pulled = skopeo.pull_oci(f"{endpoint.host_port}/tool:1", tmp_path / "pulled")
    assert json.loads((pulled / "index.json").read_text())["manifests"][0]["digest"] == result["digest"]
    sbom = json.loads(skopeo.inspect_raw(f"{endpoint.host_port}/tool@{result['referrers'][0]}"))
    assert sbom["subject"]["digest"] == result["digest"]
