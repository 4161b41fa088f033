"""The command line itself: the lazily built parser and the console entry point."""
from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from pypush import cli
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
