"""The README as a newcomer uses it: its first command on Debian's own Python, its Python examples."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import List

import pytest

from conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
DOCS = {p.name: p.read_text(encoding="utf-8") for p in sorted((REPO_ROOT / "docs").glob("*.md"))}
SYSTEM_PYTHON = "/usr/bin/python3"


def code_blocks(language: str, text: str = README) -> List[str]:
    """The fenced code blocks of ``language`` in ``text`` (the README), in order."""
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.S | re.M)


def every_block(language: str) -> List[str]:
    """The blocks of ``language`` in the README and then every docs/ page."""
    return [b for text in (README, *DOCS.values()) for b in code_blocks(language, text)]


def first_command() -> str:
    """The README's first shell command, without its comment."""
    return code_blocks("sh")[0].splitlines()[0].split("  #", 1)[0].strip()


def test_first_command_is_self_contained() -> None:
    command = first_command()
    assert command.startswith("python3 -m venv .venv && . .venv/bin/activate && ") and "pypush demo" in command


def _system_python_has_venv() -> bool:
    return os.path.exists(SYSTEM_PYTHON) and subprocess.run(
        [SYSTEM_PYTHON, "-c", "import ensurepip, venv"], capture_output=True).returncode == 0


@pytest.mark.servers  # the first command ends in `pypush demo`, which starts the local endpoint
@pytest.mark.skipif(not _system_python_has_venv(), reason="needs Debian's /usr/bin/python3 with python3-venv "
                                                          "(.ci/run installs it)")
@pytest.mark.skipif(shutil.which("git") is None or not (REPO_ROOT / ".git").exists(), reason="needs a git clone")
def test_first_command_verbatim_in_a_fresh_clone_with_system_python(tmp_path: Path) -> None:
    """Debian's Python refuses `pip install` outside a virtual environment (PEP 668): the command makes one."""
    clone = tmp_path / "pypush"
    subprocess.run(["git", "clone", "-q", str(REPO_ROOT), str(clone)], check=True, timeout=120)
    drop = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYENV_VERSION", "PYTHONSTARTUP")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PATH"] = "/usr/bin:/bin"  # only Debian's python3: no pyenv, no other virtual environment
    assert shutil.which("python3", path=env["PATH"]) == SYSTEM_PYTHON
    proc = subprocess.run(["/bin/sh", "-c", first_command()], cwd=clone, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "pushed fixtures/small.oci -> public.ecr.aws/local/demo@sha256:" in proc.stdout
    assert proc.stdout.rstrip().endswith("matches"), proc.stdout
    python = clone / ".venv" / "bin" / "python"
    where = subprocess.run([str(python), "-c", "import pypush, sys; print(pypush.__file__, sys.base_prefix)"],
                           cwd=tmp_path, capture_output=True, text=True, check=True, env=env).stdout.split()
    assert where[0].startswith(str(clone / ".venv")) and where[1] == "/usr", where  # installed, from Debian's


REAL_AWS = "# real AWS"
"""The first line of a README python block that needs an AWS account (skipped here, explicitly)."""
NEEDS = "# needs "
"""The first line of a docs/ python block that needs what the test machine's fixtures do not give it, and
which test covers it instead (skipped here, explicitly)."""


@pytest.mark.servers
@pytest.mark.parametrize("index", range(len(every_block("python"))))
def test_python_block_runs_as_written(index: int, monkeypatch, capsys) -> None:
    """Each python block of the README and docs/ runs as written from the repository root, against the
    embedded endpoint."""
    block = every_block("python")[index]
    if block.startswith(REAL_AWS):
        assert "endpoint_url" not in block and "LocalEndpoint" not in block
        pytest.skip("the README marks this block as needing AWS")
    if block.startswith(NEEDS):
        assert "tests/test_" in block.splitlines()[0], "say which test covers the block instead"
        pytest.skip(block.splitlines()[0][2:])
    assert "LocalEndpoint()" in block, "an unmarked block must run against the embedded endpoint"
    monkeypatch.chdir(REPO_ROOT)
    exec(compile(block, f"README/docs python block {index}", "exec"), {"__name__": "readme"})
    assert capsys.readouterr().out.strip()


def test_python_examples_cover_push_and_management() -> None:
    runnable = [b for b in every_block("python") if not b.startswith((REAL_AWS, NEEDS))]
    assert any("pypush.push(" in b for b in code_blocks("python")) and any("ECRPublic(" in b for b in runnable)
    assert "`endpoint_url`" in DOCS["python-api.md"]


def test_readme_fits_two_screens_and_links_every_docs_page() -> None:
    assert len(README.splitlines()) <= 200
    unlinked = [name for name in DOCS if f"(docs/{name})" not in README]
    assert DOCS and not unlinked, f"docs pages the README does not link: {unlinked}"
    for name, text in DOCS.items():
        for target in re.findall(r"\]\((?!https?:|#)([^)#]+)", text):
            assert (REPO_ROOT / "docs" / target).resolve().exists(), f"docs/{name} links to missing {target}"


@pytest.mark.skipif(shutil.which("aws") is None, reason="needs the AWS CLI")
def test_aws_cli_example_runs_against_the_endpoint(endpoint, tmp_path: Path) -> None:
    """The serve section's `aws ecr-public` line carries the region and credentials the CLI needs."""
    line = next(line for block in every_block("sh") for line in block.splitlines() if " aws ecr-public " in line)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"))
    proc = subprocess.run(["/bin/sh", "-c", line.replace("http://127.0.0.1:5000", endpoint.url)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"repositories": []}
