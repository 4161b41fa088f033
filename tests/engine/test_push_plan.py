"""Many images in one run (push --plan, pypush.push_many): shared blobs sent once per v2 registry and
mounted elsewhere, once per ECR repository, failures isolated, the exit code summing up."""
from __future__ import annotations

import json

import pytest

import pypush
from conftest import FIXTURES, run_pypush
from pullcheck import oci_top_digest, pull_and_check


def test_plan_into_one_registry_uploads_each_blob_once_and_isolates_a_failure(docker_registry, skopeo, tmp_path):
    host = docker_registry.host
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps([
        {"source": "oci:fixtures/multiarch.oci:1", "destination": f"{host}/team/a:1", "tags": ["stable"]},
        {"source": "oci:fixtures/multiarch.oci:1", "destination": f"{host}/team/b:1"},
        {"source": "fixtures/missing.tar", "destination": f"{host}/team/c:1"},
        {"source": "oci:fixtures/small.oci:1", "destination": f"{host}/team/d:2"},
    ]))
    proc = run_pypush("push", "--plan", str(plan), "--format", "json", "--jobs", "3")
    assert proc.returncode == 3, proc.stderr  # the missing source's exit code; the others went on
    lines = {o["index"]: o for o in map(json.loads, proc.stdout.splitlines())}
    assert sorted(lines) == [0, 1, 2, 3]
    assert not lines[2]["ok"] and lines[2]["exit_code"] == 3 and "missing.tar" in lines[2]["error"]
    a, b = lines[0], lines[1]
    multi = oci_top_digest(FIXTURES / "multiarch.oci")
    assert a["digest"] == b["digest"] == multi and a["tags"] == ["1", "stable"]
    # every blob went up once: whichever image claimed a blob first sent it, the other mounted it
    assert a["blobs_pushed"] == b["blobs_pushed"] == a["blobs_mounted"] + b["blobs_mounted"] > 0
    alone = json.loads(run_pypush("push", "oci:fixtures/multiarch.oci:1", f"{host}/team/alone:1",
                                  "--format", "json").stdout)
    assert a["bytes_pushed"] + b["bytes_pushed"] == alone["bytes_pushed"] > 0 and alone["blobs_mounted"] == 0
    pull_and_check(skopeo, f"{host}/team/b:1", tmp_path / "b", expected_digest=multi)
    pull_and_check(skopeo, f"{host}/team/d:2", tmp_path / "d", expected_digest=oci_top_digest(FIXTURES / "small.oci"))
    # again: each image is one question; text lines, one per image
    again = run_pypush("push", "--plan", str(plan))
    assert again.returncode == 3
    out = again.stdout.splitlines()
    assert len(out) == 4 and sum(line.endswith(multi) for line in out) == 2
    assert any(line.startswith(f"{host}/team/c:1: error: ") for line in out)


def test_push_many_into_ecr_uploads_once_per_repository(endpoint):
    small = oci_top_digest(FIXTURES / "small.oci")
    seen = []
    outcomes = pypush.push_many(
        [{"source": "oci:fixtures/small.oci:1", "destination": f"public.ecr.aws/local/r{i}:1", "tags": ["t"]}
         for i in range(3)], endpoint_url=endpoint.url, create_repository=True, jobs=2, on_outcome=seen.append)
    assert [o.index for o in outcomes] == [0, 1, 2] and sorted(o.index for o in seen) == [0, 1, 2]
    assert all(o.ok and o.result.digest == small and o.result.tags == ["1", "t"] for o in outcomes)
    sizes = {o.result.bytes_pushed for o in outcomes}
    assert len(sizes) == 1 and sizes.pop() > 0  # ECR cannot mount: every repository got every blob
    with pypush.ECRPublic(endpoint_url=endpoint.url) as ecr:
        assert all(ecr.list_images(f"r{i}") for i in range(3))


@pytest.mark.parametrize("content, message", [
    ("not json", "not valid JSON"), ("[]", "non-empty JSON list"),
    ('[{"source": "x"}]', "\"destination\" must be"), ('[{"source": "x", "destination": "h/r", "tags": "t"}]', "list of strings"),
    ('[{"source": "x", "destination": "h/r", "tag": ["t"]}]', "unknown field 'tag'")])
def test_a_malformed_plan_is_a_usage_error_naming_the_entry(tmp_path, content, message):
    plan = tmp_path / "plan.json"
    plan.write_text(content)
    proc = run_pypush("push", "--plan", str(plan))
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert run_pypush("push", "--plan", str(plan), "oci:fixtures/small.oci", "h/r").returncode == 2
