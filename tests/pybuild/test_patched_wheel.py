"""The project's wheel after an edit: patched from the last backend build only when that is what the backend
would make — byte for byte the backend's own wheel (setuptools, flit_core, hatchling, with
``SOURCE_DATE_EPOCH``) — and built by the backend again otherwise."""
from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

import pytest

from pypush.pybuild.patched_wheel import BUILD_RECORD
from pypush.pybuild.project import Project

BACKENDS = {
    "setuptools": ('requires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"', "src/demo_app"),
    "flit_core": ('requires = ["flit_core>=3.4"]\nbuild-backend = "flit_core.buildapi"', "demo_app"),
    "hatchling": ('requires = ["hatchling"]\nbuild-backend = "hatchling.build"', "src/demo_app"),
}


def _project(root: Path, backend: str, extra: str = "", version: str = 'version = "1.2.0"') -> Path:
    system, package = BACKENDS[backend]
    (root / package).mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        f'[build-system]\n{system}\n\n[project]\nname = "demo-app"\n{version}\ndescription = "demo"\n'
        f'readme = "README.md"\nrequires-python = ">=3.8"\n{extra}\n[project.scripts]\ndemo = "demo_app.cli:main"\n')
    (root / "README.md").write_text("# demo\n")
    (root / package / "__init__.py").write_text('"""demo"""\n__version__ = "1.2.0"\n')
    (root / package / "cli.py").write_text("def main():\n    print('one')\n")
    (root / package / "util.py").write_text("")
    (root / "tests").mkdir()
    (root / "tests" / "test_cli.py").write_text("def test_nothing():\n    pass\n")
    return root / package


def _wheel(root: Path, cache: Path) -> Path:
    return Path(Project.read(str(root)).wheel(str(cache)))


def _patched(wheel: Path) -> bool:
    return not (wheel.parent / BUILD_RECORD).exists()


def _members(wheel: Path) -> dict:
    with zipfile.ZipFile(wheel) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


@pytest.fixture(autouse=True)
def _epoch(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_an_edited_module_patches_the_wheel_into_the_backends_own_bytes(tmp_path, backend):
    package = _project(tmp_path / "p", backend)
    cache = tmp_path / "cache"
    first = _wheel(tmp_path / "p", cache)
    assert not _patched(first)
    (package / "cli.py").write_text("def main():\n    print('two, a longer line')\n")
    second = _wheel(tmp_path / "p", cache)
    assert _patched(second) and second != first
    assert b"two, a longer line" in _members(second)["demo_app/cli.py"]
    fresh = _wheel(tmp_path / "p", tmp_path / "other-cache")
    assert not _patched(fresh)
    assert _members(second) == _members(fresh)
    assert hashlib.sha256(second.read_bytes()).digest() == hashlib.sha256(fresh.read_bytes()).digest()
    # the same bytes again: the cached wheel, not a new one
    assert _wheel(tmp_path / "p", cache) == second


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_without_source_date_epoch_a_member_dated_by_its_file_gets_the_new_time(tmp_path, backend, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    package = _project(tmp_path / "p", backend)
    for path in package.iterdir():
        os.utime(path, (1600000000, 1600000000))
    cache = tmp_path / "cache"
    _wheel(tmp_path / "p", cache)
    (package / "cli.py").write_text("def main():\n    print('two')\n")
    os.utime(package / "cli.py", (1700000001, 1700000001))
    second = _wheel(tmp_path / "p", cache)
    fresh = _wheel(tmp_path / "p", tmp_path / "other-cache")
    assert _patched(second) and not _patched(fresh)

    def entries(wheel: Path) -> dict:  # setuptools dates its generated dist-info files by the clock
        with zipfile.ZipFile(wheel) as zf:
            return {i.filename: (zf.read(i), None if ".dist-info/" in i.filename else i.date_time)
                    for i in zf.infolist()}
    assert entries(second) == entries(fresh)
    assert entries(second)["demo_app/cli.py"][1] != entries(second)["demo_app/util.py"][1] or backend == "hatchling"


@pytest.mark.parametrize("edit", ["pyproject", "readme", "new-module", "removed-module", "test-file", "mode"])
def test_other_changes_go_back_to_the_backend(tmp_path, edit):
    package = _project(tmp_path / "p", "flit_core")
    cache = tmp_path / "cache"
    _wheel(tmp_path / "p", cache)
    root = tmp_path / "p"
    if edit == "pyproject":
        (root / "pyproject.toml").write_text((root / "pyproject.toml").read_text().replace("1.2.0", "1.3.0"))
    elif edit == "readme":
        (root / "README.md").write_text("# demo, changed\n")
    elif edit == "new-module":
        (package / "extra.py").write_text("X = 1\n")
    elif edit == "removed-module":
        (package / "util.py").unlink()
    elif edit == "test-file":
        (root / "tests" / "test_cli.py").write_text("def test_other():\n    pass\n")
    else:
        os.chmod(package / "cli.py", 0o755)
    again = _wheel(root, cache)
    assert not _patched(again)
    assert _members(again) == _members(_wheel(root, tmp_path / "other-cache"))


def test_a_module_the_configuration_names_is_not_patched(tmp_path):
    package = _project(tmp_path / "p", "flit_core", version='dynamic = ["version"]')
    cache = tmp_path / "cache"
    _wheel(tmp_path / "p", cache)
    (package / "__init__.py").write_text('"""demo"""\n__version__ = "1.4.0"\n')
    again = _wheel(tmp_path / "p", cache)
    assert not _patched(again) and again.name == "demo_app-1.4.0-py3-none-any.whl"


def test_a_wheel_with_generated_members_is_not_patched(tmp_path):
    """A setuptools build step that writes a file of its own: the wheel holds bytes no project file has."""
    root = tmp_path / "p"
    package = _project(root, "setuptools")
    (root / "setup.py").write_text(
        "from setuptools import setup\nfrom setuptools.command.build_py import build_py\n"
        "class Stamp(build_py):\n    def run(self):\n        super().run()\n"
        "        open(self.build_lib + '/demo_app/_stamp.py', 'w').write('STAMP = 1\\n')\n"
        "setup(cmdclass={'build_py': Stamp})\n")
    cache = tmp_path / "cache"
    first = _wheel(root, cache)
    assert "demo_app/_stamp.py" in _members(first)
    (package / "cli.py").write_text("def main():\n    print('two')\n")
    assert not _patched(_wheel(root, cache))


def test_a_package_the_backend_moves_is_not_patched(tmp_path):
    """``package-dir``: ``lib/cli.py`` becomes ``demo_app/cli.py``; edits go to setuptools again."""
    root = tmp_path / "p"
    package = _project(root, "setuptools")
    package.rename(root / "lib")
    (root / "pyproject.toml").write_text((root / "pyproject.toml").read_text().replace(
        "\n[project.scripts]", '\n[tool.setuptools]\npackage-dir = {"demo_app" = "lib"}\n\n[project.scripts]'))
    cache = tmp_path / "cache"
    assert "demo_app/cli.py" in _members(_wheel(root, cache))
    (root / "lib" / "cli.py").write_text("def main():\n    print('two')\n")
    again = _wheel(root, cache)
    assert not _patched(again) and b"two" in _members(again)["demo_app/cli.py"]
