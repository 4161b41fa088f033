#!/usr/bin/env python3
"""Benchmark `pypush build`: a project with ~30 dependencies on a Debian bookworm python3 base (amd64).

    python3 benchmarks/bench_build.py [--runs 3] [--skip-pyoci]

Rows, each a separate process (interpreter start included), medians of ``--runs`` where repeated:

- ``cold``: empty pypush cache, no lock: resolve (pip), download, install, compress, write an ``oci:`` layout.
- ``warm``: the same build again into a fresh ``oci:`` layout (lock written by the cold run, caches warm).
- ``app-only rebuild + push``: one line of the app changed, built and pushed to a docker-registry (TLS, on
  loopback) that holds the previous version; bytes = what the registry stored anew / the image's bytes (the
  project's last wheel is patched: pypush.pybuild.patched_wheel). Then a module added, which the project's
  PEP 517 backend must build: setuptools, then flit_core.
- ``pyoci 0.2.1``: the same project, its base from the same registry (it reads bases only from registries,
  over HTTPS), ``--include-deps`` from a ``.venv`` made beforehand (untimed: pyoci copies a venv), pushed;
  then the same one-line app change rebuilt and pushed.

Goals (issue 21): warm full build to ``oci:`` ≤ 2 s; app-only rebuild + push ≤ 1 s and ≤ 5 % of the image's
bytes; ahead of pyoci in time and in bytes pushed. The base is the mmdebstrap tar the tests use
(tests/support/pybuild_bases.py, cached in ~/.cache/pypush-tests).
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE.parent / "tests" / "support"))
from common import DATA_DIR, Run, Server, compile_pypush, free_port, machine, measure, print_table  # noqa: E402

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


def use_flit(project: Path) -> None:
    path = project / "pyproject.toml"
    path.write_text(path.read_text().replace('requires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"',
                                             'requires = ["flit_core>=3.9,<4"]\nbuild-backend = "flit_core.buildapi"')
                    .replace('version = "1.0.0"\n', 'version = "1.0.0"\ndescription = "bench app"\n'))


def use_setuptools(project: Path) -> None:
    path = project / "pyproject.toml"
    path.write_text(path.read_text().replace('requires = ["flit_core>=3.9,<4"]\nbuild-backend = "flit_core.buildapi"',
                                             'requires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"'))


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


def timed(cmd: Sequence[str], env: Optional[Dict[str, str]] = None, cwd: Optional[Path] = None) -> Run:
    """Wall time, CPU time and peak RSS of ``cmd`` (common.measure); fails loudly on a non-zero exit."""
    return measure(list(cmd), env=env, cwd=cwd)


def fmt(run: Run) -> str:
    return f"{run.wall:.2f} s (CPU {run.cpu:.2f} s, {run.rss:.0f} MiB)"


def median(runs: List[Run]) -> Run:
    return sorted(runs, key=lambda r: r.wall)[len(runs) // 2]


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
               f"oci:{base}:1"], env)  # the base, untimed
        host = f"127.0.0.1:{registry.port}"
        timed([*pypush, "push", "--insecure", f"oci:{base}:1", f"{host}/base:1"])
        project = make_project(work)

        cold = timed([*pypush, "build", str(project), f"oci:{work / 'cold'}:1", "--base", f"oci:{base}:1"], env)
        rows.append(("pypush build, cold cache + resolve → oci:", fmt(cold), "", ""))
        warm = median([timed([*pypush, "build", str(project), f"oci:{work / f'warm{i}'}:1", "--base",
                              f"oci:{base}:1"], env) for i in range(args.runs)])
        rows.append(("pypush build, warm → oci:", fmt(warm), "≤ 2 s", "yes" if warm.wall <= 2 else "no"))
        image = sum(p.stat().st_size for p in (work / "warm0" / "blobs").rglob("*") if p.is_file())

        before = registry.stored_bytes()
        first = timed([*pypush, "build", str(project), f"{host}/app:1", "--base", f"docker://{host}/base:1",
                       "--insecure", "--src-insecure"], env)
        rows.append(("pypush build + push (base in the registry)", fmt(first),
                     f"{(registry.stored_bytes() - before) / 1e6:.1f} MB stored", ""))
        pushes, shares = [], []
        for i in range(args.runs):
            change_app(project, i)
            before = registry.stored_bytes()
            pushes.append(timed([*pypush, "build", str(project), f"{host}/app:{i + 2}", "--base",
                                 f"docker://{host}/base:1", "--insecure", "--src-insecure"], env))
            shares.append((registry.stored_bytes() - before) / image)
        push, share = median(pushes), statistics.median(shares)
        rows.append(("pypush app-only rebuild + push (a module edited: wheel patched)", fmt(push), "≤ 1 s",
                     "yes" if push.wall <= 1 else "no"))
        added = []
        for i in range(args.runs):  # a file added: the project's backend must build the wheel again
            (project / "src" / "benchapp" / f"extra{i}.py").write_text(f"X = {i}\n")
            added.append(timed([*pypush, "build", str(project), f"{host}/app:a{i}", "--base",
                                f"docker://{host}/base:1", "--insecure", "--src-insecure"], env))
        rows.append(("  a module added: setuptools builds the wheel", fmt(median(added)), "≤ 1 s",
                     "yes" if median(added).wall <= 1 else "no"))
        use_flit(project)  # the same app with a lighter PEP 517 backend
        timed([*pypush, "build", str(project), f"{host}/app:flit", "--base", f"docker://{host}/base:1",
               "--insecure", "--src-insecure"], env)  # its build environment made, untimed
        flit = []
        for i in range(args.runs):
            (project / "src" / "benchapp" / f"more{i}.py").write_text(f"Y = {i}\n")
            flit.append(timed([*pypush, "build", str(project), f"{host}/app:f{i}", "--base",
                               f"docker://{host}/base:1", "--insecure", "--src-insecure"], env))
        rows.append(("  a module added: flit_core builds the wheel", fmt(median(flit)), "≤ 1 s",
                     "yes" if median(flit).wall <= 1 else "no"))
        use_setuptools(project)
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
    made = timed([sys.executable, "-m", "venv", str(venv)]).wall
    pip = timed([str(venv / "bin" / "pip"), "install", "-q", *DEPENDENCIES]).wall
    env = {"SSL_CERT_FILE": str(cert)}
    cmd = [str(PYOCI_VENV / "bin" / "pyoci"), "build", "--context", str(project), "--base-image", f"{host}/base:1",
           "--include-deps", "--platform", "linux/amd64", "--push", "--no-progress", "--cache-dir",
           str(project.parent / "pyoci-cache")]
    before = registry.stored_bytes()
    first = timed([*cmd, "--tag", f"{host}/pyoci:1"], env, cwd=project)
    full = registry.stored_bytes() - before
    rows = [(f"pyoci 0.2.1 build + push (its venv made beforehand: {made + pip:.1f} s)", fmt(first),
             f"{full / 1e6:.1f} MB stored", "")]
    pushes, stored = [], []
    for i in range(runs):
        change_app(project, 100 + i)
        before = registry.stored_bytes()
        pushes.append(timed([*cmd, "--tag", f"{host}/pyoci:{i + 2}"], env, cwd=project))
        stored.append(registry.stored_bytes() - before)
    rows.append(("pyoci app-only rebuild + push", fmt(median(pushes)),
                 f"{statistics.median(stored) / 1e6:.2f} MB stored anew", ""))
    return rows


if __name__ == "__main__":
    main()
