"""Byte code for the image's interpreter: ``.pyc`` files with checked-hash invalidation (valid whatever the file
times), compiled by an interpreter of the target's version and implementation — this one when it is, else one
found on this machine (``PATH``, pyenv, uv's managed Pythons) running as a helper process. Byte code of another
version would be useless to the image, so without such an interpreter no ``.pyc`` is written."""
from __future__ import annotations

import atexit
import glob
import logging
import os
import shutil
import subprocess
import sys
import threading
from typing import Any, Dict, List, Optional, Tuple

from pypush.pybuild.target import Target

log = logging.getLogger("pypush")

_PYC = r"""import importlib.util
import importlib._bootstrap_external as external  # the same code py_compile uses
def pyc(source, path):
    try:
        code = compile(source, path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return b""
    return bytes(external._code_to_hash_pyc(code, importlib.util.source_hash(source), checked=True))
"""
"""The one compile step, run in this process or in a helper: checked-hash ``.pyc`` bytes, b"" for a source
that does not compile (pip skips those too)."""
_WORKER = _PYC + r"""import sys
read, write = sys.stdin.buffer.read, sys.stdout.buffer
def take(n):
    data = read(n)
    if len(data) < n:
        sys.exit(0)
    return data
while True:
    path = take(int.from_bytes(take(4), "big")).decode("utf-8")
    data = pyc(take(int.from_bytes(take(4), "big")), path)
    write.write(len(data).to_bytes(4, "big") + data)
    write.flush()
"""
_PROBE = "import sys; print(sys.implementation.name, *sys.version_info[:3])"


class Compiler:
    """Compiles module sources into checked-hash ``.pyc`` bytes for one Python version (this interpreter)."""

    def __init__(self, name: str):
        self.name = name  # e.g. "cpython 3.11.7 /usr/bin/python3.11": what made the byte code
        space: Dict[str, Any] = {}
        exec(_PYC, space)  # pypush's own text, which the helper runs too
        self._pyc = space["pyc"]

    def compile(self, source: bytes, path: str) -> Optional[bytes]:
        """The ``.pyc`` bytes of ``source`` named by its image ``path``; None when it does not compile."""
        return self._pyc(source, path) or None


class WorkerCompiler(Compiler):
    """The same, by another interpreter in a helper process (started on first use, ended with this process)."""

    def __init__(self, name: str, executable: str):
        super().__init__(name)
        self.executable = executable
        self._process: Optional[subprocess.Popen] = None
        self._lock = threading.Lock()

    def compile(self, source: bytes, path: str) -> Optional[bytes]:
        with self._lock:
            if self._process is None:
                self._process = subprocess.Popen([self.executable, "-I", "-S", "-c", _WORKER], stdin=subprocess.PIPE,
                                                 stdout=subprocess.PIPE)
                atexit.register(self.close)
            assert self._process.stdin is not None and self._process.stdout is not None
            encoded = path.encode("utf-8")
            self._process.stdin.write(len(encoded).to_bytes(4, "big") + encoded + len(source).to_bytes(4, "big"))
            self._process.stdin.write(source)
            self._process.stdin.flush()
            head = self._process.stdout.read(4)
            if len(head) < 4:
                raise OSError(f"the byte-code compiler {self.executable} ended unexpectedly")
            data = self._process.stdout.read(int.from_bytes(head, "big"))
        return data or None

    def close(self) -> None:
        """End the helper process (it ends by itself when this process does)."""
        with self._lock:
            process, self._process = self._process, None
        if process is not None:
            assert process.stdin is not None and process.stdout is not None
            process.stdin.close()
            process.wait()
            process.stdout.close()


_found: Dict[Tuple[str, Tuple[int, int]], Optional[Compiler]] = {}
_found_lock = threading.Lock()


def compiler_for(target: Target) -> Optional[Compiler]:
    """A compiler for ``target``'s interpreter, or None (with a warning, once) when this machine has none."""
    impl = "cpython" if target.implementation == "cp" else "pypy"
    key = (impl, target.python_version)
    with _found_lock:
        if key not in _found:
            _found[key] = _find(impl, target.python_version)
            if _found[key] is None:
                log.warning("no %s %d.%d on this machine (PATH, pyenv, uv): the image gets no .pyc files, so its "
                            "modules are compiled each time a container first imports them", impl, *key[1])
            else:
                log.info("byte code for %s: %s", target.platform, _found[key].name)  # type: ignore[union-attr]
        return _found[key]


def _find(impl: str, version: Tuple[int, int]) -> Optional[Compiler]:
    if sys.implementation.name == impl and tuple(sys.version_info[:2]) == version:
        return Compiler(f"{impl} {'.'.join(map(str, sys.version_info[:3]))} {sys.executable}")
    for candidate in candidates(impl, version):
        try:
            run = subprocess.run([candidate, "-I", "-S", "-c", _PROBE], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            continue
        words = run.stdout.split()
        if run.returncode == 0 and len(words) == 4 and words[0] == impl and (int(words[1]), int(words[2])) == version:
            return WorkerCompiler(f"{impl} {'.'.join(words[1:])} {candidate}", candidate)
    return None


def _version_key(path: str) -> List[int]:
    import re

    return [int(n) for n in re.findall(r"\d+", path)]


def candidates(impl: str, version: Tuple[int, int]) -> List[str]:
    """Interpreters that may be ``impl`` ``version``: on PATH, then pyenv's, then uv's (newest first)."""
    major, minor = version
    stem = f"python{major}.{minor}" if impl == "cpython" else f"pypy{major}.{minor}"
    found = [p for p in [shutil.which(stem)] if p]
    pyenv = os.environ.get("PYENV_ROOT") or os.path.join(os.path.expanduser("~"), ".pyenv")
    uv = os.environ.get("UV_PYTHON_INSTALL_DIR") or os.path.join(
        os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share"), "uv", "python")
    prefix = f"{major}.{minor}." if impl == "cpython" else f"pypy{major}.{minor}"
    for pattern in (os.path.join(pyenv, "versions", f"{prefix}*", "bin", stem),
                    os.path.join(uv, f"{impl}-{major}.{minor}.*", "bin", stem)):
        found += sorted(glob.glob(pattern), key=_version_key, reverse=True)
    return list(dict.fromkeys(os.path.realpath(p) if os.path.islink(p) else p for p in found))
