"""Reproducible layers, tarball layers, config changes and Docker-typed bases (no servers needed)."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import time
from pathlib import Path

import pytest

from pypush.assemble.builder import append as build
from pypush.assemble.config_edit import ConfigChanges, parse_command
from pypush.assemble.layer_spec import Layer
from pypush.errors import SourceError, UsageError
from pypush.image.model import ImageIndex


def make_tree(root: Path, stamp: float) -> Path:
    root.mkdir(parents=True)
    (root / "b").mkdir()
    (root / "b" / "x.txt").write_text("x\n")
    (root / "a.sh").write_text("#!/bin/sh\n")
    (root / "a.sh").chmod(0o755)
    os.symlink("b/x.txt", root / "link")
    for p in [root / "b" / "x.txt", root / "a.sh", root / "b", root]:
        os.utime(p, (stamp, stamp))
    return root


def members(path: str):
    with tarfile.open(path) as tar:
        return [(m.name, m.type, m.mode, m.uid, m.gid, m.uname, m.gname, m.mtime, m.linkname) for m in tar]


def test_same_inputs_same_bytes_whatever_the_host_state(tmp_path, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    one = Layer.directory(make_tree(tmp_path / "one", 1_000_000), "/app").build(str(tmp_path))
    two = Layer.directory(make_tree(tmp_path / "elsewhere" / "two", time.time()), "/app").build(str(tmp_path))
    assert one.digest == two.digest == one.diff_id
    got = members(one.path)
    assert [m[0] for m in got] == ["app", "app/a.sh", "app/b", "app/b/x.txt", "app/link"]  # sorted, parents present
    assert all(m[3:8] == (0, 0, "", "", 0) for m in got)
    assert {m[0]: oct(m[2]) for m in got}["app/a.sh"] == "0o755"
    assert {m[0]: m[8] for m in got}["app/link"] == "b/x.txt"
    assert str(tmp_path) not in open(one.path, "rb").read().decode("latin-1")


def test_known_digest_for_known_inputs(tmp_path):
    """The bytes are fixed by the format, not by the Python version: pin one digest."""
    layer = Layer.files({"/etc/app.conf": b"level = 3\n", "/opt/x/" + "n" * 120: b"long name\n",
                         "/opt/\u00fcnicode": b"u\n"}).add_bytes("/usr/bin/tool", b"#!/bin/sh\n", 0o755)
    built = layer.build(str(tmp_path))
    names = [m[0] for m in members(built.path)]
    assert "opt/x/" + "n" * 120 in names and "opt/\u00fcnicode" in names
    assert built.digest == "sha256:" + hashlib.sha256(open(built.path, "rb").read()).hexdigest()
    assert built.digest == PINNED, built.digest


PINNED = "sha256:e0eddea2580912f163944a8afb22b829c8892e2505734ec33dc613f3c04c4e0b"  # CPython 3.9-3.13, PyPy


def test_source_date_epoch_and_chown(tmp_path, monkeypatch):
    src = make_tree(tmp_path / "src", 5)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    with build("oci:fixtures/small.oci:1", [Layer.directory(src, "/app")], chown="1000:1001") as image:
        got = members(image.layers[0].path)
        config = json.loads(image.node("none").config.open().read())
    assert {(m[3], m[4], m[7]) for m in got} == {(1000, 1001, 1700000000)}
    assert config["created"] == "2023-11-14T22:13:20Z"
    assert config["history"][-1]["created"] == "2023-11-14T22:13:20Z"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(UsageError, match="SOURCE_DATE_EPOCH"):
        build("oci:fixtures/small.oci:1", [Layer.directory(src)])


def tarball(path: Path, names, compress: bool = False) -> Path:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in names:
            info = tarfile.TarInfo(name)
            info.size = 2
            tar.addfile(info, io.BytesIO(b"hi"))
    data = buf.getvalue()
    path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
    return path


def test_tarballs_as_they_are_or_under_a_directory(tmp_path):
    plain = tarball(tmp_path / "a.tar", ["x/y.txt"])
    built = Layer.from_path(plain).build(str(tmp_path))
    assert built.digest == built.diff_id == "sha256:" + hashlib.sha256(plain.read_bytes()).hexdigest()
    assert built.path == str(plain)  # used in place, never copied
    gz = tarball(tmp_path / "a.tar.gz", ["x/y.txt"], compress=True)
    built = Layer.from_path(gz).build(str(tmp_path))
    assert built.media_type.endswith("tar+gzip")
    assert (built.digest, built.diff_id) == ("sha256:" + hashlib.sha256(gz.read_bytes()).hexdigest(),
                                             "sha256:" + hashlib.sha256(plain.read_bytes()).hexdigest())
    moved = Layer.parse(f"{gz}:/opt/data").build(str(tmp_path))
    assert [m[0] for m in members(moved.path)] == ["opt", "opt/data", "opt/data/x/y.txt"]
    evil = tarball(tmp_path / "evil.tar", ["ok", "../../etc/passwd"])
    with pytest.raises(UsageError, match="escapes the image root"):
        Layer.from_path(evil).build(str(tmp_path))


def test_bad_layers_are_refused(tmp_path):
    with pytest.raises(SourceError, match="no such file"):
        Layer.parse(str(tmp_path / "missing") + ":/app")
    with pytest.raises(UsageError, match="escapes the image root"):
        Layer().add_bytes("/a/../../b", b"")
    with pytest.raises(UsageError, match="given twice"):
        Layer.files({"/a": b"1", "a": b"2"}).build(str(tmp_path))
    with pytest.raises(UsageError, match="needs it to be a directory"):
        Layer.files({"/a": b"1", "/a/b": b"2"}).build(str(tmp_path))


def test_config_changes():
    assert parse_command('["a", "b c"]', "--cmd") == ["a", "b c"]
    assert parse_command("a 'b c'", "--cmd") == ["a", "b c"]
    doc = {"config": {"Cmd": ["python3"], "Env": ["PATH=/usr/bin", "A=1"]}, "rootfs": {"diff_ids": ["sha256:1"]}}
    changes = ConfigChanges.parse(entrypoint="/run", env=["PATH=/app:/usr/bin", "B=2"], expose=["53/udp", 80])
    out = changes.apply(doc, ["sha256:2"], [{"created_by": "x"}])
    assert out["config"]["Entrypoint"] == ["/run"] and "Cmd" not in out["config"]  # as a Dockerfile ENTRYPOINT
    assert out["config"]["Env"] == ["PATH=/app:/usr/bin", "A=1", "B=2"]
    assert out["config"]["ExposedPorts"] == {"53/udp": {}, "80/tcp": {}}
    assert out["rootfs"] == {"diff_ids": ["sha256:1", "sha256:2"], "type": "layers"}
    for bad in (dict(expose=["70000"]), dict(env=["NOEQUALS"]), dict(workdir="relative"), dict(cmd="[1]")):
        with pytest.raises(UsageError):
            ConfigChanges.parse(**bad)


@pytest.mark.zstd
def test_docker_typed_base_becomes_oci_with_the_same_layer_digests(tmp_path):
    layout = Path("fixtures/docker-list.oci")
    def blob(digest: str) -> dict:
        return json.loads((layout / "blobs" / "sha256" / digest.split(":")[1]).read_text())

    index = blob(json.loads((layout / "index.json").read_text())["manifests"][0]["digest"])
    base_layers = [[l["digest"] for l in blob(m["digest"])["layers"]] for m in index["manifests"]]
    with build("oci:fixtures/docker-list.oci:1", [{"/hello": b"hi\n"}]) as image:
        root = image.node("zstd")
    assert isinstance(root, ImageIndex)
    assert json.loads(root.raw)["mediaType"] == "application/vnd.oci.image.index.v1+json"
    for child, layers in zip(root.children, base_layers):
        doc = json.loads(child.raw)
        assert doc["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
        assert doc["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
        assert [l["digest"] for l in doc["layers"][:-1]] == layers
        assert {l["mediaType"] for l in doc["layers"][:-1]} == {"application/vnd.oci.image.layer.v1.tar+gzip"}
        assert child.layers[-1].descriptor.media_type == "application/vnd.oci.image.layer.v1.tar+zstd"
