"""Issue 7: pushes that survive injected faults, kill -9 and quotas; Ctrl-C; nothing half-written."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import boto3
import pytest

from conftest import REPO_ROOT, run_pypush
from imagegen import make_oci_layout, random_bytes, tar_layer
from pullcheck import pull_and_check

pytestmark = pytest.mark.servers  # every test here starts the endpoint or a server process

PART = 256 << 10  # small parts so that a small image makes many requests


def ecr(endpoint):
    """A boto3 client that keeps no connection open between calls (so the endpoint can go idle)."""
    client = boto3.client("ecr-public", endpoint_url=endpoint.url, region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="y")
    client.meta.events.register("before-send", lambda request, **_: request.headers.__setitem__("Connection",
                                                                                                "close"))
    return client


@pytest.fixture(scope="module")
def multi_layer_image(tmp_path_factory) -> tuple:
    """An OCI layout with 6 layers (one of ~1.3 MiB, several parts at PART) and its digest."""
    root = tmp_path_factory.mktemp("img") / "img.oci"
    layers = [tar_layer([("big", random_bytes(1300 << 10, 1))])]
    layers += [tar_layer([(f"f{i}", random_bytes(40 << 10, 10 + i))]) for i in range(5)]
    digest = make_oci_layout(root, layers)
    return root, digest


def assert_no_tag_points_at_missing_blobs(endpoint) -> None:
    """Every tagged manifest's config, layers and children are present in its repository."""
    client = ecr(endpoint)
    for repo in client.describe_repositories()["repositories"]:
        name = repo["repositoryName"]
        for image in client.describe_images(repositoryName=name)["imageDetails"]:
            if not image.get("imageTags"):
                continue
            _check_manifest(client, name, image["imageDigest"])


def _check_manifest(client, repo: str, digest: str) -> None:
    url = client.meta.endpoint_url
    import requests

    resp = requests.get(f"{url}/v2/{repo}/manifests/{digest}", headers={"Accept": "*/*"}, timeout=30)
    assert resp.status_code == 200, f"{repo}@{digest} is tagged but its manifest is missing"
    doc = resp.json()
    for child in doc.get("manifests", []):
        _check_manifest(client, repo, child["digest"])
    blobs = [d["digest"] for d in [doc.get("config"), *doc.get("layers", [])] if d]
    if blobs:
        check = client.batch_check_layer_availability(repositoryName=repo, layerDigests=blobs)
        present = {layer["layerDigest"] for layer in check["layers"] if layer["layerAvailability"] == "AVAILABLE"}
        assert present == set(blobs), f"{repo}@{digest} is tagged but blobs are missing: {set(blobs) - present}"


def test_seeded_pushes_through_injected_faults_complete(tmp_path, skopeo, multi_layer_image):
    from pypush.server import LocalEndpoint

    layout, digest = multi_layer_image
    faults = "seed={seed},error=0.015,throttle=0.01,drop=0.01,drop_after=0.005,cut=0.01"
    retried = 0
    for seed in range(20):
        with LocalEndpoint(data_dir=tmp_path / f"d{seed}", part_size=PART, faults=faults.format(seed=seed)) as ep:
            proc = run_pypush("push", f"oci:{layout}:1", f"public.ecr.aws/local/faulty:{seed}", "--endpoint-url",
                              ep.url, "--create-repository", "--format", "json", "--compression", "keep")
            assert proc.returncode == 0, f"seed {seed}: {proc.stderr}"
            result = json.loads(proc.stdout)
            assert result["digest"] == digest
            retried += result["retries"]
            if seed % 5 == 0:  # pulling back is the slow part: check a sample
                pull_and_check(skopeo, f"{ep.host_port}/faulty:{seed}", tmp_path / f"pull{seed}", digest)
            assert_no_tag_points_at_missing_blobs(ep)
    assert retried >= 10, "the fault plan should have forced retries"


def _blob_digests(layout: Path, digest: str) -> list:
    doc = json.loads((layout / "blobs" / "sha256" / digest.split(":")[1]).read_bytes())
    return [doc["config"]["digest"], *(layer["digest"] for layer in doc["layers"])]


