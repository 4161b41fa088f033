"""Units of `pypush build`: wheel tags for a target, the ELF machine check, locks, the SBOM's licenses, the
scratch base, the deprecated `pypush.build(base, layers)` form, and a base without Python."""
from __future__ import annotations

import io
import json
import struct
import warnings

import pytest

import pypush
from pypush.assemble.elf import elf_architecture, foreign_binaries
from pypush.errors import SourceError, UsageError
from pypush.pybuild.lock import select
from pypush.pybuild.model import Artifact, Package
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


def _sdist(tmp_path, name: str = "purepkg") -> str:
    """A pure-Python sdist (setuptools, src layout) made by hand."""
    import tarfile

    root = tmp_path / "sdist-src" / f"{name}-1.0"
    (root / "src" / name).mkdir(parents=True)
    (root / "pyproject.toml").write_text('[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = '
                                         f'"setuptools.build_meta"\n[project]\nname = "{name}"\nversion = "1.0"\n')
    (root / "PKG-INFO").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (root / "src" / name / "__init__.py").write_text("VALUE = 42\n")
    path = tmp_path / f"{name}-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(root, arcname=f"{name}-1.0")
    return str(path)


def test_a_locked_pure_sdist_is_built_into_a_wheel(tmp_path):
    import hashlib

    from pypush.pybuild.wheels import fetch, wheel_for_sdist

    sdist = _sdist(tmp_path)
    sha = hashlib.sha256(open(sdist, "rb").read()).hexdigest()
    package = Package("purepkg", "1.0", [], Artifact(f"file://{sdist}", sha))
    (chosen_package, artifact), = select([package], _target("arm64"), "lock")
    path = fetch([artifact], str(tmp_path / "cache"))[artifact]
    wheel = wheel_for_sdist("purepkg", path, str(tmp_path / "cache"), "linux/arm64")
    assert wheel.endswith("purepkg-1.0-py3-none-any.whl")
    bad = Artifact(f"file://{sdist}", "0" * 64)
    with pytest.raises(SourceError, match=r"purepkg-1.0.tar.gz: sha256 .* does not match the lock's 0000"):
        fetch([bad], str(tmp_path / "other-cache"))


def _detect(files, env=("PATH=/usr/local/bin:/usr/bin:/bin",), arch="amd64"):
    """The Target read from one layer holding ``files`` (path -> bytes, or "->target" for a symlink)."""
    import tarfile

    from pypush.pybuild.target import _Index, _read_layer, _target

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            if isinstance(data, str):
                info.type, info.linkname = tarfile.SYMTYPE, data[2:]
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    index = _Index()
    _read_layer(index, buf, "layer")
    return _target(index, {"os": "linux", "architecture": arch, "config": {"Env": list(env)}})


def test_target_of_a_python_org_image():
    target = _detect({"usr/local/bin/python3": "->python3.12", "usr/local/bin/python3.12": b"\x7fELF",
                      "usr/local/lib/python3.12/os.py": b"", "usr/lib/python3/dist-packages/x.py": b"",
                      "lib/x86_64-linux-gnu/libc.so.6": b"..GLIBC_2.34..GLIBC_2.36\0"},
                     env=("PATH=/usr/local/bin:/usr/bin", "PYTHON_VERSION=3.12.7"))
    assert (target.site_dir, target.bin_dir, target.interpreter) == (
        "/usr/local/lib/python3.12/site-packages", "/usr/local/bin", "/usr/local/bin/python3")
    assert (target.libc, target.libc_version, target.python_full_version) == ("glibc", (2, 36), "3.12.7")


