"""Shared benchmark plumbing: fixtures, servers on loopback, timed child processes, tables."""
from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent
SHARED_TOOLS = ROOT.parent / "shared" / "tools"
FIXTURES_DIR = Path(os.environ.get("FIXTURES_DIR", "/tmp/fixtures"))
SKOPEO_CACHE = Path("/var/lib/containers/cache/blob-info-cache-v1.boltdb")
# Server data in memory where possible, so that the disk of a shared machine measures nobody.
DATA_DIR = "/dev/shm" if Path("/dev/shm").is_dir() else None


def ensure_big_fixtures() -> Path:
    """The ~200 MB `big` image in every format (built once with ../shared/tools/make-fixtures.sh)."""
    if not (FIXTURES_DIR / "big.docker-archive.tar").exists():
        script = SHARED_TOOLS / "make-fixtures.sh"
        subprocess.run(["bash", str(script), str(FIXTURES_DIR)], env=dict(os.environ, ONLY="big"), check=True,
                       stdout=subprocess.DEVNULL)
    return FIXTURES_DIR


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} never opened")


def measure(cmd: Sequence[str], env: Optional[Dict[str, str]] = None) -> Tuple[float, float]:
    """Run ``cmd``; return (wall seconds, peak RSS MiB of that process) — fails loudly on error."""
    start = time.perf_counter()
    proc = subprocess.Popen(list(cmd), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=dict(os.environ, **(env or {})))
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {err[-2000:]}")
    return wall, usage.ru_maxrss / 1024


class Server:
    """A server process on a loopback port, stopped with stop()."""

    def __init__(self, cmd: List[str], port: int, workdir: Path):
        self.port, self.workdir = port, workdir
        self.log = open(workdir / "server.log", "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log)
        wait_port(port)

    def peak_rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


def docker_registry() -> Server:
    """A fresh Debian docker-registry with its own config (loopback only, filesystem storage)."""
    work = Path(tempfile.mkdtemp(prefix="bench-registry-", dir=DATA_DIR))
    port = free_port()
    (work / "config.yml").write_text(
        "version: 0.1\nlog: {level: error}\n"
        f"storage: {{filesystem: {{rootdirectory: {work / 'data'}}}, delete: {{enabled: true}}}}\n"
        f"http: {{addr: 127.0.0.1:{port}}}\n")
    return Server(["docker-registry", "serve", str(work / "config.yml")], port, work)


def pypush_endpoint(*extra: str) -> Server:
    """A fresh `pypush serve` in its own process."""
    work = Path(tempfile.mkdtemp(prefix="bench-endpoint-", dir=DATA_DIR))
    port = free_port()
    return Server([sys.executable, "-m", "pypush", "serve", "--port", str(port), "--data", str(work / "data"), *extra],
                  port, work)


def skopeo_policy() -> Path:
    path = Path(tempfile.gettempdir()) / "pypush-bench-policy.json"
    path.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    return path


def cold_skopeo() -> None:
    """Forget what skopeo learned about blobs in earlier runs."""
    try:
        SKOPEO_CACHE.unlink()
    except OSError:
        pass


def median_runs(runs: int, once: Callable[[], Tuple[float, float]]) -> Tuple[float, float]:
    """Median wall time and max peak RSS over ``runs`` calls of ``once``."""
    results = [once() for _ in range(runs)]
    return statistics.median(r[0] for r in results), max(r[1] for r in results)


def print_table(title: str, rows: List[Tuple[str, ...]], header: Tuple[str, ...]) -> None:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    print(f"\n{title}")
    for row in (header, tuple("-" * w for w in widths), *rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))


def machine() -> str:
    import platform

    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()} {platform.release()}"
