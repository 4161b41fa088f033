"""The project being built: what its ``pyproject.toml`` says (name, version, dependencies, scripts,
``[tool.pypush]``), its git revision, and its own wheel (PEP 517, cached by the project's files)."""
from __future__ import annotations

import glob
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from pypush.cache_dir import read_json, write_json
from pypush.errors import SourceError
from pypush.pybuild.lock import load_toml
from pypush.pybuild.patched_wheel import BuiltFrom, built_from, content_hash, patch

log = logging.getLogger("pypush")

_SKIP_DIRS = {".git", ".hg", ".venv", "venv", "build", "dist", "__pycache__", ".tox", ".nox", ".mypy_cache",
              ".pytest_cache", "node_modules"}
_RUNNER = """import importlib, json, os, sys
sys.path[:0] = json.loads(sys.argv[3])
mod, _, obj = sys.argv[1].partition(":")
backend = importlib.import_module(mod)
for part in obj.split(".") if obj else []:
    backend = getattr(backend, part)
if sys.argv[2] == "--requires":
    hook = getattr(backend, "get_requires_for_build_wheel", None)
    print(json.dumps(list(hook() if hook else [])))
else:
    backend.build_wheel(sys.argv[2])
"""


@dataclass
class Project:
    """A Python project directory and its ``pyproject.toml``."""

    root: str
    name: str
    version: Optional[str]
    requires_python: str
    dependencies: List[str]
    scripts: Dict[str, str]
    urls: Dict[str, str]
    settings: Dict[str, Any] = field(default_factory=dict)  # [tool.pypush]
    build_system: Dict[str, Any] = field(default_factory=dict)
    dynamic: List[str] = field(default_factory=list)  # [project] fields the backend fills in

    @classmethod
    def read(cls, root: str) -> "Project":
        """Read ``root/pyproject.toml``; SourceError naming the file and field when it is not usable."""
        path = os.path.join(root, "pyproject.toml")
        if not os.path.isfile(path):
            raise SourceError(f"{path}: no such file (pypush build wants a project with a pyproject.toml)")
        doc = load_toml(path)
        meta = doc.get("project")
        if not isinstance(meta, dict) or not meta.get("name"):
            raise SourceError(f"{path}: no [project] table with a name")
        if "dependencies" in (meta.get("dynamic") or []):
            raise SourceError(f"{path}: [project] dependencies are dynamic; pypush needs them listed (or a lock)")
        tool = (doc.get("tool") or {}).get("pypush") or {}
        if not isinstance(tool, dict):
            raise SourceError(f"{path}: [tool.pypush] is not a table")
        return cls(os.path.abspath(root), str(meta["name"]), meta.get("version"),
                   str(meta.get("requires-python") or ""), [str(d) for d in meta.get("dependencies") or []],
                   dict(meta.get("scripts") or {}), dict(meta.get("urls") or {}), tool,
                   dict(doc.get("build-system") or {}), [str(d) for d in meta.get("dynamic") or []])

    def source_url(self) -> Optional[str]:
        """``org.opencontainers.image.source``: the project's Source/Repository URL, else git's origin."""
        for key, value in self.urls.items():
            if key.lower().replace("-", "").replace(" ", "") in ("source", "repository", "sourcecode", "code"):
                return str(value)
        url = _git(self.root, "remote", "get-url", "origin")
        if url and "@" in url.split("//")[-1].split("/")[0]:  # never a credential
            return None
        return url

    def revision(self) -> Optional[str]:
        """The git commit the project is at (None outside git)."""
        return _git(self.root, "rev-parse", "HEAD")

    def files(self) -> Dict[str, str]:
        """The project's files (relative path with ``/`` → :func:`content_hash`), what its wheel is built from:
        version control, virtual environments, build output, byte code and locks left out."""
        found: Dict[str, str] = {}
        for directory, dirs, names in os.walk(self.root):
            dirs[:] = [d for d in dirs if d not in _SKIP_DIRS and not d.endswith(".egg-info")]
            for name in names:
                if name.endswith((".pyc", ".lock")) or name.startswith("pylock."):
                    continue
                path = os.path.join(directory, name)
                try:
                    with open(path, "rb") as f:
                        executable = bool(os.fstat(f.fileno()).st_mode & 0o111)
                        found[os.path.relpath(path, self.root).replace(os.sep, "/")] = content_hash(f.read(), executable)
                except OSError:
                    continue
        return found

    def wheel(self, cache: str) -> str:
        """The project's wheel, cached by the project's files: built by its PEP 517 backend in a build
        environment kept in the cache (made once per set of build requirements, as ``pip wheel`` would make one
        per build), or, after a change to files that backend copies verbatim, its last wheel patched
        (:mod:`pypush.pybuild.patched_wheel`)."""
        import json

        files = self.files()
        projects = os.path.join(cache, "projects")
        out = os.path.join(projects, hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest())
        found = glob.glob(os.path.join(out, "*.whl"))
        if found:
            return found[0]
        os.makedirs(projects, exist_ok=True)
        last = os.path.join(projects, "last-" + hashlib.sha256(self.root.encode()).hexdigest()[:24])
        tmp = tempfile.mkdtemp(prefix="wheel-", dir=projects)
        try:
            wheel = self._patched(last, files, tmp)
            if wheel is None:
                self._build(tmp, cache)
                wheels = glob.glob(os.path.join(tmp, "*.whl"))
                if len(wheels) != 1:
                    raise SourceError(f"{self.root}: the build backend made {len(wheels)} wheels, not one")
                built_from(wheels[0], self.root, files, self.dynamic).save(tmp)
            try:
                os.replace(tmp, out)
            except OSError:
                pass  # another build stored it first
            if wheel is None:
                write_json(Path(last), os.path.basename(out))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return glob.glob(os.path.join(out, "*.whl"))[0]

    def _patched(self, last: str, files: Dict[str, str], out: str) -> Optional[str]:
        """The last backend-built wheel of this project patched with the changed files, else None."""
        try:
            previous = os.path.join(os.path.dirname(last), str(read_json(Path(last))))
        except (OSError, ValueError):
            return None
        built = BuiltFrom.load(previous)
        wheels = glob.glob(os.path.join(previous, "*.whl"))
        if built is None or len(wheels) != 1:
            return None
        wheel = patch(wheels[0], built, self.root, files, out)
        if wheel is not None:
            log.info("project wheel: %s patched from the last build", os.path.basename(wheel))
        return wheel

    def _build(self, out: str, cache: str) -> None:
        import json

        backend = self.build_system.get("build-backend") or "setuptools.build_meta:__legacy__"
        requires = list(self.build_system.get("requires") or ["setuptools>=40.8.0"])
        paths = [os.path.join(self.root, p) for p in self.build_system.get("backend-path") or []]
        env = build_environment(requires, backend, paths, cache, self.root)
        run = subprocess.run([sys.executable, "-c", _RUNNER, backend, out, json.dumps(paths + env)], cwd=self.root,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if run.returncode != 0:
            tail = "; ".join(run.stdout.strip().splitlines()[-3:])
            raise SourceError(f"{self.root}: building the project's wheel failed ({tail})")


def _pip_target(requirements: List[str], where: str) -> None:
    """``pip install --target`` of ``requirements`` into a new directory ``where``."""
    tmp = f"{where}.{os.getpid()}.tmp"
    run = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                          "--no-warn-script-location", "--target", tmp, *requirements],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if run.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tail = "; ".join(run.stdout.strip().splitlines()[-2:])
        raise SourceError(f"cannot install the build requirements {', '.join(requirements)} ({tail})")
    try:
        os.replace(tmp, where)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)  # made by another build meanwhile


