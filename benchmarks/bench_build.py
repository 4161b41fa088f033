#!/usr/bin/env python3
"""Benchmark `pypush build`: a project with ~30 dependencies on a Debian bookworm python3 base (amd64).

    python3 benchmarks/bench_build.py [--runs 3] [--skip-pyoci]

Rows, each a separate process (interpreter start included), medians of ``--runs`` where repeated:

- ``cold``: empty pypush cache, no lock: resolve (pip), download, install, compress, write an ``oci:`` layout.
- ``warm``: the same build again into a fresh ``oci:`` layout (lock written by the cold run, caches warm).
- ``app-only rebuild + push``: one line of the app changed, built and pushed to a docker-registry (TLS, on
  loopback) that holds the previous version; bytes = what the registry stored anew / the image's bytes.
- ``pyoci 0.2.1``: the same project, its base from the same registry (it reads bases only from registries,
  over HTTPS), ``--include-deps`` from a ``.venv`` made beforehand (untimed: pyoci copies a venv), pushed;
  then the same one-line app change rebuilt and pushed.

Goals (issue 21): warm full build to ``oci:`` ≤ 2 s; app-only rebuild + push ≤ 1 s and ≤ 5 % of the image's
bytes; ahead of pyoci in time and in bytes pushed. The base is the mmdebstrap tar the tests use
(tests/pybuild_bases.py, cached in ~/.cache/pypush-tests).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from common import DATA_DIR, Server, compile_pypush, free_port, machine, print_table  # noqa: E402

DEPENDENCIES = ["requests", "flask", "pydantic", "pyyaml", "attrs", "rich", "python-dateutil", "pytz", "msgpack",
                "tenacity", "sqlalchemy", "structlog", "httpx", "click", "orjson"]
PYOCI_VENV = Path(tempfile.gettempdir()) / "bench-pyoci-venv"


def make_project(root: Path) -> Path:
    project = root / "app"
    (project / "src" / "benchapp").mkdir(parents=True)
    deps = ", ".join(json.dumps(d) for d in DEPENDENCIES)
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "benchapp"\nversion = "1.0.0"\nrequires-python = ">=3.9"\ndependencies = [{deps}]\n\n'
        '[project.scripts]\nbenchapp = "benchapp:main"\n')
    (project / "src" / "benchapp" / "__init__.py").write_text('def main() -> int:\n    print("v1")\n    return 0\n')
    (project / "requirements.txt").write_text("\n".join(DEPENDENCIES) + "\n")  # pyoci's input
    return project


def change_app(project: Path, n: int) -> None:
    path = project / "src" / "benchapp" / "__init__.py"
    path.write_text(path.read_text().replace('print("v', f'print("v{n}.', 1))


def tls_registry() -> Tuple[Server, Path]:
    """docker-registry over TLS (pyoci speaks only HTTPS) with a self-signed certificate for 127.0.0.1."""
    work = Path(tempfile.mkdtemp(prefix="bench-registry-", dir=DATA_DIR))
    cert, key = work / "cert.pem", work / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    port = free_port()
    (work / "config.yml").write_text(
        "version: 0.1\nlog: {level: error}\n"
        f"storage: {{filesystem: {{rootdirectory: {work / 'data'}}}, delete: {{enabled: true}}}}\n"
        f"http: {{addr: 127.0.0.1:{port}, tls: {{certificate: {cert}, key: {key}}}}}\n")
    return Server(["docker-registry", "serve", str(work / "config.yml")], port, work), cert


def timed(cmd: Sequence[str], env: Optional[Dict[str, str]] = None, cwd: Optional[Path] = None) -> Tuple[float, str]:
    """(wall seconds, stdout) of ``cmd``; fails loudly on a non-zero exit."""
    start = time.perf_counter()
    proc = subprocess.run(list(cmd), capture_output=True, text=True, env=dict(os.environ, **(env or {})), cwd=cwd)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr[-3000:]}")
    return wall, proc.stdout


def image_bytes(stdout: str) -> int:
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-pyoci", action="store_true")
    args = parser.parse_args()
    from pybuild_bases import base_tar

    compile_pypush()  # .pyc files, as an installed pypush has them
    tar = base_tar("amd64")
    work = Path(tempfile.mkdtemp(prefix="bench-build-"))
    pypush = [sys.executable, "-m", "pypush"]
    env = {"PYPUSH_CACHE_DIR": str(work / "cache"), "SOURCE_DATE_EPOCH": "1700000000"}
    rows: List[Tuple[str, ...]] = []
    registry, cert = tls_registry()
    try:
        base = work / "base"
        timed([*pypush, "append", "--base", "scratch", "--platform", "linux/amd64", "--layer", tar,
               f"oci:{base}:1"], env)
        host = f"127.0.0.1:{registry.port}"
        timed([*pypush, "push", "--insecure", f"oci:{base}:1", f"{host}/base:1"])
        project = make_project(work)

        cold, _ = timed([*pypush, "build", str(project), f"oci:{work / 'cold'}:1", "--base", f"oci:{base}:1"], env)
        rows.append(("pypush build, cold cache + resolve → oci:", f"{cold:.2f} s", "", ""))
        warm = []
        for i in range(args.runs):
            wall, _ = timed([*pypush, "build", str(project), f"oci:{work / f'warm{i}'}:1", "--base", f"oci:{base}:1"],
                            env)
            warm.append(wall)
        rows.append(("pypush build, warm → oci:", f"{statistics.median(warm):.2f} s", "≤ 2 s",
                     "yes" if statistics.median(warm) <= 2 else "no"))
        image = sum(p.stat().st_size for p in (work / "warm0" / "blobs").rglob("*") if p.is_file())

        first, _ = timed([*pypush, "build", str(project), f"{host}/app:1", "--base", f"docker://{host}/base:1",
                          "--insecure", "--src-insecure"], env)
        rows.append(("pypush build + push (deps new)", f"{first:.2f} s", "", ""))
        pushes, shares = [], []
        for i in range(args.runs):
            change_app(project, i)
            before = registry.stored_bytes()
            wall, out = timed([*pypush, "build", str(project), f"{host}/app:{i + 2}", "--base",
                               f"docker://{host}/base:1", "--insecure", "--src-insecure", "--format", "json"], env)
            pushes.append(wall)
            shares.append((registry.stored_bytes() - before) / image)
        push_time, share = statistics.median(pushes), statistics.median(shares)
        rows.append(("pypush app-only rebuild + push", f"{push_time:.2f} s", "≤ 1 s",
                     "yes" if push_time <= 1 else "no"))
        rows.append(("  bytes stored anew / image bytes", f"{share * 100:.2f} % of {image / 1e6:.1f} MB", "≤ 5 %",
                     "yes" if share <= 0.05 else "no"))
        if not args.skip_pyoci:
            rows += run_pyoci(project, host, cert, registry, args.runs)
    finally:
        registry.stop()
        shutil.rmtree(work, ignore_errors=True)
    print_table(f"pypush build — {machine()}", rows, ("what", "result", "goal", "met"))


def run_pyoci(project: Path, host: str, cert: Path, registry: Server, runs: int) -> List[Tuple[str, ...]]:
    """pyoci 0.2.1 in a throw-away venv, the project's deps in ``.venv`` (what it copies)."""
    if not (PYOCI_VENV / "bin" / "pyoci").exists():
        subprocess.run([sys.executable, "-m", "venv", str(PYOCI_VENV)], check=True)
        subprocess.run([str(PYOCI_VENV / "bin" / "pip"), "install", "-q", "pyoci==0.2.1"], check=True)
    venv = project / ".venv"
    made, _ = timed([sys.executable, "-m", "venv", str(venv)])
    pip, _ = timed([str(venv / "bin" / "pip"), "install", "-q", *DEPENDENCIES])
    env = {"SSL_CERT_FILE": str(cert)}
    cmd = [str(PYOCI_VENV / "bin" / "pyoci"), "build", "--context", str(project), "--base-image", f"{host}/base:1",
           "--include-deps", "--platform", "linux/amd64", "--push", "--no-progress", "--cache-dir",
           str(project.parent / "pyoci-cache")]
    before = registry.stored_bytes()
    first, _ = timed([*cmd, "--tag", f"{host}/pyoci:1"], env, cwd=project)
    full = registry.stored_bytes() - before
    rows = [(f"pyoci 0.2.1 build + push (venv made beforehand: {made + pip:.1f} s)", f"{first:.2f} s",
             f"{full / 1e6:.1f} MB stored", "")]
    pushes, stored = [], []
    for i in range(runs):
        change_app(project, 100 + i)
        before = registry.stored_bytes()
        wall, _ = timed([*cmd, "--tag", f"{host}/pyoci:{i + 2}"], env, cwd=project)
        pushes.append(wall)
        stored.append(registry.stored_bytes() - before)
    rows.append(("pyoci app-only rebuild + push", f"{statistics.median(pushes):.2f} s",
                 f"{statistics.median(stored) / 1e6:.2f} MB stored anew", ""))
    return rows


if __name__ == "__main__":
    main()