def test_target_of_debian_python_of_alpine_and_of_a_venv():
    debian = _detect({"usr/bin/python3": "->python3.11", "usr/bin/python3.11": b"", "usr/lib/python3.11/os.py": b"",
                      "usr/lib/python3/dist-packages/": b"", "lib/aarch64-linux-gnu/libc-2.31.so": b""}, arch="arm64")
    assert debian.site_dir == "/usr/local/lib/python3.11/dist-packages" and debian.libc_version == (2, 31)
    alpine = _detect({"usr/bin/python3": "->python3.12", "usr/bin/python3.12": b"", "usr/lib/python3.12/os.py": b"",
                      "lib/ld-musl-x86_64.so.1": b"", "lib/apk/db/installed": b"C:x\nP:musl\nV:1.2.5-r0\n"})
    assert (alpine.libc, alpine.libc_version, alpine.site_dir) == ("musl", (1, 2), "/usr/lib/python3.12/site-packages")
    venv = _detect({"opt/venv/bin/python3": "->/usr/bin/python3.11", "opt/venv/pyvenv.cfg": b"home = /usr/bin\n",
                    "usr/bin/python3.11": b"", "usr/lib/python3.11/os.py": b"", "lib/libc.so.6": b"GLIBC_2.28"},
                   env=("PATH=/opt/venv/bin:/usr/bin",))
    assert (venv.site_dir, venv.bin_dir, venv.interpreter) == (
        "/opt/venv/lib/python3.11/site-packages", "/opt/venv/bin", "/opt/venv/bin/python3")
    with pytest.raises(SourceError, match=r"the base \(linux/amd64\) has no Python: no python3 on its PATH"):
        _detect({"bin/sh": b""})


def test_big_wheels_get_layers_of_their_own(tmp_path, monkeypatch):
    from pypush.pybuild import plan

    wheels = []
    for name, size in (("small", 10), ("huge", 300), ("big", 200)):
        path = tmp_path / f"{name}-1-py3-none-any.whl"
        path.write_bytes(b"\0" * size)
        wheels.append((str(path), {"name": name}))
    monkeypatch.setattr(plan, "OWN_LAYER", 100)
    groups = plan.dependency_groups(wheels)
    assert [what for _, what in groups] == ["dependency big", "dependency huge", "dependencies"]
    assert [len(g) for g, _ in groups] == [1, 1, 1] and groups[2][0][0][1]["name"] == "small"
    monkeypatch.setattr(plan, "OWN_LAYER", 1000)
    assert [what for _, what in plan.dependency_groups(wheels)] == ["dependencies"]


def _wheel_file(directory, name: str, requires=()) -> None:
    """A minimal pure wheel ``name-1.0`` with ``Requires-Dist`` lines."""
    import zipfile

    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n" + "".join(f"Requires-Dist: {r}\n" for r in requires)
    with zipfile.ZipFile(directory / f"{name.replace('-', '_')}-1.0-py3-none-any.whl", "w") as zf:
        zf.writestr(f"{name.replace('-', '_')}.py", "")
        zf.writestr(f"{name.replace('-', '_')}-1.0.dist-info/METADATA", meta)
        zf.writestr(f"{name.replace('-', '_')}-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\n")
        zf.writestr(f"{name.replace('-', '_')}-1.0.dist-info/RECORD", "")


def test_the_resolve_evaluates_markers_for_each_target_not_this_machine(tmp_path, monkeypatch):
    """pip's --platform/--python-version leave markers to the machine it runs on; the resolve sets them."""
    import dataclasses
    import sys

    from pypush.pybuild.lock import resolve

    links = tmp_path / "links"
    links.mkdir()
    _wheel_file(links, "top", ['only-x86; platform_machine == "x86_64"', 'only-arm; platform_machine == "aarch64"',
                               'old-py; python_version < "3.9"', 'new-py; python_version >= "3.9"'])
    for name in ("only-x86", "only-arm", "old-py", "new-py"):
        _wheel_file(links, name)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    # Python 3.8 targets: a version no machine running these tests has (pypush needs 3.9)
    targets = [dataclasses.replace(_target(arch), python_version=(3, 8), python_full_version="3.8.18")
               for arch in ("amd64", "arm64")]
    assert sys.version_info >= (3, 9)
    packages = resolve(["top"], targets, "", "sha256:x", str(tmp_path / "pylock.toml"), write=False)
    chosen = {t.architecture: sorted(p.name for p, _ in select(packages, t, "lock")) for t in targets}
    assert chosen == {"amd64": ["old-py", "only-x86", "top"], "arm64": ["old-py", "only-arm", "top"]}


