"""Shared benchmark plumbing: fixtures, servers on loopback, timed child processes, tables."""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "support")]
from conftest import free_port, wait_for_port  # noqa: E402  (the tests' loopback helpers)
SHARED_TOOLS = next((p for p in (ROOT.parent / "shared" / "tools", ROOT.parent.parent / "shared" / "tools")
                     if p.is_dir()), ROOT.parent / "shared" / "tools")  # beside /work/main, or a worktree in /work/wt
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


class Run(NamedTuple):
    """One measured child process."""

    wall: float  # seconds, including interpreter start
    cpu: float  # user + system seconds of the child
    rss: float  # its peak resident set, MiB


_COMPILED: List[bool] = []


def compile_pypush() -> None:
    """Write pypush's .pyc files once, as ``pip install`` does: without them every run would compile
    the modules it imports (when PYTHONDONTWRITEBYTECODE is set, nothing else ever writes them)."""
    if not _COMPILED:
        import compileall

        compileall.compile_dir(str(Path(__file__).resolve().parent.parent / "pypush"), quiet=1)
        _COMPILED.append(True)


def measure(cmd: Sequence[str], env: Optional[Dict[str, str]] = None, cwd: Optional[Path] = None) -> Run:
    """Run ``cmd`` as a child process and measure it (os.wait4); fails loudly on a non-zero exit.

    Peak RSS comes from GNU time (/usr/bin/time) when present: a child spawned straight from this process
    starts from this process's own peak (Linux keeps the high-water mark across vfork/exec), which
    floored every figure at the benchmark's own ~30 MiB."""
    compile_pypush()
    timer = shutil.which("time") if os.path.exists("/usr/bin/time") else None
    with tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r") as peak:
        full = [timer, "-q", "-f", "%M", "-o", peak.name, *cmd] if timer else list(cmd)
        start = time.perf_counter()
        proc = subprocess.Popen(full, stdout=subprocess.DEVNULL, stderr=err, cwd=cwd,
                                env=dict(os.environ, **(env or {})))
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            err.seek(0)
            raise RuntimeError(f"{' '.join(cmd)} failed ({code}): {err.read().decode(errors='replace')[-2000:]}")
        text = peak.read().strip().splitlines() if timer else []
        rss = int(text[-1]) / 1024 if text and text[-1].isdigit() else usage.ru_maxrss / 1024
    return Run(wall, usage.ru_utime + usage.ru_stime, rss)


def cpu_idle(seconds: float = 1.0) -> float:
    """Share of CPU time the whole machine spent idle over ``seconds`` (Linux /proc/stat)."""
    def sample() -> List[int]:
        with open("/proc/stat") as f:
            return [int(x) for x in f.readline().split()[1:]]
    a = sample()
    time.sleep(seconds)
    b = sample()
    delta = [y - x for x, y in zip(a, b)]
    return (delta[3] + delta[4]) / max(1, sum(delta))


def wait_for_idle(threshold: float, max_wait: float) -> float:
    """Block until the machine is at least ``threshold`` idle (or ``max_wait`` passed); the last idle share."""
    deadline = time.monotonic() + max_wait
    idle = cpu_idle()
    while idle < threshold and time.monotonic() < deadline:
        idle = cpu_idle()
    return idle


class Server:
    """A server process on a loopback port, stopped with stop()."""

    def __init__(self, cmd: List[str], port: int, workdir: Path):
        self.port, self.workdir = port, workdir
        self.log = open(workdir / "server.log", "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log)
        wait_for_port(port)

    def stored_bytes(self) -> int:
        """Bytes of blob data the server holds (docker-registry's `data` files or pypush's blobs)."""
        return sum(p.stat().st_size for p in (self.workdir / "data").rglob("*")
                   if p.is_file() and (p.name == "data" or "blobs" in p.parts))

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


def may_clear_skopeo_cache() -> bool:
    """Whether cold runs may delete skopeo's machine-wide blob-info cache (BENCH_CLEAR_SKOPEO_CACHE=1; not
    while others run skopeo on a shared machine — fresh registries on new ports keep runs cold anyway)."""
    return os.environ.get("BENCH_CLEAR_SKOPEO_CACHE") == "1"


def cold_skopeo() -> None:
    """Forget what skopeo learned about blobs in earlier runs (when allowed: may_clear_skopeo_cache)."""
    if not may_clear_skopeo_cache():
        return
    try:
        SKOPEO_CACHE.unlink()
    except OSError:
        pass


def median_runs(runs: int, once: Callable[[], Run]) -> Run:
    """Median wall and CPU time and the largest peak RSS over ``runs`` calls of ``once``."""
    results = [once() for _ in range(runs)]
    return Run(statistics.median(r.wall for r in results), statistics.median(r.cpu for r in results),
               max(r.rss for r in results))


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