def build_environment(requires: List[str], backend: str, paths: List[str], cache: str, root: str) -> List[str]:
    """Directories holding the build requirements and what the backend asks for besides
    (``get_requires_for_build_wheel``), kept in the cache by requirements and interpreter."""
    import json

    key = hashlib.sha256(json.dumps([sorted(requires), backend, sys.version, sys.executable]).encode()).hexdigest()
    base = os.path.join(cache, "buildenv", key[:24])
    first, extra, marker = base + "-requires", base + "-extra", base + ".json"
    try:
        with open(marker, encoding="utf-8") as f:
            return list(json.load(f))
    except (OSError, ValueError):
        pass
    os.makedirs(os.path.dirname(base), exist_ok=True)
    if not os.path.isdir(first):
        _pip_target(requires, first)
    run = subprocess.run([sys.executable, "-c", _RUNNER, backend, "--requires", json.dumps(paths + [first])],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=root)
    if run.returncode != 0:
        raise SourceError(f"the build backend {backend} does not load ({run.stderr.strip().splitlines()[-1:]})")
    more = [r for r in json.loads(run.stdout.strip().splitlines()[-1]) if r not in requires]
    dirs = [first]
    if more:
        if not os.path.isdir(extra):
            _pip_target(more, extra)
        dirs.append(extra)
    with open(marker + ".tmp", "w", encoding="utf-8") as f:
        json.dump(dirs, f)
    os.replace(marker + ".tmp", marker)
    return dirs


def _git(root: str, *args: str) -> Optional[str]:
    try:
        run = subprocess.run(["git", "-C", root, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return run.stdout.strip() or None if run.returncode == 0 else None
