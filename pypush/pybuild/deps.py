"""Which distributions each target gets: from the lock the project has (or ``--lock``), else a resolve whose
result is written back as ``pylock.toml``; then each target's wheels from the cache."""
from __future__ import annotations

import logging
import os
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

from pypush.errors import SourceError, UsageError
from pypush.pybuild.lock import (Artifact, Package, inputs_digest, read_pylock, read_uv_lock, resolve, select,
                                 target_key)
from pypush.pybuild.project import Project
from pypush.pybuild.target import Target
from pypush.pybuild.wheels import fetch, wheel_for_sdist

log = logging.getLogger("pypush")
Chosen = List[Tuple[str, Dict[str, Any]]]  # (wheel path, facts for the SBOM)


def find_lock(project: Project, lock: Optional[str]) -> Tuple[str, str]:
    """(kind, path) of the lock to use: ``pylock``, ``uv``, ``requirements`` or ``none`` (resolve into path)."""
    if lock:
        name = os.path.basename(lock)
        kind = ("uv" if name == "uv.lock" else "requirements" if name.endswith(".txt")
                else "pylock" if re.fullmatch(r"pylock(\.[^.]+)?\.toml", name) else "")
        if not kind:
            raise UsageError(f"--lock {lock}: not pylock.toml / pylock.NAME.toml (PEP 751), uv.lock or *.txt")
        if not os.path.exists(lock) and kind != "pylock":
            raise SourceError(f"{lock}: no such file")
        return (kind if os.path.exists(lock) else "none"), lock
    for kind, name in (("pylock", "pylock.toml"), ("uv", "uv.lock"), ("requirements", "requirements.txt")):
        path = os.path.join(project.root, name)
        if os.path.exists(path) and (kind != "requirements" or "--hash" in open(path, encoding="utf-8").read()):
            return kind, path
    return "none", os.path.join(project.root, "pylock.toml")


def _requirements_hashes(path: str) -> Dict[str, set]:
    """name → allowed sha256 values of a ``requirements.txt`` in hash-checking form."""
    text = re.sub(r"\\\n", " ", open(path, encoding="utf-8").read())
    out: Dict[str, set] = {}
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        name = re.split(r"[\s<>=!~;\[@]", line, 1)[0]
        hashes = set(re.findall(r"--hash[= ]sha256:([0-9a-fA-F]{64})", line))
        if not hashes:
            raise SourceError(f"{path}: {name} has no --hash (a hash-checking requirements file pins every line)")
        out[re.sub(r"[-_.]+", "-", name).lower()] = hashes
    return out


def packages_for(project: Project, targets: Sequence[Target], lock: Optional[str],
                 cache: str = "") -> Tuple[List[Package], str]:
    """The locked packages for ``targets`` and where they come from (a lock path). What pip resolved from a
    hashed requirements file is kept in ``cache`` by the file's content and the targets."""
    kind, path = find_lock(project, lock)
    inputs = inputs_digest(project.dependencies, project.requires_python)
    if kind == "pylock":
        packages, tool = read_pylock(path, project.root)
        stale = tool.get("inputs") not in (None, inputs) or (
            tool.get("targets") is not None and not {target_key(t) for t in targets} <= set(tool.get("targets") or []))
        if not stale:
            return packages, path
        log.info("%s is stale (dependencies or platforms changed): resolving again", path)
    elif kind == "uv":
        return read_uv_lock(path, project.name), path
    elif kind == "requirements":
        allowed = _requirements_hashes(path)
        packages = _resolve_requirements(path, targets, project.requires_python, cache)
        for package in packages:
            good = allowed.get(re.sub(r"[-_.]+", "-", package.name).lower(), set())
            for artifact in package.wheels + ([package.sdist] if package.sdist else []):
                if artifact.sha256 not in good:
                    raise SourceError(f"{path}: {package.name} {package.version}: {artifact.filename} has sha256 "
                                      f"{artifact.sha256}, which the file does not allow")
        return packages, path
    return resolve(project.dependencies, targets, project.requires_python, inputs, path, cache=cache), path


def _resolve_requirements(path: str, targets: Sequence[Target], requires_python: str,
                          cache: str) -> List[Package]:
    """pip's resolution of a hashed requirements file for ``targets``, kept in ``cache`` as a pylock."""
    import hashlib

    with open(path, "rb") as f:
        key = hashlib.sha256(f.read() + repr(sorted(target_key(t) for t in targets)).encode()).hexdigest()
    kept = os.path.join(cache, "resolved", f"{key}.pylock.toml") if cache else ""
    if kept and os.path.exists(kept):
        try:
            return read_pylock(kept)[0]
        except SourceError:
            pass
    packages = resolve(["-r", path], targets, requires_python, key, kept, write=bool(kept), cache=cache)
    return packages


def wheels_for(packages: Sequence[Package], target: Target, where: str, cache: str) -> Chosen:
    """Each chosen distribution's wheel on disk (fetched, verified; a pure sdist built) for ``target``."""
    chosen = select(packages, target, where)
    paths = fetch([artifact for _, artifact in chosen], cache)
    out: Chosen = []
    for package, artifact in chosen:
        path = paths[artifact]
        if not artifact.filename.endswith(".whl"):
            path = wheel_for_sdist(package.name, path, cache, target.platform)
        out.append((path, {"name": package.name, "version": package.version, "sha256": artifact.sha256,
                           "filename": artifact.filename, "url": artifact.url, "role": "dependency"}))
    return out


def fetch_all(packages: Sequence[Package], targets: Sequence[Target], where: str, cache: str) -> None:
    """Download every target's artifacts at once (in parallel) before installing."""
    artifacts: List[Artifact] = []
    for target in targets:
        artifacts += [artifact for _, artifact in select(packages, target, where)]
    fetch(artifacts, cache)
