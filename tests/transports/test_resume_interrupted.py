"""Interrupted pushes resume (issue 23, item 5): a 200 MB layer pushed through the ECR API into `pypush serve`
and over v2 into docker-registry and the endpoint's /v2/ door, the push stopped by SIGINT or SIGKILL once
the destination has acknowledged half the layer, then run again: the rerun sends at most 55 % of the
layer, says how much it resumed, and skopeo pulls the image back byte-exact."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

from conftest import REPO_ROOT, run_pypush
from endpoint_client import client, password_of
from imagegen import make_oci_layout, random_bytes
from pullcheck import pull_and_check

pytestmark = pytest.mark.servers

SIZE = 200 * 10**6
ACKED = re.compile(r"(?P<digest>sha256:[0-9a-f]{64}): (?P<offset>\d+) bytes acknowledged by ")


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Tuple[Path, str, str]:
    """(layout, manifest digest, layer digest) of an image with one incompressible 200 MB layer."""
    layout = tmp_path_factory.mktemp("big") / "big.oci"
    manifest = make_oci_layout(layout, [random_bytes(SIZE, 23)])
    doc = json.loads((layout / "blobs" / "sha256" / manifest.split(":")[1]).read_bytes())
    return layout, manifest, doc["layers"][0]["digest"]


def stop_halfway(args: List[str], layer: str, sig: int, cache: Path, stdin: Optional[str] = None,
                 destinations: int = 1) -> int:
    """Run ``pypush push ARGS`` and send ``sig`` once a destination has acknowledged half of ``layer`` and
    ``destinations`` destinations some of it (read from the push's own -vv log, line by line: no timing
    involved); the push's exit status. Stopped by SIGINT, the push says that the uploads under way end their
    part or chunk, then that it was interrupted."""
    env = dict(os.environ, PYPUSH_CACHE_DIR=str(cache))
    env.pop("AWS_PROFILE", None)
    proc = subprocess.Popen([sys.executable, "-m", "pypush", "-vv", "push", *args], cwd=REPO_ROOT, env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stderr is not None
    proc.stdin.write(stdin or "")
    proc.stdin.close()
    seen: List[str] = []
    acked: Dict[str, int] = {}
    for line in proc.stderr:
        seen.append(line)
        m = ACKED.search(line)
        if m and m["digest"] == layer:
            where = line[m.end():].strip()
            acked[where] = max(acked.get(where, 0), int(m["offset"]))
            if len(acked) >= destinations and max(acked.values()) >= SIZE // 2:
                proc.send_signal(sig)
                break
    else:
        proc.wait()
        pytest.fail("the push ended before half the layer was acknowledged:\n" + "".join(seen[-15:]))
    rest = proc.stderr.read()
    code = proc.wait(timeout=120)
    if sig == signal.SIGINT:
        assert "each upload under way ends its current part or chunk" in rest, rest[-2000:]
        assert rest.strip().splitlines()[-1].startswith("pypush: error: interrupted"), rest[-2000:]
    return code


def states(cache: Path) -> List[dict]:
    return [json.loads(p.read_text()) for p in sorted((cache / "uploads-v1").glob("*.json"))]


def check_rerun(args: List[str], layer: str, cache: Path, sig: int, code: int, stdin: Optional[str] = None,
                must_resume: bool = True) -> dict:
    """The interrupted push left its state (and exited as a stopped push does); the rerun resumes it."""
    assert code == (130 if sig == signal.SIGINT else -signal.SIGKILL)
    left = states(cache)
    assert [s["key"]["digest"] for s in left] == [layer]
    assert left[0]["offset"] >= SIZE // 2
    proc = run_pypush("push", *args, "--format", "json", input=stdin, env={"PYPUSH_CACHE_DIR": str(cache)})
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    print(f"held at the stop: {left[0]['offset']}; rerun sent {result['bytes_pushed']}, "
          f"resumed {result['bytes_resumed']}")
    config = result["bytes_pushed"] + result["bytes_resumed"] - SIZE  # every byte counted once (the config's,
    assert 0 <= config < 1000  # unless the first run stored it)
    if must_resume:
        assert result["bytes_resumed"] >= SIZE * 45 // 100
        assert result["bytes_pushed"] <= SIZE * 55 // 100
    assert states(cache) == []  # removed once the layer completed
    return result


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_ecr_api_push_resumes_from_the_parts_the_service_holds(endpoint, skopeo, big, tmp_path, sig):
    layout, manifest, layer = big
    args = [f"oci:{layout}:1", "public.ecr.aws/local/big:1", "--endpoint-url", endpoint.url, "--create-repository",
            "--compression", "keep"]
    code = stop_halfway(args, layer, sig, tmp_path / "cache")
    result = check_rerun(args, layer, tmp_path / "cache", sig, code)
    assert result["digest"] == manifest
    pull_and_check(skopeo, f"{endpoint.host_port}/big:1", tmp_path / "pulled", expected_digest=manifest)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_v2_push_into_the_endpoint_door_resumes_from_the_session_range(endpoint, skopeo, big, tmp_path, sig):
    layout, manifest, layer = big
    client(endpoint).create_repository(repositoryName="big")
    args = [f"oci:{layout}:1", f"{endpoint.host_port}/big:1", "--transport", "v2", "--insecure", "-u", "AWS",
            "--password-stdin", "--compression", "keep"]
    password = password_of(endpoint)
    code = stop_halfway(args, layer, sig, tmp_path / "cache", stdin=password)
    assert password not in (tmp_path / "cache" / "uploads-v1").joinpath(
        next(iter(os.listdir(tmp_path / "cache" / "uploads-v1")))).read_text()
    result = check_rerun(args, layer, tmp_path / "cache", sig, code, stdin=password)
    assert result["digest"] == manifest
    pull_and_check(skopeo, f"{endpoint.host_port}/big:1", tmp_path / "pulled", expected_digest=manifest)


def test_v2_push_into_docker_registry_resumes_after_ctrl_c(docker_registry, skopeo, big, tmp_path):
    """Ctrl-C lets the chunk under way finish (the distribution registry gives up a session whose request was
    cut off), so the rerun continues from the session's Range."""
    layout, manifest, layer = big
    args = [f"oci:{layout}:1", f"{docker_registry.host}/big:1", "--compression", "keep"]
    code = stop_halfway(args, layer, signal.SIGINT, tmp_path / "cache")
    result = check_rerun(args, layer, tmp_path / "cache", signal.SIGINT, code)
    assert result["digest"] == manifest
    pull_and_check(skopeo, f"{docker_registry.host}/big:1", tmp_path / "pulled", expected_digest=manifest)


