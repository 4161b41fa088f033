"""Archives compressed whole (``docker save img | gzip > img.tar.gz``, zstd, xz, bzip2) as sources: skopeo
writes the archives, Debian's command-line tools compress them, pypush pushes them into docker-registry and
skopeo pulls them back; the decompressed copy lives in a private temporary directory that is always removed."""
from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

import pytest

from conftest import FIXTURES
from pullcheck import docker_archive_expectations, oci_archive_top_digest, pull_and_check

import pypush.sources.compressed_archive as compressed_archive
from pypush.api import push
from pypush.cli.main import main
from pypush.errors import SourceError
from pypush.sources import open_source

TOOLS = {"gzip": ["gzip", "-c"], "zstd": ["zstd", "-q", "-c"], "xz": ["xz", "-c"], "bzip2": ["bzip2", "-c"]}


@pytest.fixture(scope="module")
def archives(skopeo, tmp_path_factory):
    """A docker save tarball and an OCI archive of fixtures/small.oci, both written by skopeo."""
    root = tmp_path_factory.mktemp("archives")
    skopeo.run("copy", "-q", f"oci:{FIXTURES / 'small.oci'}:1", f"docker-archive:{root / 'img.tar'}:small/app:1")
    skopeo.run("copy", "-q", f"oci:{FIXTURES / 'small.oci'}:1", f"oci-archive:{root / 'img.oci.tar'}:1")
    return root


@pytest.fixture
def private_tmp(tmp_path, monkeypatch) -> Path:
    """The directory pypush makes its temporary directories in, for this test alone."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return tmp


def _compress(tool: str, plain: Path, out: Path) -> Path:
    with open(plain, "rb") as src, open(out, "wb") as dst:
        subprocess.run(TOOLS[tool], stdin=src, stdout=dst, check=True)
    return out


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_a_compressed_docker_save_pushes_and_pulls_back(registry, skopeo, archives, private_tmp, tmp_path, tool):
    source = _compress(tool, archives / "img.tar", tmp_path / f"img.tar.{tool}")
    want = docker_archive_expectations(archives / "img.tar")
    result = push(f"docker-archive:{source}", f"{registry.host}/compressed/{tool}:1", insecure=True)
    got = pull_and_check(skopeo, f"{registry.host}/compressed/{tool}:1", tmp_path / "pulled", result.digest)
    assert got["configs"] == [want["config"]] and got["diff_ids"] == [want["diff_ids"]]
    plain = push(f"docker-archive:{archives / 'img.tar'}", f"{registry.host}/compressed/{tool}:plain", insecure=True)
    assert plain.digest == result.digest and plain.blobs_pushed == 0
    assert list(private_tmp.iterdir()) == []  # the decompressed copy is gone


def test_a_compressed_oci_archive_keeps_its_digest(registry, skopeo, archives, private_tmp, tmp_path):
    source = _compress("zstd", archives / "img.oci.tar", tmp_path / "img.oci.tar.zst")
    expected = oci_archive_top_digest(archives / "img.oci.tar")
    for spec in (f"oci-archive:{source}:1", str(source)):  # named, and a bare path whose format is guessed
        result = push(spec, f"{registry.host}/compressed/oci:1", compression="keep", insecure=True)
        assert result.digest == expected
    pull_and_check(skopeo, f"{registry.host}/compressed/oci:1", tmp_path / "pulled", expected)
    assert list(private_tmp.iterdir()) == []


def test_a_truncated_tar_gz_fails_in_one_line_and_pushes_nothing(registry, archives, private_tmp, tmp_path, capsys):
    whole = _compress("gzip", archives / "img.tar", tmp_path / "whole.tar.gz").read_bytes()
    cut = tmp_path / "img.tar.gz"
    cut.write_bytes(whole[: len(whole) * 2 // 3])
    code = main(["push", f"docker-archive:{cut}", f"{registry.host}/compressed/cut:1", "--insecure"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 3 and len(err) == 1, err
    assert f"{cut}: corrupt or truncated gzip-compressed archive" in err[0]
    with urllib.request.urlopen(f"http://{registry.host}/v2/_catalog") as resp:
        assert "compressed/cut" not in json.load(resp)["repositories"]  # not even an upload was started
    assert list(private_tmp.iterdir()) == []


def test_an_interrupted_decompression_leaves_nothing_behind(private_tmp, tmp_path, monkeypatch):
    source = tmp_path / "img.tar.gz"
    source.write_bytes(gzip.compress((FIXTURES / "small.docker-archive.tar").read_bytes()))

    def interrupted(src, kind, path):
        yield b"x" * 512
        raise KeyboardInterrupt

    monkeypatch.setattr(compressed_archive, "_decoded", interrupted)
    with pytest.raises(KeyboardInterrupt):
        open_source(str(source))
    assert list(private_tmp.iterdir()) == []


def test_a_compressed_file_that_is_no_image_is_refused_and_cleaned_up(private_tmp, tmp_path):
    not_an_image = tmp_path / "notes.tar.bz2"
    not_an_image.write_bytes(bz2.compress(b"just some notes\n" * 100))
    with pytest.raises(SourceError, match=r"notes\.tar\.bz2 \(bzip2-compressed, but what it holds is not a tar"):
        open_source(str(not_an_image))
    packed_dir = tmp_path / "dir.tar.xz"  # a tar holding no image: the message names the file, not the copy
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"hi\n"))
    packed_dir.write_bytes(lzma.compress(buf.getvalue()))
    with pytest.raises(SourceError, match=rf"not an image: {packed_dir} \(tar holds neither"):
        open_source(str(packed_dir))
    assert list(private_tmp.iterdir()) == []


def test_without_a_loadable_zstandard_the_error_says_so(private_tmp, tmp_path, monkeypatch):
    """As on Debian's PyPy, where zstandard installs without its backend: one line naming the file."""
    packed = tmp_path / "img.tar.zst"
    packed.write_bytes(b"\x28\xb5\x2f\xfd" + bytes(100))
    monkeypatch.setitem(sys.modules, "zstandard", None)  # `import zstandard` raises ImportError
    with pytest.raises(SourceError) as info:
        open_source(f"docker-archive:{packed}")
    message = str(info.value)
    assert message.startswith(f"{packed}: zstd-compressed, and the zstandard package does not load") and "\n" not in message
    assert list(private_tmp.iterdir()) == []
