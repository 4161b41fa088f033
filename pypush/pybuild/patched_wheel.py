"""The project's wheel after a change to files its build backend copies verbatim: the last wheel the backend
built, with those members' new bytes and ``RECORD`` lines, every other byte kept (member order, modes, compression;
times too, except where the backend dated a member by its file's modification time, as setuptools and flit do
without ``SOURCE_DATE_EPOCH``: then the file's new one). The usual edit of an application, one module changed, then takes milliseconds instead of the
backend's process (~1 s with setuptools here). Used only when the result is what the backend would have made:

- the backend's wheel is pure (``py*-none-any``, purelib) and each of its members outside ``*.dist-info``
  equals, byte for byte, exactly one of the project's files at the same path (``pkg/mod.py`` from
  ``pkg/mod.py`` or ``src/pkg/mod.py``): nothing generated, transformed or moved;
- ``[project]`` has no ``dynamic`` fields (no version or readme read from the files);
- the project has the same file paths as at that build; every changed file is one of those copied members
  (not ``pyproject.toml``, a readme, a license or a test) and no build configuration names it.

Anything else is built by the backend again, as before.
"""
from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from pypush.cache_dir import read_json, write_json

BUILD_RECORD = "built-from.json"
"""Beside each backend-built wheel in the cache: what it was built from and which members copy which file."""
_CONFIG_FILES = ("pyproject.toml", "setup.cfg", "setup.py", "MANIFEST.in")