def test_a_uv_lock_with_forks_extras_and_platform_markers():
    """uv 0.13's own lock (``uv lock`` of ``click``, ``requests[socks]``, ``pywin32; sys_platform == 'win32'``,
    requires-python >= 3.9; other platforms' wheels trimmed): one version per Python for the forked names,
    the extra's dependency, nothing for Windows."""
    import dataclasses
    from pathlib import Path

    from pypush.pybuild.lock import read_uv_lock

    lock = str(Path(__file__).parent / "data" / "uv-forks.lock")
    packages = read_uv_lock(lock, "uvproj")
    py39_arm = dataclasses.replace(_target("arm64"), python_version=(3, 9), python_full_version="3.9.2")
    got = {t.cache_tag + " " + t.architecture: {p.name: (p.version, a.filename.split("-", 2)[2])
                                                 for p, a in select(packages, t, lock)}
           for t in (_target(), py39_arm)}
    assert got["cpython-311 amd64"] == {
        "certifi": ("2026.10.19.post1", "py3-none-any.whl"), "click": ("8.5.1", "py3-none-any.whl"),
        "idna": ("3.21", "py3-none-any.whl"), "pysocks": ("1.7.1", "py3-none-any.whl"),
        "requests": ("2.34.2", "py3-none-any.whl"), "urllib3": ("2.8.0", "py3-none-any.whl"),
        "charset-normalizer": ("3.5.3", "cp311-cp311-manylinux1_x86_64.manylinux_2_28_x86_64.manylinux_2_5_x86_64.whl")}
    assert got["cpython-39 arm64"]["click"] == ("8.1.8", "py3-none-any.whl")
    assert got["cpython-39 arm64"]["requests"] == ("2.32.5", "py3-none-any.whl")
    assert got["cpython-39 arm64"]["charset-normalizer"][1].startswith("cp39-cp39-")
    assert got["cpython-39 arm64"]["charset-normalizer"][1].endswith("aarch64.whl")
    assert set(got["cpython-39 arm64"]) == set(got["cpython-311 amd64"])


@pytest.mark.parametrize("name", ["pylock.uv-export.toml", "pylock.pip-lock.toml"])
def test_pylock_files_as_uv_and_pip_write_them(name):
    """``uv export --format pylock.toml`` (uv 0.13, markers for every Python) and ``pip lock .`` (pip 26.3, this
    machine's choices) of the project of the uv.lock test (uv's: other platforms' wheels trimmed): the project's own
    ``directory`` entry left out."""
    from pathlib import Path

    from pypush.pybuild.lock import read_pylock

    lock = Path(__file__).parent / "data" / name
    packages, tool = read_pylock(str(lock), str(lock.parent))
    assert tool == {} and "uvproj" not in {p.name for p in packages}
    chosen = {p.name: p.version for p, _ in select(packages, _target(), str(lock))}
    assert {k: chosen.get(k) for k in ("click", "requests", "urllib3", "pysocks")} == {
        "click": "8.5.1", "requests": "2.34.2", "urllib3": "2.8.0", "pysocks": "1.7.1"}
    assert "colorama" not in chosen and "pywin32" not in chosen
    with pytest.raises(SourceError, match=r"packages\[\d+\] \(uvproj\): needs name and version"):
        read_pylock(str(lock), str(lock.parent.parent))  # a directory package that is not the project


