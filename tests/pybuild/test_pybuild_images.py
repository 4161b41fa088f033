"""`pypush build`: real projects built on real Debian bookworm python3 bases (mmdebstrap, amd64 + arm64) and RUN:
amd64 under chroot, arm64 under qemu-aarch64, each importing its own C extension (markupsafe._speedups)."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pybuild_helpers as h  # noqa: E402

from conftest import run_pypush  # noqa: E402

PROJECTS = Path(__file__).parent / "projects"
pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mmdebstrap") or not shutil.which("qemu-aarch64"),
                                reason="needs root, mmdebstrap and qemu-user (.ci/run installs them)")


@pytest.fixture(scope="session")
def base() -> Path:
    return h.base_layout()


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    dest = tmp_path / "hello"
    shutil.copytree(PROJECTS / "hello", dest)
    return dest


def _build(project: Path, out: Path, base: Path, *extra: str, tag: str = "v1") -> dict:
    proc = run_pypush("build", str(project), f"oci:{out}:{tag}", "--base", f"oci:{base}:bookworm", "--format", "json",
                      *extra)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _run(rootfs: Path, arch: str, *argv: str) -> str:
    if arch == "amd64":
        cmd = ["chroot", str(rootfs), *argv]
    else:
        cmd = ["qemu-aarch64", "-L", str(rootfs), str(rootfs) + argv[0], *argv[1:]]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_build_runs_on_both_platforms_with_their_own_c_extensions(project, base, tmp_path):
    from pypush.pybuild.bytecode import candidates

    out = tmp_path / "out"
    result = _build(project, out, base)
    assert len(result["children"]) == 2 and len(result["referrers"]) == 2
    assert (project / "pylock.toml").exists()  # resolved, then written back
    for arch, machine in h.ARCHES.items():
        rootfs = h.unpack(out, "v1", arch, tmp_path / f"root-{arch}")
        script = (rootfs / "usr/local/bin/hello").read_text()
        assert script.startswith("#!/usr/bin/python3\n")
        # the script's shebang names the image's interpreter; run that interpreter on it
        text = _run(rootfs, arch, "/usr/bin/python3", "/usr/local/bin/hello")
        assert f"hello {machine} " in text and f"_speedups.cpython-311-{machine}-linux-gnu.so" in text, text
        site = rootfs / "usr/local/lib/python3.11/dist-packages"
        dist = site / "MarkupSafe-2.1.5.dist-info"
        assert (dist / "INSTALLER").read_text() == "pypush\n" and not (dist / "direct_url.json").exists()
        record = (dist / "RECORD").read_text()
        assert str(tmp_path) not in record and "markupsafe/__init__.py,sha256=" in record
        pycs = list(site.glob("markupsafe/__pycache__/*.pyc"))
        if (sys.version_info[:2] == (3, 11) and sys.implementation.name == "cpython") or candidates("cpython", (3, 11)):
            assert pycs and all(p.read_bytes()[4:8] == b"\x03\x00\x00\x00" for p in pycs)  # checked-hash pyc
            if arch == "amd64":  # the image's Python loads them as they are (no recompiling at start)
                proc = subprocess.run(["chroot", str(rootfs), "/usr/bin/python3", "-v", "-c", "import markupsafe"],
                                      capture_output=True, text=True, timeout=120)
                pyc = "/usr/local/lib/python3.11/dist-packages/markupsafe/__pycache__/__init__.cpython-311.pyc"
                assert f"code object from '{pyc}'" in proc.stderr, proc.stderr[-2000:]
        else:
            assert not pycs  # byte code only from an interpreter of the target's version, and this machine has none
    config_digest = h.platform_manifests(out, "v1")["amd64"]["config"]["digest"]
    config = json.loads(h.blob(out, config_digest))
    assert config["config"]["Entrypoint"] == ["/usr/local/bin/hello"]
    labels = config["config"]["Labels"]
    assert labels["org.opencontainers.image.source"] == "https://example.invalid/hello"
    assert labels["org.opencontainers.image.version"] == "1.0.0"
    assert labels["org.opencontainers.image.base.digest"].startswith("sha256:")
    assert any(e.startswith("PATH=/usr/local/sbin:") for e in config["config"]["Env"])


def test_rebuild_is_reproducible_and_app_change_reuses_dependency_layers(project, base, tmp_path, monkeypatch):
    first = _build(project, tmp_path / "a", base)
    monkeypatch.setenv("PYPUSH_CACHE_DIR", str(tmp_path / "other-cache"))  # from scratch, from the written lock
    again = _build(project, tmp_path / "b", base)
    assert again["digest"] == first["digest"] and again["referrers"] == first["referrers"]
    before = {arch: h.layer_digests(tmp_path / "a", "v1", arch) for arch in h.ARCHES}
    cli = project / "src/hello/cli.py"
    cli.write_text(cli.read_text().replace('f"hello ', 'f"hello again '))
    changed = _build(project, tmp_path / "c", base)  # the project's wheel patched from the last build
    assert changed["digest"] != first["digest"]
    monkeypatch.setenv("PYPUSH_CACHE_DIR", str(tmp_path / "third-cache"))  # its wheel built by setuptools
    fresh = _build(project, tmp_path / "d", base)
    assert fresh["digest"] == changed["digest"] and fresh["referrers"] == changed["referrers"]
    for arch in h.ARCHES:
        after = h.layer_digests(tmp_path / "c", "v1", arch)
        assert after[:-1] == before[arch][:-1] and after[-1] != before[arch][-1]
    rootfs = h.unpack(tmp_path / "c", "v1", "arm64", tmp_path / "root")
    assert "hello again aarch64" in _run(rootfs, "arm64", "/usr/bin/python3", "/usr/local/bin/hello")


def test_sbom_lists_base_and_every_distribution(project, base, tmp_path):
    out = tmp_path / "out"
    _build(project, out, base)
    lock = (project / "pylock.toml").read_text()
    entries = json.loads((out / "index.json").read_text())["manifests"]
    referrers = [e for e in entries if e.get("artifactType") == "application/spdx+json"]
    manifests = h.platform_manifests(out, "v1")
    assert len(referrers) == 2
    for entry in referrers:
        artifact = json.loads(h.blob(out, entry["digest"]))
        arch = next(a for a, m in manifests.items() if m["_digest"] == artifact["subject"]["digest"])
        doc = json.loads(h.blob(out, artifact["layers"][0]["digest"]))
        assert doc["spdxVersion"] == "SPDX-2.3"
        packages = {p["name"]: p for p in doc["packages"]}
        markupsafe = packages["MarkupSafe"]
        wheel_hash = markupsafe["checksums"][0]["checksumValue"]
        assert wheel_hash in lock and h.ARCHES[arch] in markupsafe["packageFileName"]
        assert markupsafe["externalRefs"][0]["referenceLocator"] == "pkg:pypi/markupsafe@2.1.5"
        assert markupsafe["licenseDeclared"] == "BSD-3-Clause"
        assert packages["six"]["licenseDeclared"] == "MIT"
        assert packages["hello-pypush"]["primaryPackagePurpose"] == "APPLICATION"
        base_digest = manifests[arch]["annotations"]["org.opencontainers.image.base.digest"]
        assert any(p["versionInfo"] == base_digest for p in doc["packages"])
        for p in doc["packages"]:  # SPDX validators take only URLs on named hosts: no file: mirror, no loopback
            assert p["downloadLocation"] == "NOASSERTION" or re.fullmatch(
                r"https?://[a-z0-9.-]+\.[a-z]{2,5}(:\d+)?/\S*", p["downloadLocation"]), p


def test_console_scripts_and_tool_settings(base, tmp_path, monkeypatch):
    project = tmp_path / "tool"
    shutil.copytree(PROJECTS / "tool", project)
    out = tmp_path / "out"
    _build(project, out, base, "--platform", "linux/arm64", "--sbom", "none")
    manifest = h.platform_manifests(out, "v1")["arm64"]
    config = json.loads(h.blob(out, manifest["config"]["digest"]))["config"]
    assert config["Entrypoint"] == ["/usr/local/bin/tool-b"] and config["Labels"]["org.example.team"] == "tests"
    rootfs = h.unpack(out, "v1", "arm64", tmp_path / "root")
    assert _run(rootfs, "arm64", "/usr/bin/python3", "/usr/local/bin/tool-b", "x").startswith("tool-b 1.16.0 ['x']")
    assert _run(rootfs, "arm64", "/usr/bin/python3", "/usr/local/bin/tool-a").rstrip().endswith("/usr/bin/python3")
    assert not any(e.get("artifactType") for e in json.loads((out / "index.json").read_text())["manifests"])


@pytest.mark.parametrize("kind", ["requirements", "uv"])
def test_lock_formats(kind, base, tmp_path, monkeypatch):
    """A requirements.txt with --hash and a uv.lock (written from the pins pylock.toml got) give the same layers."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    project = tmp_path / "tool"
    shutil.copytree(PROJECTS / "tool", project)
    first = _build(project, tmp_path / "a", base, "--platform", "linux/amd64", "--sbom", "none")
    pylock = (project / "pylock.toml").read_text()
    url = pylock.split('url = "', 1)[1].split('"', 1)[0]
    sha = pylock.split('sha256 = "', 1)[1].split('"', 1)[0]
    (project / "pylock.toml").unlink()
    if kind == "requirements":
        (project / "requirements.txt").write_text(f"six==1.16.0 \\\n    --hash=sha256:{sha}\n")
    else:
        (project / "uv.lock").write_text(
            'version = 1\nrequires-python = ">=3.9"\n\n[[package]]\nname = "tool-pypush"\nversion = "0.3.0"\n'
            'source = { editable = "." }\ndependencies = [{ name = "six" }]\n\n[[package]]\nname = "six"\n'
            f'version = "1.16.0"\nsource = {{ registry = "https://pypi.org/simple" }}\n'
            f'wheels = [{{ url = "{url}", hash = "sha256:{sha}", size = 11053 }}]\n')
    second = _build(project, tmp_path / "b", base, "--platform", "linux/amd64", "--sbom", "none")
    assert second["digest"] == first["digest"]
    assert not (project / "pylock.toml").exists()  # a lock given is read, not replaced


