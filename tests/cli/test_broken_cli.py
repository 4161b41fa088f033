"""Issue 7: every broken input through the CLI: one line naming the problem, exit 3, nothing sent."""
from __future__ import annotations

import boto3
import pytest

from broken_corpus import STREAM_CASES, make_corpus
from conftest import FIXTURES, run_pypush, server_fixture
from counting_listener import Listener
from pypush.cli.main import main


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("broken"))


@server_fixture
def listener():
    lis = Listener()
    yield lis
    lis.close()


def test_corpus_is_large_enough(corpus):
    assert len(corpus) >= 25


@pytest.mark.parametrize("transport", ["ecr", "v2"])
def test_broken_inputs_fail_before_contacting_the_registry(corpus, listener, capsys, transport):
    dest = "public.ecr.aws/local/broken:1" if transport == "ecr" else f"{listener.url[7:]}/broken:1"
    for case, spec, expected in corpus:
        if case in STREAM_CASES:
            continue
        option = ["--endpoint-url", listener.url] if transport == "ecr" else ["--insecure"]  # ECR-only with ECR
        code = main(["push", spec, dest, *option])
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert code == 3, f"{case}: exit {code}: {captured.err}"
        assert len(lines) == 1 and lines[0].startswith("pypush: error: "), f"{case}: {captured.err!r}"
        assert "((" not in lines[0] and "))" not in lines[0], f"{case}: doubled parentheses: {lines[0]!r}"
        assert expected.lower() in lines[0].lower(), f"{case}: {lines[0]!r} lacks {expected!r}"
        assert captured.out == ""
    assert listener.connections == 0


def test_blob_content_mismatch_never_tags_anything(corpus, endpoint):
    client = boto3.client("ecr-public", endpoint_url=endpoint.url, region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="y")
    client.create_repository(repositoryName="mismatch")
    cases = [c for c in corpus if c[0] in STREAM_CASES]
    assert cases
    for case, spec, expected in cases:
        proc = run_pypush("push", spec, "public.ecr.aws/local/mismatch:1", "--endpoint-url", endpoint.url,
                          "--compression", "keep")
        assert proc.returncode == 3, f"{case}: {proc.stderr}"
        line = proc.stderr.strip()
        assert "\n" not in line and "digest" in line and "blob" in line, line
        assert client.describe_images(repositoryName="mismatch")["imageDetails"] == []


def test_invalid_references_and_tags_are_usage_errors(listener, capsys):
    for args in (["push", "fixtures/small.oci", "public.ecr.aws/local/UPPER:1"],
                 ["push", "fixtures/small.oci", "public.ecr.aws/local/ok:bad tag"],
                 ["push", "fixtures/small.oci", "public.ecr.aws/local/ok:1", "--tag", "-bad"],
                 ["push", "fixtures/small.oci", "noregistry"],
                 ["push", "fixtures/small.oci", "public.ecr.aws/local/ok@sha256:short"],
                 ["push", "fixtures/small.oci", "public.ecr.aws/local/ok:1", "--jobs", "0"],
                 ["push", "fixtures/small.oci"]):
        code = main([*args, "--endpoint-url", listener.url] if len(args) > 2 else args)
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2, (args, err)
        assert len(err) == 1, err
    assert listener.connections == 0


def test_image_one_directory_down_gets_a_hint(tmp_path, listener, capsys):
    import tarfile

    nested = tmp_path / "nested.tar"
    with tarfile.open(nested, "w") as tar:
        tar.add("fixtures/small.oci", arcname="small.oci")
    for source in (str(nested), "fixtures"):
        code = main(["push", source, "public.ecr.aws/local/hint:1", "--endpoint-url", listener.url])
        err = capsys.readouterr().err.strip()
        assert code == 3 and "\n" not in err
        assert "not an image" in err
    assert "tar -C small.oci -cf FILE ." in main_err(nested, listener, capsys)
    assert listener.connections == 0


def main_err(source, listener, capsys) -> str:
    main(["push", str(source), "public.ecr.aws/local/hint:1", "--endpoint-url", listener.url])
    return capsys.readouterr().err


@pytest.mark.parametrize("scheme", ["oci", "oci-archive"])
def test_layout_destination_that_cannot_be_written_is_one_line(tmp_path, capsys, monkeypatch, scheme):
    """A full disk (or a directory that cannot be written) while writing a layout: exit 1 naming the
    destination, not an internal error; nothing left behind."""
    from pypush.transports.layout import layout_writer

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(layout_writer.tempfile, "mkstemp", full)
    dest = f"{scheme}:{tmp_path / 'out'}"
    assert main(["copy", str(FIXTURES / "small.oci"), dest]) == 1
    err = capsys.readouterr().err
    assert err == f"pypush: error: {dest}: cannot write the layout: No space left on device\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("source", ["small.docker-archive.tar", "oci:{f}/multiarch.oci", "{f}/small.oci"])
def test_all_tags_of_an_image_on_disk_is_a_usage_error(tmp_path, capsys, source):
    """Not a Docker Hub repository named like the file (was: DNS lookups of registry-1.docker.io, exit 6)."""
    source = source.replace("{f}", str(FIXTURES)) if "{f}" in source else str(FIXTURES / source)
    assert main(["copy", "--all-tags", source, f"oci:{tmp_path / 'out'}"]) == 2
    assert "--all-tags copies the tags of a repository in a registry" in capsys.readouterr().err