@pytest.mark.parametrize("url, location", [
    ("https://files.pythonhosted.org/packages/a/b/six-1.16.0-py2.py3-none-any.whl",
     "https://files.pythonhosted.org/packages/a/b/six-1.16.0-py2.py3-none-any.whl"),
    ("file:///opt/pypi/files/attrs-26.1.0-py3-none-any.whl", "NOASSERTION"),
    ("http://127.0.0.1:8080/simple/six/six-1.16.0-py2.py3-none-any.whl", "NOASSERTION"),
    ("http://[::1", "NOASSERTION"), ("", "NOASSERTION"), ("https://localhost/x.whl", "NOASSERTION"),
])
def test_sbom_download_location_is_one_spdx_accepts(url, location):
    """spdx-tools' validator refuses a file: URL or an IP host as downloadLocation (found by validating a
    build's SBOM made on a machine whose pip reads a file: mirror)."""
    from pypush.pybuild.sbom import download_location

    assert download_location(url) == location


def test_a_local_directory_requirement_is_refused_naming_what_to_do(tmp_path, monkeypatch):
    """``dep @ file:///DIR``: pip reports a directory, not an archive with a hash; pypush says so (it used to
    say "pip gave no sha256"). The directory's in-tree backend keeps pip off the index."""
    from pypush.pybuild.lock import resolve

    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "pyproject.toml").write_text('[build-system]\nrequires = []\nbuild-backend = "backend"\n'
                                        'backend-path = ["."]\n')
    (lib / "backend.py").write_text(
        "import os\n"
        "def prepare_metadata_for_build_wheel(d, config_settings=None):\n"
        "    os.makedirs(os.path.join(d, 'locallib-0.1.dist-info'))\n"
        "    open(os.path.join(d, 'locallib-0.1.dist-info', 'METADATA'), 'w').write(\n"
        "        'Metadata-Version: 2.1\\nName: locallib\\nVersion: 0.1\\n')\n"
        "    return 'locallib-0.1.dist-info'\n"
        "def build_wheel(d, config_settings=None, metadata_directory=None):\n"
        "    raise RuntimeError('not in a dry run')\n")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    with pytest.raises(SourceError, match=r"^locallib 0.1: a local directory requirement \(file://.*/lib\), which "
                                          r"pypush build does not install: make it a wheel \(pip wheel DIR\)"):
        resolve([f"locallib @ {lib.as_uri()}"], [_target()], "", "sha256:x", str(tmp_path / "pylock.toml"),
                write=False)


def test_a_uv_lock_extra_asked_for_by_a_later_edge_is_followed(tmp_path):
    """``app`` needs ``lib`` and ``lib[fast]`` by two edges with the same (empty) marker: the second edge's extra
    must still be followed, though ``lib`` was reached before."""
    from pypush.pybuild.lock import read_uv_lock

    wheel = '{{ url = "https://files.example/{0}-1.0-py3-none-any.whl", hash = "sha256:{1}" }}'
    lock = tmp_path / "uv.lock"
    lock.write_text(
        'version = 1\n\n[[package]]\nname = "app"\nversion = "1.0"\nsource = { editable = "." }\n'
        'dependencies = [{ name = "lib", extra = ["fast"] }, { name = "mid" }]\n\n'
        '[[package]]\nname = "mid"\nversion = "1.0"\ndependencies = [{ name = "lib" }]\n'
        f'wheels = [{wheel.format("mid", "a" * 64)}]\n\n'
        '[[package]]\nname = "lib"\nversion = "1.0"\n'
        f'wheels = [{wheel.format("lib", "b" * 64)}]\n'
        '[package.optional-dependencies]\nfast = [{ name = "speedup" }]\n\n'
        '[[package]]\nname = "speedup"\nversion = "1.0"\n'
        f'wheels = [{wheel.format("speedup", "c" * 64)}]\n')
    assert [p.name for p in read_uv_lock(str(lock), "app")] == ["lib", "mid", "speedup"]
