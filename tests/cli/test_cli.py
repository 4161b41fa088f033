"""The command line itself: the lazily built parser and the console entry point."""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import subprocess
import sys

import pytest

from conftest import REPO_ROOT
from pypush.cli import main as cli
from pypush.errors import UsageError


def _commands(parser: argparse.ArgumentParser) -> set:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(sub.choices)


def test_registrar_table_names_what_each_registrar_adds() -> None:
    for names, add in cli.REGISTRARS.items():
        parser = argparse.ArgumentParser()
        add(parser.add_subparsers())
        assert _commands(parser) == set(names), add


@pytest.mark.parametrize("command", ["push", "serve", "demo", "tags", "login"])
def test_parser_for_one_command_parses_it_like_the_full_parser(command: str) -> None:
    assert command in _commands(cli.build_parser(command))
    assert _commands(cli.build_parser(None)) == {n for names in cli.REGISTRARS for n in names}


def test_unknown_command_lists_every_command() -> None:
    with pytest.raises(UsageError, match="resource-tags"):
        cli.build_parser("nosuch").parse_args(["nosuch"])


@pytest.mark.parametrize("args, code, out, err", [
    (["--version"], 0, "pypush ", ""),
    (["push", "/nonexistent", "x/y:1"], 2, "", "pypush: error: invalid destination"),
    (["push", "/nonexistent", "localhost:1/y:1"], 3, "", "pypush: error: /nonexistent"),
])
def test_console_entry_point_flushes_and_exits_with_the_code(args, code, out, err) -> None:
    # run() ends with os._exit: output must still be complete and the exit code exact
    proc = subprocess.run([sys.executable, "-m", "pypush", *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == code, proc.stderr
    assert proc.stdout.startswith(out) and proc.stdout.endswith("\n" if out else "")
    assert proc.stderr.startswith(err) and len(proc.stderr.splitlines()) <= 1


def test_push_start_up_imports_only_what_it_uses(docker_registry, skopeo) -> None:
    """The CLI's start-up savings hold: no management parser, charset_normalizer deferred."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "pypush", "push", "--insecure",
                           "fixtures/small.oci", f"{docker_registry.host}/cli/startup:1"],
                          capture_output=True, text=True, timeout=120, cwd=str(REPO_ROOT))
    assert proc.returncode == 0, proc.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "requests" in imported and "pypush.transports.distribution.destination" in imported
    assert "pypush.cli.manage" not in imported and "botocore" not in imported
    assert not {m for m in imported if m.startswith("charset_normalizer")}
    raw = skopeo.inspect_raw(f"{docker_registry.host}/cli/startup:1")
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == proc.stdout.strip().rpartition("@")[2]


def test_deferred_charset_normalizer_behaves_like_the_real_one() -> None:
    if importlib.util.find_spec("charset_normalizer") is None:  # requests < 2.26 guesses with chardet
        code = "from pypush.cli import lazy_charset\nassert not lazy_charset.install()\nimport requests\n"
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return
    code = """
import sys
from pypush.cli import lazy_charset
assert lazy_charset.install()
import requests
assert type(sys.modules["charset_normalizer"]).__name__ == "_Deferred"
r = requests.models.Response()
r._content, r.encoding = "d\\u00e9j\\u00e0 vu, \\u00e7a va tr\\u00e8s bien".encode("latin-1"), None
assert r.apparent_encoding and "vu" in r.text
import charset_normalizer
assert type(charset_normalizer).__name__ == "module" and charset_normalizer.from_bytes(b"abc").best()
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.servers
@pytest.mark.parametrize("where", ["repository", "elsewhere"])
def test_demo_pushes_and_reads_back(where: str, tmp_path) -> None:
    """The README's first command: from the repository it pushes fixtures/small.oci; anywhere else it
    writes a small image of its own."""
    import os

    cwd = REPO_ROOT if where == "repository" else tmp_path
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    proc = subprocess.run([sys.executable, "-m", "pypush", "demo"], capture_output=True, text=True, timeout=120,
                          cwd=str(cwd), env=env)
    assert proc.returncode == 0, proc.stderr
    assert ("fixtures/small.oci" in proc.stdout) == (where == "repository")
    assert proc.stdout.rstrip().endswith("matches") and "pushed again: 0 blobs uploaded" in proc.stdout


def test_demo_sample_image_is_a_valid_oci_image(tmp_path, skopeo) -> None:
    from pypush.cli.demo import sample_image

    layout = sample_image(tmp_path)
    out = tmp_path / "copied"
    skopeo.run("copy", f"oci:{layout}:latest", f"dir:{out}")
    manifest = json.loads((out / "manifest.json").read_bytes())
    assert len(manifest["layers"]) == 1 and (out / manifest["layers"][0]["digest"].split(":")[1]).exists()


def test_pull_offers_only_options_that_apply_to_a_layout_destination() -> None:
    help_text = subprocess.run([sys.executable, "-m", "pypush", "pull", "--help"], capture_output=True, text=True,
                               timeout=60).stdout
    assert "--src-username" in help_text and "--platform" in help_text
    # pull's one registry is its source: the registry flags of every command are its (issue 23)
    assert "--insecure, --src-insecure" in help_text and "--password-stdin, --src-password-stdin" in help_text
    for flag in ("--endpoint-url", "--create-repository", "--mount-from", "--rate-limit"):
        assert flag not in help_text, flag
    proc = subprocess.run([sys.executable, "-m", "pypush", "pull", "docker://localhost:1/a:1", "oci:x",
                           "--mount-from", "b"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--mount-from" in proc.stderr
