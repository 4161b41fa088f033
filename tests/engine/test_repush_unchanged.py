"""A re-push asks one question first: when every tag already names the manifest, nothing else is sent."""
from __future__ import annotations

import json

import pytest

from conftest import FIXTURES, run_pypush
from pullcheck import oci_top_digest

from pypush.transports.distribution.tag_probe import tag_digests


def push(*args: str, env: dict = None) -> dict:
    proc = run_pypush("push", *args, "--format", "json", "-v", env=env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    out["log"] = proc.stderr
    return out


def test_v2_repush_is_one_question_and_a_moved_tag_is_pushed_again(docker_registry):
    host = docker_registry.host
    multi, small = oci_top_digest(FIXTURES / "multiarch.oci"), oci_top_digest(FIXTURES / "small.oci")
    first = push("oci:fixtures/multiarch.oci:1", f"{host}/a:1", "--tag", "stable")
    assert not first["unchanged"] and first["digest"] == multi
    again = push("oci:fixtures/multiarch.oci:1", f"{host}/a:1", "--tag", "stable")
    assert again["unchanged"] and again["digest"] == multi and again["children"] == first["children"]
    assert (again["manifests"], again["bytes_pushed"]) == (0, 0)
    assert "blobs, " not in again["log"]  # the engine never ran: no blob was asked about
    assert tag_digests(host, "a", ["1", "stable", "nope"]) == {"1": multi, "stable": multi, "nope": None}
    # one tag new: a normal push (blobs all there), which tags it
    more = push("oci:fixtures/multiarch.oci:1", f"{host}/a:1", "--tag", "2")
    assert not more["unchanged"] and more["manifests"] > 0 and more["bytes_pushed"] == 0
    # a tag moved to another image: pushed again and put back
    push("oci:fixtures/small.oci:1", f"{host}/a:stable")
    assert tag_digests(host, "a", ["stable"]) == {"stable": small}
    back = push("oci:fixtures/multiarch.oci:1", f"{host}/a:stable")
    assert not back["unchanged"] and tag_digests(host, "a", ["stable"]) == {"stable": multi}


def test_compressed_source_repush_knows_its_digest_from_the_layer_cache(docker_registry, tmp_path):
    env = {"PYPUSH_CACHE_DIR": str(tmp_path / "cache")}
    dest = f"{docker_registry.host}/app:1"
    first = push("fixtures/small.docker-archive.tar", dest, env=env)
    again = push("fixtures/small.docker-archive.tar", dest, env=env)
    assert again["unchanged"] and again["digest"] == first["digest"] and not first["unchanged"]
    zstd = push("fixtures/small.docker-archive.tar", dest, "--compression", "zstd", env=env)
    assert not zstd["unchanged"] and zstd["digest"] != first["digest"]


def test_ecr_public_repush_asks_describe_images_once(endpoint):
    dest = "public.ecr.aws/local/img:v1"
    args = ("oci:fixtures/small.oci:1", dest, "--endpoint-url", endpoint.url, "--create-repository")
    first = push(*args)
    again = push(*args, "--tag", "v1")
    assert again["unchanged"] and again["digest"] == first["digest"] and not first["unchanged"]
    other = push(*args, "--tag", "v2")
    assert not other["unchanged"] and other["manifests"] == 1


@pytest.mark.servers
def test_ecr_question_is_signed_sigv4_that_the_endpoint_verifies(tmp_path):
    from pypush.name.reference import parse_reference
    from pypush.server import LocalEndpoint
    from pypush.transports.ecr.ecr_tag_probe import tag_digests as ecr_tag_digests

    env = {"AWS_ACCESS_KEY_ID": "AKIDPYPUSHTEST", "AWS_SECRET_ACCESS_KEY": "s3cr3t/key"}
    with LocalEndpoint(data_dir=tmp_path / "ecr", access_key=env["AWS_ACCESS_KEY_ID"],
                       secret_key=env["AWS_SECRET_ACCESS_KEY"]) as ep:
        args = ("oci:fixtures/small.oci:1", "public.ecr.aws/local/signed:1", "--endpoint-url", ep.url,
                "--create-repository")
        first = push(*args, env=env)
        assert push(*args, env=env)["unchanged"]
        dest = parse_reference("public.ecr.aws/local/signed:1")
        import os
        from unittest import mock

        with mock.patch.dict(os.environ, env):
            os.environ.pop("AWS_PROFILE", None)
            assert ecr_tag_digests(dest, ["1"], ep.url) == {"1": first["digest"]}
            assert ecr_tag_digests(dest, ["2"], ep.url) == {"2": None}
            os.environ["AWS_SECRET_ACCESS_KEY"] = "wrong"
            assert ecr_tag_digests(dest, ["1"], ep.url) is None  # refused: the transport asks (and explains)
