"""Registry sources end to end: images skopeo placed in docker-registry copied into the local endpoint
through the ECR API, out of the endpoint's v2 API, into OCI layouts and back, mounted within one
registry, narrowed to platforms, and every tag of a repository mirrored; skopeo checks the results."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import pypush
from conftest import FIXTURES, oci_blob_path, oci_manifests, run_pypush, start_docker_registry, server_fixture
from pullcheck import pull_and_check, sha256
from pypush.errors import UsageError

# (repository in docker-registry, how skopeo places it)
PLACED = {"multi": ("oci:fixtures/multiarch.oci:1", []),  # OCI index
          "dlist": ("oci:fixtures/multiarch.oci:1", ["--format", "v2s2"]),  # Docker manifest list
          "art": ("oci:fixtures/artifact.oci:1", [])}  # OCI 1.1 artifact


@server_fixture(scope="module")
def source_registry(tmp_path_factory, skopeo):
    reg = start_docker_registry(tmp_path_factory.mktemp("source-registry"))
    for repo, (src, extra) in PLACED.items():
        skopeo.run("copy", "-q", "--all", "--dest-tls-verify=false", *extra, src.replace("fixtures/", f"{FIXTURES}/"),
                   f"docker://{reg.host}/{repo}:1")
    skopeo.run("copy", "-q", "--all", "--dest-tls-verify=false", f"oci:{FIXTURES}/small.oci:1",
               f"docker://{reg.host}/multi:2")
    yield reg
    reg.stop()


def served_digest(skopeo, ref: str) -> str:
    return sha256(skopeo.inspect_raw(ref))


@pytest.mark.parametrize("repo", sorted(PLACED))
def test_registry_image_into_endpoint_through_ecr_api(source_registry, endpoint, skopeo, tmp_path, repo):
    want = served_digest(skopeo, f"{source_registry.host}/{repo}:1")
    proc = run_pypush("copy", f"docker://{source_registry.host}/{repo}:1", f"public.ecr.aws/local/{repo}",
                      "--endpoint-url", endpoint.url, "--create-repository", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert (result["digest"], result["tags"]) == (want, ["1"])  # the source's tag, digests preserved
    assert result["bytes_pushed"] > 0
    pull_and_check(skopeo, f"{endpoint.host_port}/{repo}:1", tmp_path / "pulled", expected_digest=want)


def test_out_of_endpoint_v2_api_into_docker_registry(endpoint, docker_registry, skopeo, tmp_path):
    pushed = pypush.push(f"oci:{FIXTURES}/multiarch.oci:1", "public.ecr.aws/local/app:v1", compression="keep",
                         endpoint_url=endpoint.url, create_repository=True)
    result = pypush.copy(f"docker://{endpoint.host_port}/app:v1", f"{docker_registry.host}/mirror/app")
    assert (result.digest, result.tags, result.blobs_mounted) == (pushed.digest, ["v1"], 0)
    pull_and_check(skopeo, f"{docker_registry.host}/mirror/app:v1", tmp_path / "pulled", expected_digest=pushed.digest)


@pytest.mark.parametrize("scheme", ["oci", "oci-archive"])
def test_pull_to_layout_then_push_back_byte_exact(source_registry, docker_registry, skopeo, tmp_path, scheme):
    out = tmp_path / "out"
    out.mkdir()
    target = out / ("layout" if scheme == "oci" else "image.tar")
    digests = {}
    for repo in ("multi", "dlist") if scheme == "oci" else ("dlist",):  # an archive is replaced, not extended
        result = pypush.pull(f"docker://{source_registry.host}/{repo}:1", f"{scheme}:{target}:{repo}")
        digests[repo] = result.digest
        assert result.digest == served_digest(skopeo, f"{source_registry.host}/{repo}:1")
    assert [p.name for p in out.iterdir()] == [target.name]  # no temporary names left
    if scheme == "oci":  # the second pull added to the layout; the Docker list is kept as it is
        names = {m["annotations"]["org.opencontainers.image.ref.name"]: m for m in oci_manifests(target)}
        assert names["dlist"]["mediaType"] == "application/vnd.docker.distribution.manifest.list.v2+json"
        assert sha256(oci_blob_path(target, digests["dlist"]).read_bytes()) == digests["dlist"]
    for repo, digest in digests.items():
        back = pypush.push(f"{scheme}:{target}:{repo}", f"{docker_registry.host}/back/{repo}:1", compression="keep")
        assert back.digest == digest
        assert served_digest(skopeo, f"{docker_registry.host}/back/{repo}:1") == digest


def test_push_accepts_registry_sources(source_registry, docker_registry, skopeo):
    want = served_digest(skopeo, f"{source_registry.host}/dlist:1")
    proc = run_pypush("push", f"docker://{source_registry.host}/dlist:1", f"{docker_registry.host}/pushed:1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"{docker_registry.host}/pushed@{want}"  # gzip layers are kept: same digest


def test_copy_within_one_registry_mounts(source_registry):
    proc = run_pypush("copy", f"docker://{source_registry.host}/multi:1", f"{source_registry.host}/mounted:1",
                      "--format", "json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["blobs_pushed"] == result["blobs_mounted"] == 4
    assert result["bytes_pushed"] == 0


def test_platform_picks_one_child(source_registry, endpoint, skopeo):
    index = json.loads(skopeo.inspect_raw(f"{source_registry.host}/dlist:1"))
    arm = next(m for m in index["manifests"] if m["platform"]["architecture"] == "arm64")
    result = pypush.copy(f"docker://{source_registry.host}/dlist:1", "public.ecr.aws/local/arm:1",
                         platform=["linux/arm64"], endpoint_url=endpoint.url, create_repository=True)
    assert (result.digest, result.media_type, result.manifests) == (arm["digest"], arm["mediaType"], 1)
    assert served_digest(skopeo, f"{endpoint.host_port}/arm:1") == arm["digest"]
    both = pypush.copy(f"docker://{source_registry.host}/dlist:1", "public.ecr.aws/local/arm:2",
                       platform=["linux/arm64", "linux/amd64"], endpoint_url=endpoint.url)
    assert both.digest == sha256(skopeo.inspect_raw(f"{source_registry.host}/dlist:1"))  # all chosen: unchanged
    with pytest.raises(UsageError, match=r"no image for platform linux/s390x \(it offers linux/amd64, linux/arm64"):
        pypush.copy(f"docker://{source_registry.host}/dlist:1", "public.ecr.aws/local/arm:3",
                    platform=["linux/s390x"], endpoint_url=endpoint.url)


def test_platform_of_a_layout_source_too(docker_registry, skopeo):
    result = pypush.copy(f"oci:{FIXTURES}/multiarch.oci:1", f"{docker_registry.host}/amd:1", platform=["linux/amd64"])
    assert result.media_type == "application/vnd.oci.image.manifest.v1+json"
    assert served_digest(skopeo, f"{docker_registry.host}/amd:1") == result.digest
    again = pypush.copy(f"docker://{docker_registry.host}/amd:1", f"{docker_registry.host}/amd:2",
                        platform=["linux/amd64"])  # a single image of that platform passes
    assert again.digest == result.digest
    with pytest.raises(UsageError, match="a single image for platform linux/amd64, not linux/arm64"):
        pypush.copy(f"docker://{docker_registry.host}/amd:1", f"{docker_registry.host}/amd:3", platform=["linux/arm64"])


def test_all_tags_mirrors_every_tag_once(source_registry, endpoint, skopeo):
    args = ("copy", "--all-tags", f"docker://{source_registry.host}/multi", "public.ecr.aws/local/everything",
            "--endpoint-url", endpoint.url, "--create-repository", "--format", "json")
    proc = run_pypush(*args)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    assert sorted(r["tags"][0] for r in results) == ["1", "2"]
    for tag in ("1", "2"):
        assert served_digest(skopeo, f"{endpoint.host_port}/everything:{tag}") == \
            served_digest(skopeo, f"{source_registry.host}/multi:{tag}")
    again = run_pypush(*args)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == []  # every tag's digest already there


def test_missing_source_image_is_a_source_error(source_registry, tmp_path):
    proc = run_pypush("pull", f"docker://{source_registry.host}/multi:nope", f"oci:{tmp_path / 'x'}")
    assert proc.returncode == 3, proc.stderr
    assert f"docker://{source_registry.host}/multi:nope: no such image" in proc.stderr
    assert not (tmp_path / "x").exists()


def test_docker_hub_short_forms():
    from pypush.name.reference import parse_remote

    assert parse_remote("docker://python:3.12").name == "registry-1.docker.io/library/python"
    assert parse_remote("docker://user/app").path == "user/app"
    assert parse_remote("docker://docker.io/python@sha256:" + "a" * 64).digest == "sha256:" + "a" * 64
    ecr = parse_remote("docker://public.ecr.aws/docker/library/alpine:3")
    assert (ecr.kind, ecr.path, ecr.tag) == ("ecr-public", "docker/library/alpine", "3")
    assert parse_remote("localhost:5000/a/b").registry == "localhost:5000"


def test_platform_inside_a_nested_index(docker_registry, skopeo, tmp_path):
    """An index whose child is an index: the platform is found below it, from a registry and from a layout."""
    nested = pypush.copy(f"oci:{FIXTURES}/multiarch.oci:nested", f"{docker_registry.host}/nested:1")
    inner = json.loads(oci_blob_path(FIXTURES / "multiarch.oci", json.loads(
        oci_blob_path(FIXTURES / "multiarch.oci", nested.digest).read_bytes())["manifests"][0]["digest"]).read_bytes())
    arm = next(m for m in inner["manifests"] if m["platform"]["architecture"] == "arm64")
    for src in (f"docker://{docker_registry.host}/nested:1", f"oci:{FIXTURES}/multiarch.oci:nested"):
        pulled = pypush.pull(src, f"oci:{tmp_path / 'out'}:arm", platform=["linux/arm64"])
        assert pulled.digest == arm["digest"]
        both = pypush.pull(src, f"oci:{tmp_path / 'out'}:both", platform=["linux/arm64", "linux/amd64"])
        assert both.digest == nested.digest  # every platform chosen: the tree unchanged
    proc = run_pypush("push", "--platform", "linux/s390x", f"docker://{docker_registry.host}/nested:1",
                      f"{docker_registry.host}/nested:2")
    assert proc.returncode == 2 and "no image for platform linux/s390x (it offers linux/amd64, linux/arm64)" in proc.stderr
