"""Wheels for the chosen artifacts, fetched once into the user's cache and checked against their sha256; a
pure-Python sdist is built into a wheel (pip, as a subprocess), any other sdist is refused."""
from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Sequence
from urllib.parse import unquote, urlparse

from pypush.errors import SourceError
from pypush.pybuild.model import Artifact

_CHUNK = 1 << 20


def cache_dir() -> str:
    """``$PYPUSH_CACHE_DIR/pybuild``, else ``$XDG_CACHE_HOME/pypush/pybuild``, else ``~/.cache/pypush/pybuild``
    (the root the layer cache uses)."""
    root = os.environ.get("PYPUSH_CACHE_DIR")
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
        root = str(base / "pypush")
    return os.path.join(root, "pybuild")


def _sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _download(artifact: Artifact, dest: str, session: object) -> None:
    parsed = urlparse(artifact.url)
    tmp = f"{dest}.{os.getpid()}.part"
    if parsed.scheme in ("", "file"):
        shutil.copyfile(unquote(parsed.path) if parsed.scheme else artifact.url, tmp)
    else:
        import requests

        try:
            with session.get(artifact.url, stream=True, timeout=120) as r:  # type: ignore[attr-defined]
                r.raise_for_status()
                with open(tmp, "wb") as f:
                    for chunk in r.iter_content(_CHUNK):
                        f.write(chunk)
        except requests.RequestException as e:
            raise SourceError(f"{artifact.filename}: download from {parsed.netloc} failed ({e})") from None
    got = _sha256_file(tmp)
    if got != artifact.sha256:
        os.unlink(tmp)
        raise SourceError(f"{artifact.filename}: sha256 {got} does not match the lock's {artifact.sha256}")
    os.replace(tmp, dest)


def fetch(artifacts: Sequence[Artifact], root: str, jobs: int = 8) -> Dict[Artifact, str]:
    """The local path of each artifact (downloaded and verified when not cached yet)."""
    import requests

    paths: Dict[Artifact, str] = {}
    missing: List[Artifact] = []
    for artifact in dict.fromkeys(artifacts):
        directory = os.path.join(root, "files", artifact.sha256[:2], artifact.sha256)
        paths[artifact] = os.path.join(directory, artifact.filename)
        if not os.path.exists(paths[artifact]):
            os.makedirs(directory, exist_ok=True)
            missing.append(artifact)
    if missing:
        with requests.Session() as session, ThreadPoolExecutor(max(1, min(jobs, len(missing)))) as pool:
            for future in [pool.submit(_download, a, paths[a], session) for a in missing]:
                future.result()
    return paths


def wheel_for_sdist(name: str, sdist: str, root: str, platform: str) -> str:
    """A pure-Python wheel built from ``sdist`` (cached by the sdist's file); SourceError when the sdist builds a
    platform-specific wheel (it cannot be built for another machine here) or does not build."""
    out = os.path.join(root, "built", os.path.basename(os.path.dirname(sdist)))
    found = glob.glob(os.path.join(out, "*.whl"))
    if not found:
        parent = os.path.dirname(out)
        tmp = tempfile.mkdtemp(prefix="wheel-", dir=parent if os.path.isdir(parent) else None)
        # --use-pep517: an isolated build environment, so a setup.py-only sdist builds with any pip (before
        # pip 23.1 it ran ``setup.py bdist_wheel``, which needs the ``wheel`` package installed).
        run = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--use-pep517", "--quiet",
                              "--disable-pip-version-check", "-w", tmp, sdist],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if run.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            tail = run.stdout.strip().splitlines()[-1:] or ["pip wheel failed"]
            raise SourceError(f"{name}: its sdist {os.path.basename(sdist)} does not build into a wheel ({tail[0]})")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        try:
            os.replace(tmp, out)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)  # another build got there first
        found = glob.glob(os.path.join(out, "*.whl"))
    wheel = found[0]
    if not wheel.endswith("-none-any.whl"):
        raise SourceError(f"{name} has no wheel for {platform}, and its sdist builds a platform-specific wheel "
                          f"({os.path.basename(wheel)}): publish or lock a wheel for {platform}")
    return wheel