@dataclass
class BuiltFrom:
    """A backend build: the project's files then (relative path → content hash) and the wheel's members that
    are verbatim copies of one of them (member → relative path); ``copies`` is empty when not patchable.
    ``dated_by_file``: the members whose zip time is their file's modification time (member → ``utc`` or
    ``local``: setuptools takes UTC, zipfile's ``ZipInfo.from_file`` local time)."""

    files: Dict[str, str]
    copies: Dict[str, str]
    dated_by_file: Dict[str, str] = field(default_factory=dict)

    def save(self, directory: str) -> None:
        write_json(Path(directory, BUILD_RECORD), self.__dict__)

    @classmethod
    def load(cls, directory: str) -> Optional["BuiltFrom"]:
        try:
            doc: Any = read_json(Path(directory, BUILD_RECORD), limit=1 << 30)
            return cls(dict(doc["files"]), dict(doc["copies"]), dict(doc["dated_by_file"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None


def built_from(wheel: str, root: str, files: Dict[str, str], dynamic: List[str]) -> BuiltFrom:
    """Record a backend build of the project at ``root`` (its ``files`` as :func:`content_hash` gives them):
    the members of ``wheel`` that copy a project file, or none when the wheel is not patchable."""
    if dynamic or not os.path.basename(wheel).endswith("-none-any.whl"):
        return BuiltFrom(files, {})
    by_hash: Dict[str, List[str]] = {}
    for path, digest in files.items():
        by_hash.setdefault(digest.split(":")[0], []).append(path)
    copies: Dict[str, str] = {}
    dated: Dict[str, str] = {}
    with zipfile.ZipFile(wheel) as zf:
        if not _purelib(zf):
            return BuiltFrom(files, {})
        for info in zf.infolist():
            if info.is_dir() or info.filename.split("/")[0].endswith(".dist-info"):
                continue
            sources = [s for s in by_hash.get(hashlib.sha256(zf.read(info)).hexdigest(), [])
                       if ("/" + s).endswith("/" + info.filename)]  # same bytes at the same path (src/ or not)
            if len(sources) != 1:
                return BuiltFrom(files, {})  # generated, transformed or moved by the backend
            copies[info.filename] = sources[0]
            for zone in ("utc", "local"):
                if info.date_time == _zip_time(os.path.join(root, sources[0]), zone):
                    dated[info.filename] = zone
                    break
    return BuiltFrom(files, copies, dated)


def patch(wheel: str, built: BuiltFrom, root: str, files: Dict[str, str], out: str) -> Optional[str]:
    """The wheel the backend would build from the project now, written into directory ``out``, when ``built``
    shows it is ``wheel`` with some copied members' bytes changed; None when the backend must build it."""
    if not built.copies or set(files) != set(built.files):
        return None
    changed = {path for path, digest in files.items() if digest != built.files[path]}
    copied = set(built.copies.values())
    if not changed or not changed <= copied or _named_by_configuration(root, changed):
        return None
    if any(files[p].endswith(":x") != built.files[p].endswith(":x") for p in changed):
        return None  # a mode changed: the member's header would too
    new: Dict[str, bytes] = {}
    for member, source in built.copies.items():
        if source in changed:
            with open(os.path.join(root, source), "rb") as f:
                new[member] = f.read()
    if any(content_hash(data, files[built.copies[m]].endswith(":x")) != files[built.copies[m]]
           for m, data in new.items()):
        return None  # changed again while being read
    target = os.path.join(out, os.path.basename(wheel))
    with zipfile.ZipFile(wheel) as zin, zipfile.ZipFile(target, "w") as zout:
        for info in zin.infolist():
            if info.filename in new:
                data = new[info.filename]
            elif info.filename.endswith(".dist-info/RECORD"):
                data = _record(zin.read(info), new)
            else:
                data = zin.read(info)
            header = _same_header(info)
            if info.filename in new and info.filename in built.dated_by_file:
                header.date_time = _zip_time(os.path.join(root, built.copies[info.filename]),
                                             built.dated_by_file[info.filename])
            zout.writestr(header, data)
    return target


def content_hash(data: bytes, executable: bool) -> str:
    """A project file as the cache keys it: its sha256, ``:x`` when executable (a mode the wheel keeps)."""
    return hashlib.sha256(data).hexdigest() + (":x" if executable else "")


def _zip_time(path: str, zone: str) -> Tuple[int, int, int, int, int, int]:
    """A file's modification time as a zip entry holds it (``utc`` or ``local``, even seconds, 1980 at the
    earliest)."""
    when = max(os.stat(path).st_mtime, 315532800)
    stamp = time.gmtime(when) if zone == "utc" else time.localtime(when)
    return (stamp.tm_year, stamp.tm_mon, stamp.tm_mday, stamp.tm_hour, stamp.tm_min, stamp.tm_sec // 2 * 2)


def _purelib(zf: zipfile.ZipFile) -> bool:
    for name in zf.namelist():
        if name.count("/") == 1 and name.endswith(".dist-info/WHEEL"):
            text = zf.read(name).decode("utf-8", "replace").lower()
            return "root-is-purelib: true" in text
    return False


def _named_by_configuration(root: str, changed: set) -> bool:
    """Whether a build configuration file mentions one of the changed files (a readme, a version source)."""
    for name in _CONFIG_FILES:
        try:
            with open(os.path.join(root, name), encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError:
            continue
        if any(path in text or os.path.basename(path) in text for path in changed):
            return True
    return False


def _record(raw: bytes, new: Dict[str, bytes]) -> bytes:
    """``RECORD`` with the changed members' hashes and sizes; every other line kept byte for byte."""
    lines = raw.decode("utf-8").splitlines(keepends=True)
    for i, line in enumerate(lines):
        row = next(csv.reader([line]), [])
        if row and row[0] in new:
            data = new[row[0]]
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            out = io.StringIO()
            csv.writer(out, lineterminator="").writerow([row[0], f"sha256={digest}", str(len(data))])
            lines[i] = out.getvalue() + line[len(line.rstrip("\r\n")):]
    return "".join(lines).encode("utf-8")


def _same_header(info: zipfile.ZipInfo) -> zipfile.ZipInfo:
    """A new entry with the old one's name, time, mode and compression."""
    copy = zipfile.ZipInfo(info.filename, info.date_time)
    copy.compress_type = info.compress_type
    copy.external_attr = info.external_attr
    copy.create_system = info.create_system
    copy.comment = info.comment
    return copy
