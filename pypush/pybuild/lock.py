"""The distributions to install: read from a lock (``pylock.toml`` per PEP 751, ``uv.lock``), or resolved per
platform by pip (as a subprocess, ``--dry-run --report``) and written back as ``pylock.toml``.

A lock lists candidates; :func:`select` picks, for one target, the packages whose markers hold and, of each,
the best wheel for the target's tags (or the sdist when no wheel fits).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from pypush.errors import SourceError
from pypush.pybuild.model import Artifact, Package
from pypush.pybuild.tags import abis, marker_environment, platform_tags, wheel_tags
from pypush.pybuild.target import Target

log = logging.getLogger("pypush")


def load_toml(path: str) -> Dict[str, Any]:
    """A TOML file parsed (tomllib, or tomli before Python 3.11); SourceError naming the file otherwise."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.9/3.10
        import tomli as tomllib
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as e:
        raise SourceError(f"{path}: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise SourceError(f"{path}: not valid TOML ({e})") from None


def _artifact(entry: Mapping[str, Any], where: str, base_dir: str = "") -> Artifact:
    url = entry.get("url") or ""
    if not url and entry.get("path"):  # PEP 751: a local file, relative to the lock's directory
        url = "file://" + os.path.abspath(os.path.join(base_dir, str(entry["path"])))
    hashes = entry.get("hashes") or {}
    digest = hashes.get("sha256") if isinstance(hashes, Mapping) else None
    if digest is None and isinstance(entry.get("hash"), str) and entry["hash"].startswith("sha256:"):
        digest = entry["hash"][7:]
    if not url or not digest:
        raise SourceError(f"{where}: a file without url or sha256 hash")
    return Artifact(str(url), str(digest), entry.get("size"))


def read_pylock(path: str, project_root: Optional[str] = None) -> Tuple[List[Package], Dict[str, Any]]:
    """The packages of a PEP 751 lock and its ``[tool.pypush]`` table. The project itself, which ``pip lock .``
    and ``uv export`` list as a ``directory`` package, is left out (it is the image's application layer)."""
    doc = load_toml(path)
    if not str(doc.get("lock-version", "")).startswith("1."):
        raise SourceError(f"{path}: lock-version {doc.get('lock-version')!r} is not 1.x (PEP 751)")
    base_dir = os.path.dirname(os.path.abspath(path))
    packages = []
    for i, entry in enumerate(doc.get("packages") or []):
        where = f"{path}: packages[{i}] ({entry.get('name', '?')})"
        directory = entry.get("directory")
        if isinstance(directory, dict) and os.path.realpath(os.path.join(base_dir, str(directory.get("path", "")))) \
                == os.path.realpath(project_root or base_dir):
            continue
        if not entry.get("name") or not entry.get("version"):
            raise SourceError(f"{where}: needs name and version (a locked, not a directory/VCS, package)")
        wheels = [_artifact(w, where, base_dir) for w in entry.get("wheels") or []]
        sdist = _artifact(entry["sdist"], where, base_dir) if entry.get("sdist") else None
        if not wheels and sdist is None:
            raise SourceError(f"{where}: neither wheels nor an sdist (pypush installs only those)")
        packages.append(Package(entry["name"], str(entry["version"]), wheels, sdist, entry.get("marker")))
    return packages, dict((doc.get("tool") or {}).get("pypush") or {})


def read_uv_lock(path: str, project: str, extras: Sequence[str] = ()) -> List[Package]:
    """The packages ``project`` needs from a ``uv.lock``, with the markers of the edges that lead to them
    (one package reached by several edges gets them or-ed). A name locked at several versions (uv's forks,
    e.g. one numpy per Python version) is told apart by the ``version`` (and ``source``) its edges name."""
    doc = load_toml(path)
    by_name: Dict[str, List[Mapping[str, Any]]] = {}
    for entry in doc.get("package") or []:
        by_name.setdefault(_normalize(entry.get("name", "")), []).append(entry)
    root = by_name.get(_normalize(project))
    if not root:
        raise SourceError(f"{path}: no package named {project!r} (the project this lock is for)")

    def entry_of(edge: Mapping[str, Any]) -> Mapping[str, Any]:
        found = by_name.get(_normalize(edge.get("name", "")), [])
        for key in ("version", "source"):
            if key in edge and len(found) > 1:
                found = [e for e in found if e.get(key) == edge[key]]
        if len(found) != 1:
            how = "no" if not found else "more than one"
            raise SourceError(f"{path}: {how} package entry for the dependency {edge.get('name')!r} "
                              f"{edge.get('version', '')}".rstrip())
        return found[0]

    reached: Dict[int, Tuple[Mapping[str, Any], List[str]]] = {}  # entry's id -> (entry, markers of its edges)
    followed: set = set()  # (entry's id, marker, extra or "")
    edges = list(root[0].get("dependencies") or [])
    for extra in extras:
        edges += list((root[0].get("optional-dependencies") or {}).get(extra) or [])
    stack: List[Tuple[Mapping[str, Any], str]] = [(edge, "") for edge in edges]
    while stack:
        edge, parent = stack.pop()
        entry = entry_of(edge)
        marker = " and ".join(f"({m})" for m in (parent, edge.get("marker")) if m)
        seen = reached.setdefault(id(entry), (entry, []))[1]
        if marker not in seen and "" not in seen:
            seen.append(marker)
        for extra in [""] + list(edge.get("extra") or []):  # its dependencies, then each extra's the edge asks
            if (id(entry), marker, extra) in followed or (id(entry), "", extra) in followed:
                continue
            followed.add((id(entry), marker, extra))
            children = entry.get("dependencies") if not extra else (entry.get("optional-dependencies") or {}).get(extra)
            stack += [(child, marker) for child in children or []]
    packages = []
    for entry, found in reached.values():
        where = f"{path}: package {entry.get('name')}"
        wheels = [_artifact(w, where) for w in entry.get("wheels") or []]
        sdist = _artifact(entry["sdist"], where) if entry.get("sdist") else None
        either = None if "" in found else " or ".join(f"({m})" for m in found)
        packages.append(Package(entry["name"], str(entry.get("version", "")), wheels, sdist, either))
    return sorted(packages, key=lambda p: (_normalize(p.name), p.version))


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def select(packages: Sequence[Package], target: Target, where: str) -> List[Tuple[Package, Artifact]]:
    """For ``target``: each package whose marker holds, with the best wheel for its tags (else its sdist);
    SourceError naming the package and platform when it has neither."""
    from packaging.markers import Marker
    from packaging.utils import parse_wheel_filename

    env = marker_environment(target)
    rank = {tag: i for i, tag in enumerate(wheel_tags(target))}
    chosen = []
    for package in packages:
        if package.marker and not Marker(package.marker).evaluate(env):
            continue
        best: Optional[Tuple[int, Artifact]] = None
        for wheel in package.wheels:
            try:
                tags = parse_wheel_filename(wheel.filename)[3]
            except ValueError:
                raise SourceError(f"{where}: {package.name}: {wheel.filename!r} is not a wheel file name") from None
            score = min((rank[str(t)] for t in tags if str(t) in rank), default=None)
            if score is not None and (best is None or score < best[0]):
                best = (score, wheel)
        if best is not None:
            chosen.append((package, best[1]))
        elif package.sdist is not None:
            chosen.append((package, package.sdist))
        else:
            raise SourceError(f"{package.name} {package.version} has no wheel for {target.platform} "
                              f"({target.libc} {'.'.join(map(str, target.libc_version))}, "
                              f"{target.cache_tag}) in {where}")
    return chosen


def target_key(target: Target) -> str:
    """What a resolve for ``target`` depends on besides the requirements."""
    return f"{target.platform} {target.cache_tag} {target.libc}{'.'.join(map(str, target.libc_version))}"


def resolve(requirements: Sequence[str], targets: Sequence[Target], requires_python: str,
            inputs: str, out_path: str, constraints: Optional[str] = None, write: bool = True,
            cache: str = "") -> List[Package]:
    """Resolve ``requirements`` for each target with pip (binary wheels only) and write ``out_path``
    (unless ``write`` is false)."""
    merged: Dict[Tuple[str, str], Package] = {}
    platforms: Dict[Tuple[str, str], List[str]] = {}
    for target in targets:
        for name, version, url, digest in _pip_report(requirements, target, constraints, cache):
            key = (_normalize(name), version)
            package = merged.setdefault(key, Package(_normalize(name), version))  # PEP 751: normalized names
            artifact = Artifact(url, digest)
            if cache:
                from pypush.pybuild.sdists import sdist_of

                built_from = sdist_of(url, cache)  # a wheel built here: lock the sdist it came from
                if built_from is not None:
                    package.sdist = built_from
                    platforms.setdefault(key, []).append(target.machine)
                    continue
            if url.endswith(".whl") and artifact not in package.wheels:
                package.wheels.append(artifact)
            elif not url.endswith(".whl"):
                package.sdist = artifact
            platforms.setdefault(key, []).append(target.machine)
    machines = sorted({t.machine for t in targets})
    for key, package in merged.items():
        if sorted(set(platforms[key])) != machines:
            package.marker = " or ".join(f"platform_machine == '{m}'" for m in sorted(set(platforms[key])))
    packages = sorted(merged.values(), key=lambda p: (_normalize(p.name), p.version))
    if not write:
        return packages
    from pypush.pybuild.lock_write import write_pylock

    write_pylock(out_path, packages, requires_python, inputs, [target_key(t) for t in targets])
    return packages


_NO_MARKERS = "pypush: markers not set"
_PIP_FOR_TARGET = f"""import json, sys
environment = json.loads(sys.argv.pop(1))
try:
    from pip._vendor.packaging import markers
    markers.default_environment = lambda: dict(environment)
except Exception:
    print("{_NO_MARKERS}", file=sys.stderr)
from pip._internal.cli.main import main
sys.exit(main(sys.argv[1:]))
"""
"""pip, with the environment markers of requirements (``; platform_machine == 'aarch64'``,
``; python_version < '3.11'``) evaluated for the target instead of the machine pip runs on, which pip's
``--platform`` and ``--python-version`` leave as they are."""


def _pip_report(requirements: Sequence[str], target: Target, constraints: Optional[str],
                cache: str = "") -> List[Tuple[str, str, str, str]]:
    """(name, version, url, sha256) of what pip would install for ``target``; with a ``cache``, a requirement
    published only as a pure-Python sdist is built into a wheel and the resolve tried again."""
    tried: List[str] = []
    while True:
        try:
            return _pip_report_once(requirements, target, constraints, cache)
        except _NoWheel as e:
            from pypush.pybuild.sdists import add_wheel_for

            if not cache or e.requirement in tried or len(tried) >= 20:
                raise SourceError(e.message) from None
            tried.append(e.requirement)
            add_wheel_for(e.requirement, cache, target.platform)


class _NoWheel(Exception):
    def __init__(self, requirement: str, message: str):
        super().__init__(message)
        self.requirement, self.message = requirement, message


def _pip_report_once(requirements: Sequence[str], target: Target, constraints: Optional[str],
                     cache: str) -> List[Tuple[str, str, str, str]]:
    if not requirements:
        return []
    major, minor = target.python_version
    args = [sys.executable, "-c", _PIP_FOR_TARGET, json.dumps(marker_environment(target)), "install", "--dry-run",
            "--quiet", "--ignore-installed", "--only-binary=:all:", "--python-version", f"{major}.{minor}",
            "--implementation", target.implementation, "--disable-pip-version-check", "--no-warn-script-location"]
    for abi in abis(target):
        args += ["--abi", abi]
    for tag in platform_tags(target):
        args += ["--platform", tag]
    if constraints:
        args += ["-r", constraints]
    if cache and os.path.isdir(os.path.join(cache, "sdist-wheels")):
        args += ["--find-links", os.path.join(cache, "sdist-wheels")]
    with tempfile.TemporaryDirectory(prefix="pypush-resolve-") as tmp:
        report = os.path.join(tmp, "report.json")
        run = subprocess.run(args + ["--target", os.path.join(tmp, "t"), "--report", report, *requirements],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if run.returncode != 0:
            lines = [line for line in run.stderr.splitlines() if line.startswith("ERROR")] or run.stderr.splitlines()
            reason = "; ".join(lines[-2:]) or f"pip exited {run.returncode}"
            mismatch = re.search(r"^\s+(\S+) from .*\n\s+Expected sha256 (\w+)\n\s+Got\s+(\w+)", run.stderr, re.M)
            if mismatch:
                reason = (f"{mismatch.group(1)}: sha256 {mismatch.group(3)} does not match the hash the requirements "
                          f"allow ({mismatch.group(2)})")
            message = (f"cannot resolve the dependencies for {target.platform} (binary wheels for {target.libc} "
                       f"{'.'.join(map(str, target.libc_version))}, {target.cache_tag}): {reason}")
            from pypush.pybuild.sdists import missing_requirement

            wanted = missing_requirement(run.stderr)
            if wanted:
                raise _NoWheel(wanted, message)
            raise SourceError(message)
        if _NO_MARKERS in run.stderr:
            log.warning("pip's environment markers are the build machine's, not %s's (this pip keeps its marker "
                        "code elsewhere): dependencies conditional on the machine or Python version may be wrong",
                        target.platform)
        with open(report, encoding="utf-8") as f:
            doc = json.load(f)
    out = []
    for item in doc.get("install") or []:
        info = item.get("download_info") or {}
        hashes = (info.get("archive_info") or {}).get("hashes") or {}
        digest = hashes.get("sha256") or _hash_fragment(info.get("url", "")) or _local_sha256(info.get("url", ""))
        meta = item.get("metadata") or {}
        kind = "a local directory" if "dir_info" in info else "a version-control" if "vcs_info" in info else ""
        if kind:
            raise SourceError(f"{meta.get('name')} {meta.get('version')}: {kind} requirement ({info.get('url')}), "
                              f"which pypush build does not install: make it a wheel (pip wheel DIR) and require "
                              f"that file, or publish it to your index")
        if not digest:
            raise SourceError(f"pip gave no sha256 for {meta.get('name')} {meta.get('version')} ({info.get('url')})")
        out.append((meta["name"], meta["version"], info["url"], digest))
    return out


def _hash_fragment(url: str) -> Optional[str]:
    match = re.search(r"#sha256=([0-9a-f]{64})", url)
    return match.group(1) if match else None


def inputs_digest(requirements: Sequence[str], requires_python: str) -> str:
    """What the dependencies were resolved from (a lock written for other inputs is stale)."""
    text = json.dumps([sorted(requirements), requires_python])
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _local_sha256(url: str) -> str:
    """The sha256 of a ``file:`` URL's file (pip before 23.1 reports no hash for a local wheel), else ""."""
    from urllib.parse import unquote, urlsplit
    from urllib.request import url2pathname

    parts = urlsplit(url)
    if parts.scheme != "file":
        return ""
    path = url2pathname(unquote(parts.path))
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        return ""
    return digest.hexdigest()
