"""The local endpoint as its own process (``python -m pypush.server``): start it, read its URL."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import REPO_ROOT


def start_server(data: Path, *args: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "pypush.server", "--port", "0", "--data", str(data), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT)
    return proc


def url_of(proc: subprocess.Popen) -> str:
    line = proc.stdout.readline().strip()
    assert line.startswith("http://127.0.0.1:"), (line, proc.stderr.read() if proc.poll() is not None else "")
    return line