def test_v2_push_into_docker_registry_after_sigkill_resumes_or_starts_over(docker_registry, skopeo, big, tmp_path):
    """A killed push cuts its chunk off midway, and docker-registry 2.8 then answers BLOB_UPLOAD_INVALID (404)
    for the session: the rerun starts that layer over (or resumes, when the kill fell between two chunks)."""
    layout, manifest, layer = big
    args = [f"oci:{layout}:1", f"{docker_registry.host}/big:1", "--compression", "keep"]
    code = stop_halfway(args, layer, signal.SIGKILL, tmp_path / "cache")
    result = check_rerun(args, layer, tmp_path / "cache", signal.SIGKILL, code, must_resume=False)
    assert result["bytes_resumed"] == 0 or result["bytes_resumed"] >= SIZE // 2
    assert result["digest"] == manifest
    pull_and_check(skopeo, f"{docker_registry.host}/big:1", tmp_path / "pulled", expected_digest=manifest)


def test_ctrl_c_stops_every_image_of_a_plan_and_the_rerun_resumes(endpoint, big, tmp_path):
    """push --plan: Ctrl-C reaches only the main thread, which tells every image's uploads to stop at their next
    part (they used to run to the end). Two repositories through the ECR API (no mounts there): both layers
    are left half-sent, no manifest is written, and the plan run again resumes both."""
    layout, manifest, layer = big
    ecr = client(endpoint)
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps([{"source": f"oci:{layout}:1", "destination": f"public.ecr.aws/local/plan-{n}:1"}
                                for n in ("a", "b")]))
    for n in ("a", "b"):
        ecr.create_repository(repositoryName=f"plan-{n}")
    args = ["--plan", str(plan), "--endpoint-url", endpoint.url, "--compression", "keep", "--jobs", "2"]
    code = stop_halfway(args, layer, signal.SIGINT, tmp_path / "cache", destinations=2)
    assert code == 130
    left = [s for s in states(tmp_path / "cache") if s["key"]["digest"] == layer]  # (the config's may be there)
    assert len(left) == 2 and all(s["offset"] < SIZE for s in left)
    for n in ("a", "b"):
        assert ecr.describe_images(repositoryName=f"plan-{n}")["imageDetails"] == []
    proc = run_pypush("push", *args, "--format", "json", env={"PYPUSH_CACHE_DIR": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stderr
    outcomes = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [o["digest"] for o in outcomes] == [manifest, manifest]
    assert sum(o["bytes_resumed"] for o in outcomes) >= sum(s["offset"] for s in left) > 0
    assert states(tmp_path / "cache") == []
