"""Units of `pypush build`: wheel tags for a target, the ELF machine check, locks, the SBOM's licenses, the
scratch base, the deprecated `pypush.build(base, layers)` form, and a base without Python."""
from __future__ import annotations

import json
import struct
import warnings

import pytest

import pypush
from pypush.assemble.elf import elf_architecture, foreign_binaries
from pypush.errors import SourceError, UsageError
from pypush.pybuild.lock import Artifact, Package, select
from pypush.pybuild.lock_write import render_pylock
from pypush.pybuild.sbom import declared_license
from pypush.pybuild.tags import platform_tags, wheel_tags
from pypush.pybuild.target import Target


def _target(arch: str = "amd64", libc: str = "glibc", version=(2, 36)) -> Target:
    return Target(os="linux", architecture=arch, variant="", implementation="cp", python_version=(3, 11),
                  python_full_version="3.11.2", interpreter="/usr/bin/python3",
                  site_dir="/usr/local/lib/python3.11/dist-packages", bin_dir="/usr/local/bin", prefix="/usr/local",
                  libc=libc, libc_version=version)


def test_glibc_tags_spell_out_every_older_manylinux():
    tags = platform_tags(_target())
    assert tags[0] == "manylinux_2_36_x86_64" and tags[-1] == "manylinux1_x86_64"
    assert len([t for t in tags if t.startswith("manylinux_2_")]) == 32 and "manylinux2014_x86_64" in tags
    arm = platform_tags(_target("arm64"))
    assert arm[-2:] == ["manylinux_2_17_aarch64", "manylinux2014_aarch64"]
    assert platform_tags(_target("arm64", "musl", (1, 2))) == ["musllinux_1_2_aarch64", "musllinux_1_1_aarch64",
                                                                "musllinux_1_0_aarch64"]
    assert "cp311-abi3-manylinux_2_17_x86_64" in wheel_tags(_target()) and "py3-none-any" in wheel_tags(_target())


def test_select_picks_each_platforms_wheel_and_names_a_missing_one():
    base = "https://files.example/"
    package = Package("markupsafe", "2.1.5", [
        Artifact(base + "MarkupSafe-2.1.5-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", "a" * 64),
        Artifact(base + "MarkupSafe-2.1.5-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl", "b" * 64)])
    assert select([package], _target(), "lock")[0][1].sha256 == "a" * 64
    assert select([package], _target("arm64"), "lock")[0][1].sha256 == "b" * 64
    with pytest.raises(SourceError, match=r"markupsafe 2.1.5 has no wheel for linux/ppc64le"):
        select([package], _target("ppc64le"), "lock")
    only_x86 = Package("x", "1", [Artifact(base + "x-1-py3-none-any.whl", "c" * 64)], marker="platform_machine == 'x86_64'")
    assert select([only_x86], _target("arm64"), "lock") == []


def test_pylock_round_trip(tmp_path):
    from pypush.pybuild.lock import read_pylock

    packages = [Package("six", "1.16.0", [Artifact("https://f.example/six-1.16.0-py2.py3-none-any.whl", "d" * 64)])]
    path = tmp_path / "pylock.toml"
    path.write_text(render_pylock(packages, ">=3.9", "sha256:x", ["linux/amd64 cpython-311 glibc2.36"]))
    got, tool = read_pylock(str(path))
    assert got == packages and tool["inputs"] == "sha256:x"
    path.write_text('lock-version = "1.0"\n[[packages]]\nname = "six"\nversion = "1"\n')
    with pytest.raises(SourceError, match=r"pylock.toml: packages\[0\] \(six\): neither wheels nor an sdist"):
        read_pylock(str(path))


def _elf(machine: int) -> bytes:
    return b"\x7fELF\x02\x01\x01" + b"\0" * 11 + struct.pack("<H", machine) + b"\0" * 10


def test_elf_machine():
    assert elf_architecture(_elf(62)) == "amd64" and elf_architecture(_elf(183)) == "arm64"
    assert elf_architecture(b"#!/bin/sh\n" + b"\0" * 20) is None
    found = foreign_binaries([("/a.so", _elf(62)[:20]), ("/b.so", _elf(183)[:20])], "arm64")
    assert found == [("/a.so", "amd64")]


def test_append_refuses_a_foreign_elf_layer(tmp_path):
    layer = pypush.Layer.files({"/usr/lib/x.so": _elf(62)})
    with pytest.raises(SourceError, match=r"linux/arm64.*ELF.*/usr/lib/x.so \(amd64\)"):
        pypush.append("scratch", [layer], platforms=["linux/arm64"])
    with pypush.append("scratch", [layer], platforms=["linux/arm64"], allow_foreign_binaries=True) as image:
        assert image.digest.startswith("sha256:")


def test_licenses():
    assert declared_license("Apache-2.0 OR MIT", "") == "Apache-2.0 OR MIT"
    assert declared_license(None, "OSI Approved :: BSD License") == "BSD-3-Clause"
    assert declared_license(None, "MIT") == "MIT"
    assert declared_license(None, "Copyright (c) someone, all rights reserved, long text") == "NOASSERTION"


def test_scratch_needs_a_platform_and_writes_platform_in_index(tmp_path):
    with pytest.raises(UsageError, match="scratch base needs --platform"):
        pypush.append("scratch", [{"/hello": b"hi\n"}])
    with pypush.append("scratch", [{"/hello": b"hi\n"}], platforms=["linux/amd64"]) as image:
        image.write(f"oci:{tmp_path / 'out'}:v1", compression="none")
    entry = json.loads((tmp_path / "out" / "index.json").read_text())["manifests"][0]
    assert entry["platform"] == {"architecture": "amd64", "os": "linux"}


def test_old_build_form_warns_and_appends(tmp_path):
    with pytest.warns(DeprecationWarning, match="pypush.append"):
        image = pypush.build("scratch", [{"/hello": b"hi\n"}], platforms=["linux/amd64"])
    image.close()


def test_base_without_python_is_a_clear_error(tmp_path):
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "pyproject.toml").write_text('[project]\nname = "p"\nversion = "1"\n')
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(SourceError, match=r"the base \(linux/amd64\) has no Python"):
            pypush.build(str(tmp_path / "proj"), f"oci:{tmp_path / 'out'}", base="scratch", platforms=["linux/amd64"])
    assert not (tmp_path / "out").exists()
