"""One `pypush serve` per data directory: a second live server is refused (exit 2, naming the first one's
pid); the lock of a server killed with SIGKILL is taken over."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT
from pypush.server import LocalEndpoint
from pypush.server.store.data_lock import LOCK_NAME, DataDirInUse, DataDirLock


def serve(data: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pypush", "serve", "--data", str(data)], cwd=str(REPO_ROOT),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)


def test_second_lock_in_one_process_is_refused_until_released(tmp_path: Path) -> None:
    first = DataDirLock(tmp_path).acquire()
    with pytest.raises(DataDirInUse, match=rf"in use by another endpoint of this process \(pid {os.getpid()}\)"):
        DataDirLock(tmp_path).acquire()
    first.release()
    with DataDirLock(tmp_path):
        assert (tmp_path / LOCK_NAME).read_text().split()[0] == str(os.getpid())
    assert (tmp_path / LOCK_NAME).read_text() == ""


@pytest.mark.servers
def test_local_endpoints_share_no_data_dir(tmp_path: Path) -> None:
    with LocalEndpoint(data_dir=tmp_path) as first:
        with pytest.raises(DataDirInUse) as info:
            LocalEndpoint(data_dir=tmp_path).start()
        assert info.value.exit_code == 2 and str(tmp_path) in str(info.value)
        assert first.url
    with LocalEndpoint(data_dir=tmp_path) as again:  # released at stop()
        assert again.url


@pytest.mark.servers
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="kill -9 is POSIX")
def test_serve_refuses_a_data_dir_in_use_and_takes_over_after_kill_9(tmp_path: Path) -> None:
    data = tmp_path / "ecr-data"
    first = serve(data)
    try:
        assert first.stdout.readline().startswith("http://127.0.0.1:"), first.stderr.read()
        second = subprocess.run([sys.executable, "-m", "pypush", "serve", "--data", str(data)], cwd=str(REPO_ROOT),
                                capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        lines = second.stderr.strip().splitlines()
        assert second.returncode == 2 and second.stdout == "", second.stderr
        assert len(lines) == 1 and f"pid {first.pid})" in lines[0] and str(data) in lines[0], lines
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
        first.stdout.close()
        first.stderr.close()
    assert (data / LOCK_NAME).read_text().split()[0] == str(first.pid)  # stale: its process is gone
    third = serve(data)
    try:
        assert third.stdout.readline().startswith("http://127.0.0.1:"), third.stderr.read()
        assert (data / LOCK_NAME).read_text().split()[0] == str(third.pid)
    finally:
        third.terminate()
        assert third.wait(timeout=30) == 0
        third.stdout.close()
        third.stderr.close()
    assert (data / LOCK_NAME).read_text() == ""


def test_serve_port_out_of_range_is_a_usage_error(capsys) -> None:
    from pypush.cli.main import main

    assert main(["serve", "--port", "-1"]) == 2
    assert "--port -1" in capsys.readouterr().err
