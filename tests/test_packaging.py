"""Ready to publish: `python -m build` makes an sdist and a wheel with full metadata and the license, and the
wheel installed alone in a fresh virtual environment runs `pypush demo` far from the repository."""
from __future__ import annotations

import email
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from conftest import REPO_ROOT

pytest.importorskip("build")


def test_license_is_apache_2() -> None:
    text = (REPO_ROOT / "LICENSE").read_text()
    assert text.lstrip().startswith("Apache License") and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text and len(text) > 11000


@pytest.mark.servers
def test_build_sdist_and_wheel_then_demo_from_the_wheel_alone(tmp_path: Path) -> None:
    source = tmp_path / "src"  # only what the build reads: the wheel is built from the sdist, proving it complete
    shutil.copytree(REPO_ROOT / "pypush", source / "pypush", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO_ROOT / name, source / name)
    dist = tmp_path / "dist"
    proc = subprocess.run([sys.executable, "-m", "build", "--outdir", str(dist), str(source)], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    sdist, = dist.glob("pypush-*.tar.gz")
    wheel, = dist.glob("pypush-*-py3-none-any.whl")
    with tarfile.open(sdist) as tar:
        assert {"LICENSE", "README.md", "pyproject.toml"} <= {Path(n).name for n in tar.getnames()}

    with zipfile.ZipFile(wheel) as whl:
        names = whl.namelist()
        meta = email.message_from_bytes(whl.read(next(n for n in names if n.endswith(".dist-info/METADATA"))))
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names) and "pypush/py.typed" in names
    assert not any(n.startswith(("tests/", "fixtures/", "benchmarks/")) for n in names)
    assert meta["License-Expression"] == "Apache-2.0" and meta["Requires-Python"] == ">=3.9"
    classifiers = meta.get_all("Classifier")
    for needed in [f"Programming Language :: Python :: 3.{minor}" for minor in range(9, 14)] + [
            "Programming Language :: Python :: Implementation :: PyPy", "Operating System :: OS Independent",
            "Operating System :: POSIX :: Linux", "Operating System :: MacOS", "Operating System :: Microsoft :: Windows"]:
        assert needed in classifiers, needed
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL"))
    assert {"Homepage", "Source", "Issues"} <= set(urls) and "ecr" in meta["Keywords"]

    venv = tmp_path / "venv"  # outside the repository, from nothing but the wheel and its dependencies
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    install = subprocess.run([str(bindir / "python"), "-m", "pip", "install", "-q", str(wheel)], env=env,
                             capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    demo = subprocess.run([str(bindir / "pypush"), "demo"], cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=300)
    assert demo.returncode == 0, demo.stderr
    assert "sample.oci -> public.ecr.aws/local/demo@sha256:" in demo.stdout and "fixtures" not in demo.stdout
    assert demo.stdout.rstrip().endswith("matches"), demo.stdout
    where = subprocess.run([str(bindir / "python"), "-c", "import pypush; print(pypush.__file__)"], cwd=workdir,
                           env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).resolve().is_relative_to(venv.resolve()), where