def test_kill_9_at_seeded_points_then_rerun_uploads_nothing_twice(tmp_path, multi_layer_image):
    from pypush.server import LocalEndpoint

    layout, digest = multi_layer_image
    blobs = _blob_digests(layout, digest)
    sizes = {d: (layout / "blobs" / "sha256" / d.split(":")[1]).stat().st_size for d in blobs}
    rng = random.Random(7)
    # Slow responses stretch the push so that the kills land at different stages.
    with LocalEndpoint(data_dir=tmp_path / "data", part_size=PART, faults="seed=3,delay=0.3,delay_seconds=0.1") as ep:
        client = ecr(ep)
        client.create_repository(repositoryName="killed")
        cmd = [sys.executable, "-m", "pypush", "push", f"oci:{layout}:1", "public.ecr.aws/local/killed:1",
               "--endpoint-url", ep.url, "--format", "json", "--compression", "keep", "--jobs", "2"]
        killed_midway = 0
        for point in range(10):
            client.batch_delete_image(repositoryName="killed", imageIds=[{"imageTag": "1"}])
            proc = subprocess.Popen([*cmd, "-v"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    cwd=REPO_ROOT)
            stored = rng.randrange(len(blobs))  # kill once this many blobs are stored (0: as uploads start)
            StderrWatch(proc).wait_for("to upload" if stored == 0 else "stored sha256:", max(1, stored))
            proc.kill()
            proc.wait()
            ep._server.wait_idle(timeout=30)  # the requests the server had received are finished
            assert_no_tag_points_at_missing_blobs(ep)
            present = set(blobs) - set(_missing(client, blobs))
            killed_midway += proc.returncode == -signal.SIGKILL and len(present) < len(blobs)
            rerun = run_pypush(*cmd[3:])
            assert rerun.returncode == 0, rerun.stderr
            result = json.loads(rerun.stdout)
            assert result["digest"] == digest
            assert result["blobs_pushed"] <= len(blobs) - len(present), f"kill {point}: a stored blob was re-sent"
            assert result["blobs_pushed"] == len(blobs) - len(present), f"kill {point}: a missing blob was skipped"
            # every missing byte sent once: by this run, or by the killed one (its half-sent layer resumed)
            assert result["bytes_pushed"] + result["bytes_resumed"] == sum(sizes[d] for d in blobs if d not in present)
            assert_no_tag_points_at_missing_blobs(ep)
            # next round starts from scratch for the blobs: a fresh repository
            client.delete_repository(repositoryName="killed", force=True)
            client.create_repository(repositoryName="killed")
        assert killed_midway >= 3, "the seeded kill points should interrupt several pushes mid-way"


class StderrWatch:
    """Reads a process's stderr in the background (it never blocks on a full pipe); its log lines are the
    events a test waits for, with a deadline."""

    def __init__(self, proc: subprocess.Popen):
        self.lines: list = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen) -> None:
        for line in proc.stderr:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()

    def wait_for(self, text: str, count: int = 1, timeout: float = 120) -> None:
        """Until ``count`` lines containing ``text`` were written."""
        with self._changed:
            done = self._changed.wait_for(lambda: sum(text in line for line in self.lines) >= count, timeout)
        assert done, f"the push never logged {text!r} {count} times"

    def text(self) -> str:
        """Everything written, once the process has ended."""
        self._thread.join(timeout=60)
        return "".join(self.lines)


def _missing(client, digests):
    check = client.batch_check_layer_availability(repositoryName="killed", layerDigests=digests)
    present = {layer["layerDigest"] for layer in check["layers"] if layer["layerAvailability"] == "AVAILABLE"}
    return [d for d in digests if d not in present]


def test_ctrl_c_stops_cleanly_with_a_message(tmp_path, multi_layer_image):
    from pypush.server import LocalEndpoint

    layout, _ = multi_layer_image
    with LocalEndpoint(data_dir=tmp_path / "d", part_size=PART, faults="seed=1,delay=1.0,delay_seconds=0.5") as ep:
        ecr(ep).create_repository(repositoryName="intr")
        proc = subprocess.Popen([sys.executable, "-m", "pypush", "push", f"oci:{layout}:1",
                                 "public.ecr.aws/local/intr:1", "--endpoint-url", ep.url, "--compression", "keep",
                                 "-v"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT)
        watch = StderrWatch(proc)
        watch.wait_for("to upload")  # the push is under way: uploads have started
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        err = watch.text()
        assert proc.returncode == 130, err
        assert err.strip().splitlines()[-1].startswith("pypush: error: interrupted")
        assert "Traceback" not in err
        assert ecr(ep).describe_images(repositoryName="intr")["imageDetails"] == []


def test_many_small_layers_against_enforced_quotas_never_throttled(tmp_path):
    from pypush.server import LocalEndpoint

    layers = [tar_layer([(f"l{i}", random_bytes(100 << 10, 100 + i))]) for i in range(100)]
    digest = make_oci_layout(tmp_path / "many.oci", layers)
    with LocalEndpoint(data_dir=tmp_path / "d", enforce_quotas=True) as ep:
        ecr(ep).create_repository(repositoryName="many")
        proc = run_pypush("push", f"oci:{tmp_path / 'many.oci'}:1", "public.ecr.aws/local/many:1", "--endpoint-url",
                          ep.url, "--format", "json", "--compression", "keep", "--jobs", "8")
        assert proc.returncode == 0, proc.stderr
        result = json.loads(proc.stdout)
        assert result["digest"] == digest
        assert result["blobs_pushed"] == 101
        assert (result["throttled"], result["retries"]) == (0, 0)
