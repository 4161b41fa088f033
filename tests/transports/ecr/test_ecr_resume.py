"""The ECR upload restart: a part the service did not keep is sent again from lastValidByteReceived + 1;
a part that arrived while its answer was lost is not sent twice."""
from __future__ import annotations

import hashlib
import json

import pytest
import requests

import pypush
from conftest import run_pypush
from imagegen import make_oci_layout, random_bytes, tar_layer
from pypush.server import LocalEndpoint
from pypush.net.aws_json import AwsJsonClient

pytestmark = pytest.mark.servers  # every test here runs the local endpoint
PART = 256 << 10


@pytest.fixture
def image(tmp_path):
    layer = tar_layer([("data", random_bytes(5 * PART - 20_000, 21))])  # five parts with the tar's headers
    layout = tmp_path / "img.oci"
    return layout, make_oci_layout(layout, [layer]), layer


def test_a_lost_part_is_sent_again_from_the_last_valid_byte(tmp_path, image, monkeypatch):
    layout, digest, layer = image
    real_post, posts = AwsJsonClient.send, []

    def loses_the_second_part(self, operation, pieces, body_hash, length=None):
        posts.append(operation)
        if b'"partFirstByte": %d,' % PART in b"".join(pieces) and not lost:
            lost.append(True)
            return {}  # acknowledged but never stored: the next part finds the service one part behind
        return real_post(self, operation, pieces, body_hash, length)

    lost: list = []
    monkeypatch.setattr(AwsJsonClient, "send", loses_the_second_part)
    with LocalEndpoint(data_dir=tmp_path / "d", part_size=PART) as ep:
        result = pypush.push(layout, "public.ecr.aws/local/resume:1", endpoint_url=ep.url, create_repository=True,
                             compression="keep")
        layer_digest = "sha256:" + hashlib.sha256(layer).hexdigest()
        stored = requests.get(f"{ep.url}/v2/resume/blobs/{layer_digest}", timeout=30).content
    assert lost and result.digest == digest and stored == layer
    # config (1 part) + layer (5 parts) + the lost part's successor refused (InvalidLayerPartException)
    # + the lost part again
    assert -(-len(layer) // PART) == 5 and posts.count("UploadLayerPart") == 1 + 5 + 2
    manifest = json.loads((layout / "blobs" / "sha256" / digest.split(":")[1]).read_bytes())
    assert result.bytes_pushed == len(layer) + manifest["config"]["size"]  # progress rewound, not counted twice


def test_answers_lost_after_the_part_arrived_are_not_sent_twice(tmp_path, image):
    layout, digest, _ = image
    # Seeded: some UploadLayerPart answers are dropped after the part is stored (and other calls' too).
    with LocalEndpoint(data_dir=tmp_path / "d", part_size=PART, faults="seed=4,drop_after=0.3") as ep:
        proc = run_pypush("-v", "push", f"oci:{layout}:1", "public.ecr.aws/local/lost:1", "--endpoint-url", ep.url,
                          "--create-repository", "--compression", "keep", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["digest"] == digest
    assert "had arrived (the answer was lost)" in proc.stderr


def test_parts_read_again_from_their_file_are_the_bodies_that_were_signed(tmp_path, image, skopeo):
    """Parts of a file go out encoded a second time from the page cache: an endpoint that checks every
    signature over the body it received accepts them, from a layout and from a docker archive alike."""
    layout, digest, _ = image
    archive = tmp_path / "img.tar"
    skopeo.run("copy", f"oci:{layout}:1", f"docker-archive:{archive}:img:1")
    env = {"AWS_ACCESS_KEY_ID": "AKIDPARTS", "AWS_SECRET_ACCESS_KEY": "parts-secret"}
    with LocalEndpoint(data_dir=tmp_path / "d", part_size=PART, access_key="AKIDPARTS",
                       secret_key="parts-secret") as ep:
        for source, repo in ((f"oci:{layout}:1", "layout"), (f"docker-archive:{archive}", "archive")):
            proc = run_pypush("push", source, f"public.ecr.aws/local/{repo}:1", "--endpoint-url", ep.url,
                              "--create-repository", "--compression", "keep", "--format", "json", env=env)
            assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["blobs_pushed"] == 2
        bad = run_pypush("push", f"oci:{layout}:1", "public.ecr.aws/local/bad:1", "--endpoint-url", ep.url,
                         "--create-repository", env=dict(env, AWS_SECRET_ACCESS_KEY="wrong"))
    assert bad.returncode == 5 and "signature" in bad.stderr.lower()
