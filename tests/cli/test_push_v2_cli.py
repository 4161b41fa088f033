"""The v2 transport through the CLI: docker-registry as the destination, skopeo as the witness."""
from __future__ import annotations

import json

from conftest import FIXTURES, run_pypush
from pullcheck import oci_top_digest, pull_and_check


def push(*args: str) -> dict:
    proc = run_pypush("push", *args, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_push_repush_and_mount(docker_registry, skopeo, tmp_path):
    host = docker_registry.host
    digest = oci_top_digest(FIXTURES / "multiarch.oci")
    first = push("oci:fixtures/multiarch.oci:1", f"{host}/team/a:1", "--tag", "stable")
    assert first["digest"] == digest and first["bytes_pushed"] > 0 and first["blobs_mounted"] == 0
    for tag in ("1", "stable"):
        pull_and_check(skopeo, f"{host}/team/a:{tag}", tmp_path / tag, expected_digest=digest)
    again = push("oci:fixtures/multiarch.oci:1", f"docker://{host}/team/a:1")
    assert (again["blobs_pushed"], again["bytes_pushed"]) == (0, 0)
    mounted = push("oci:fixtures/multiarch.oci:1", f"{host}/team/b:1", "--mount-from", "team/a")
    assert mounted["blobs_mounted"] == mounted["blobs_pushed"] > 0
    assert mounted["bytes_pushed"] == 0
    pull_and_check(skopeo, f"{host}/team/b:1", tmp_path / "b", expected_digest=digest)


def test_docker_save_gzip_and_zstd_to_registry(docker_registry, skopeo, tmp_path):
    host = docker_registry.host
    for algo in ("gzip", "zstd"):
        result = push("fixtures/small.docker-archive.tar", f"{host}/app:{algo}", "--compression", algo)
        got = pull_and_check(skopeo, f"{host}/app:{algo}", tmp_path / algo, expected_digest=result["digest"])
        assert got["diff_ids"], "layers must match the config's diff_ids"
        raw = skopeo.inspect_raw(f"{host}/app:{algo}")
        kinds = {layer["mediaType"] for layer in json.loads(raw)["layers"]}
        assert all(k.endswith("gzip" if algo == "gzip" else "+zstd") for k in kinds), kinds