def test_bad_hash_in_requirements_is_refused(base, tmp_path):
    project = tmp_path / "tool"
    shutil.copytree(PROJECTS / "tool", project)
    (project / "requirements.txt").write_text("six==1.16.0 --hash=sha256:" + "0" * 64 + "\n")
    proc = run_pypush("build", str(project), f"oci:{tmp_path / 'out'}:v1", "--base", f"oci:{base}:bookworm",
                      "--platform", "linux/amd64")
    assert proc.returncode == 3 and "six==1.16.0: sha256 " in proc.stderr and "does not match" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_a_dependency_published_only_as_a_pure_sdist(base, tmp_path, monkeypatch):
    """Resolved without a lock: the sdist is built into a pure wheel, locked as the sdist, installed, and runs."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    project = tmp_path / "sdistdep"
    shutil.copytree(PROJECTS / "sdistdep", project)
    out = tmp_path / "out"
    _build(project, out, base, "--platform", "linux/amd64")
    lock = (project / "pylock.toml").read_text()
    assert 'name = "docopt"' in lock and "docopt-0.6.2.tar.gz" in lock and "docopt-0.6.2-py3" not in lock
    rootfs = h.unpack(out, "v1", "amd64", tmp_path / "root")
    text = _run(rootfs, "amd64", "/usr/bin/python3", "/usr/local/bin/sdistdep")
    assert text.startswith("docopt 0.6.2 /usr/local/lib/python3.11/dist-packages/docopt.py"), text
    monkeypatch.setenv("PYPUSH_CACHE_DIR", str(tmp_path / "fresh-cache"))  # from the lock: the sdist built again
    again = _build(project, tmp_path / "again", base, "--platform", "linux/amd64")
    assert again["digest"] == json.loads((out / "index.json").read_text())["manifests"][0]["digest"]


@pytest.mark.other_python
def test_the_same_digests_whichever_python_runs_pypush(base, tmp_path, monkeypatch):
    """The same project, lock, base and SOURCE_DATE_EPOCH give the same image and SBOM digests whether this
    Python or CPython 3.9 (3.13 when this is 3.9) runs pypush: byte code by the target's version either way.
    The project pins its backend: unpinned, pip picks the newest setuptools each interpreter supports."""
    from pypush.pybuild.bytecode import candidates

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    version = (3, 13) if sys.version_info[:2] == (3, 9) else (3, 9)
    other = next((c for c in candidates("cpython", version)
                  if subprocess.run([c, "-c", "pass"], capture_output=True).returncode == 0), None)
    if other is None:
        pytest.skip(f"no CPython {version[0]}.{version[1]} on this machine")
    project = tmp_path / "tool"
    shutil.copytree(PROJECTS / "tool", project)
    text = (project / "pyproject.toml").read_text()
    (project / "pyproject.toml").write_text(text.replace('"setuptools>=61"', '"setuptools==80.9.0"'))
    same = ("--platform", "linux/amd64", "--compression", "none")  # gzip bytes: ISA-L or zlib, not the Python
    here = _build(project, tmp_path / "a", base, *same)
    root = Path(__file__).resolve().parents[2]
    from pypush.pybuild.lock import load_toml

    venv = tmp_path / "venv"
    subprocess.run([other, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-c",
                    str(root / ".ci/constraints.txt"), *load_toml(str(root / "pyproject.toml"))["project"]["dependencies"]],
                   check=True)
    proc = subprocess.run([str(venv / "bin/python"), "-m", "pypush", "build", str(project), f"oci:{tmp_path / 'b'}:v1",
                           "--base", f"oci:{base}:bookworm", *same, "--format", "json"],
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(root),
                                                                   PYPUSH_CACHE_DIR=str(tmp_path / "other-cache")))
    assert proc.returncode == 0, proc.stderr
    there = json.loads(proc.stdout)
    assert (there["digest"], there["referrers"]) == (here["digest"], here["referrers"])
    rootfs = h.unpack(tmp_path / "b", "v1", "amd64", tmp_path / "root")  # and what the other Python built runs
    assert _run(rootfs, "amd64", "/usr/bin/python3", "/usr/local/bin/tool-b", "x").startswith("tool-b 1.16.0 ['x']")


def test_a_base_whose_python_the_project_does_not_allow_is_refused(base, tmp_path):
    project = tmp_path / "tool"
    shutil.copytree(PROJECTS / "tool", project)
    text = (project / "pyproject.toml").read_text()
    (project / "pyproject.toml").write_text(text.replace('requires-python = ">=3.9"', 'requires-python = ">=3.12"'))
    proc = run_pypush("build", str(project), f"oci:{tmp_path / 'out'}:v1", "--base", f"oci:{base}:bookworm")
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.strip() == ("pypush: error: the base's Python 3.11.2 (linux/amd64) is not what tool-pypush "
                                   "requires (requires-python >=3.12): choose another --base")
    assert not (tmp_path / "out").exists() and not (project / "pylock.toml").exists()


def test_several_console_scripts_and_no_entrypoint_is_said(base, tmp_path):
    project = tmp_path / "tool"
    shutil.copytree(PROJECTS / "tool", project)
    text = (project / "pyproject.toml").read_text()
    (project / "pyproject.toml").write_text(text[:text.index("[tool.pypush]")])
    out = tmp_path / "out"
    proc = run_pypush("build", str(project), f"oci:{out}:v1", "--base", f"oci:{base}:bookworm", "--platform",
                      "linux/amd64", "--sbom", "none")
    assert proc.returncode == 0, proc.stderr
    assert "tool-pypush has 2 console scripts (tool-a, tool-b): the image keeps the base's entrypoint" in proc.stderr
    config = json.loads(h.blob(out, h.platform_manifests(out, "v1")["amd64"]["config"]["digest"]))
    assert "Entrypoint" not in config["config"] or not config["config"]["Entrypoint"]
    rootfs = h.unpack(out, "v1", "amd64", tmp_path / "root")  # both scripts are there and run
    assert _run(rootfs, "amd64", "/usr/bin/python3", "/usr/local/bin/tool-b", "x").startswith("tool-b 1.16.0 ['x']")
    assert _run(rootfs, "amd64", "/usr/bin/python3", "/usr/local/bin/tool-a").rstrip().endswith("/usr/bin/python3")
