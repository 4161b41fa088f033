"""What a base image offers a Python project, read from its config and its layers' tar headers (nothing is
unpacked): the interpreter ``python3`` on its PATH resolves to, its version and implementation, the site
directory and ``bin`` a wheel installs into, the C library (glibc or musl, with its version) and the
architecture. The result of one base manifest is cached by its digest (the layers are read once).
"""
from __future__ import annotations

import json
import os
import posixpath
import re
import tarfile
from dataclasses import asdict, dataclass, field
from typing import IO, Any, Dict, Mapping, Optional, Tuple

from pypush.errors import SourceError

MACHINES = {"amd64": "x86_64", "arm64": "aarch64", "386": "i686", "ppc64le": "ppc64le", "s390x": "s390x",
            "riscv64": "riscv64", "arm": "armv7l"}
_STDLIB = re.compile(r"^(.*)/lib/(python|pypy)(3\.\d+)/os\.py$")
_GLIBC_NAME = re.compile(r"(?:^|/)libc-2\.(\d+)\.so$")
_GLIBC_SYMBOL = re.compile(rb"GLIBC_2\.(\d+)")
_MUSL_DB = re.compile(r"^P:musl\nV:(\d+)\.(\d+)", re.M)
_SMALL_FILES = ("var/lib/dpkg/status", "lib/apk/db/installed", "usr/lib/apk/db/installed")
_CACHE_FORMAT = 2


@dataclass(frozen=True)
class Target:
    """One platform of a base, as an installer sees it."""

    os: str
    architecture: str
    variant: str
    implementation: str  # "cp" or "pp"
    python_version: Tuple[int, int]
    python_full_version: str
    interpreter: str  # absolute path of python3 in the image (shebangs)
    site_dir: str  # absolute: where purelib and platlib go
    bin_dir: str
    prefix: str  # data / headers go under it
    libc: str  # "glibc" or "musl"
    libc_version: Tuple[int, int]
    env_path: str = ""  # the config's PATH (kept)

    @property
    def platform(self) -> str:
        """``linux/arm64`` (with ``/variant`` when the base names one)."""
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    @property
    def machine(self) -> str:
        """The machine name wheels use (``x86_64``, ``aarch64``)."""
        return MACHINES.get(self.architecture, self.architecture)

    @property
    def cache_tag(self) -> str:
        """``cpython-311`` / ``pypy310``: the ``__pycache__`` name part."""
        major, minor = self.python_version
        return f"cpython-{major}{minor}" if self.implementation == "cp" else f"pypy{major}{minor}"

    def describe(self) -> str:
        """``linux/amd64: CPython 3.11 (glibc 2.36) at /usr/bin/python3``."""
        impl = "CPython" if self.implementation == "cp" else "PyPy"
        return (f"{self.platform}: {impl} {self.python_full_version} ({self.libc} "
                f"{'.'.join(map(str, self.libc_version))}) at {self.interpreter}")

    def to_json(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "Target":
        values = dict(doc)
        values["python_version"] = tuple(values["python_version"])
        values["libc_version"] = tuple(values["libc_version"])
        return cls(**values)


@dataclass
class _Index:
    """The merged file system of a base's layers: path → ("file"|"dir"|"link", link target)."""

    entries: Dict[str, Tuple[str, str]] = field(default_factory=dict)
    contents: Dict[str, bytes] = field(default_factory=dict)
    glibc_minor: int = -1

    def whiteout(self, name: str) -> None:
        parent, base = posixpath.split(name)
        if base == ".wh..wh..opq":
            gone = [p for p in self.entries if p.startswith(parent + "/")]
        else:
            victim = posixpath.join(parent, base[4:])
            gone = [p for p in self.entries if p == victim or p.startswith(victim + "/")]
        for p in gone:
            del self.entries[p]

    def resolve(self, path: str, hops: int = 0) -> Optional[str]:
        """``path`` (relative, no leading /) with every symlink followed, or None when it does not exist."""
        parts = [p for p in path.split("/") if p]
        done = ""
        for i, part in enumerate(parts):
            here = posixpath.join(done, part) if done else part
            entry = self.entries.get(here)
            if entry is None or hops > 40:
                return None
            if entry[0] == "link":
                target = entry[1]
                base = "" if target.startswith("/") else done
                rest = "/".join(parts[i + 1:])
                joined = posixpath.normpath(posixpath.join("/", base, target, rest)).lstrip("/")
                return self.resolve(joined, hops + 1)
            done = here
        return done


def _read_layer(index: _Index, stream: IO[bytes], name: str) -> None:
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                path = posixpath.normpath(member.name.lstrip("./")).lstrip("/") if member.name not in (".", "./") else ""
                if not path or path == ".":
                    continue
                if posixpath.basename(path).startswith(".wh."):
                    index.whiteout(path)
                    continue
                if member.issym():
                    index.entries[path] = ("link", member.linkname)
                elif member.islnk():
                    index.entries[path] = ("file", "")
                elif member.isdir():
                    index.entries[path] = ("dir", "")
                else:
                    index.entries[path] = ("file", "")
                if member.isreg() and (path in _SMALL_FILES or posixpath.basename(path).startswith("libc.so.6")):
                    data = tar.extractfile(member)
                    if data is not None:
                        blob = data.read()
                        if path in _SMALL_FILES:
                            index.contents[path] = blob
                        else:
                            index.glibc_minor = max([index.glibc_minor] + [int(m) for m in _GLIBC_SYMBOL.findall(blob)])
                match = _GLIBC_NAME.search(path)
                if match:
                    index.glibc_minor = max(index.glibc_minor, int(match.group(1)))
    except (tarfile.TarError, EOFError, OSError) as e:
        raise SourceError(f"{name}: not a readable layer tar ({e})") from None


def _open_plain(blob: Any) -> IO[bytes]:
    from pypush.sources.compressed_archive import sniff
    from pypush.transform.compress import decompressing_reader

    raw = blob.open()
    head = raw.read(8) if hasattr(raw, "read") else b""
    try:
        raw.seek(0)
    except (AttributeError, OSError, ValueError):
        raw.close()
        raw = blob.open()
    kind = sniff(head)
    return decompressing_reader(raw, kind) if kind in ("gzip", "zstd") else raw


def detect(manifest: Any, config: Mapping[str, Any], cache_dir: Optional[str] = None) -> Target:
    """The Target of one base image (a pypush ImageManifest and its parsed config); SourceError when it has
    no Python. Cached under ``cache_dir`` by the manifest digest."""
    cache_file = None
    if cache_dir:
        digest = manifest.descriptor.digest.replace(":", "-")
        cache_file = os.path.join(cache_dir, "targets", f"{digest}.v{_CACHE_FORMAT}.json")
        try:
            with open(cache_file, encoding="utf-8") as f:
                return Target.from_json(json.load(f))
        except (OSError, ValueError, TypeError, KeyError):
            pass
    index = _Index()
    for blob in manifest.layers:
        with _open_plain(blob) as stream:
            _read_layer(index, stream, blob.name or blob.descriptor.digest)
    target = _target(index, config)
    if cache_file:
        os.makedirs(os.path.dirname(cache_file), exist_ok=True)
        tmp = f"{cache_file}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(target.to_json(), f)
        os.replace(tmp, cache_file)
    return target


def _env(config: Mapping[str, Any]) -> Dict[str, str]:
    inner = config.get("config") or {}
    pairs = [str(e).partition("=") for e in inner.get("Env") or []]
    return {k: v for k, _, v in pairs}


def _target(index: _Index, config: Mapping[str, Any]) -> Target:
    env = _env(config)
    where = f"{config.get('os', '?')}/{config.get('architecture', '?')}"
    path = env.get("PATH") or "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    interpreter = real = None
    for directory in path.split(":"):
        for name in ("python3", "pypy3"):
            candidate = posixpath.join(directory, name)
            resolved = index.resolve(candidate.lstrip("/"))
            if resolved and index.entries.get(resolved, ("",))[0] == "file":
                interpreter, real = candidate, resolved
                break
        if interpreter:
            break
    if interpreter is None or real is None:
        raise SourceError(f"the base ({where}) has no Python: no python3 on its PATH ({path})")
    stdlibs = {m.group(1).lstrip("/"): (m.group(2), m.group(3)) for p in index.entries
               for m in [_STDLIB.match("/" + p)] if m}
    prefix = posixpath.dirname(posixpath.dirname(real))  # usr/bin/python3.11 -> usr
    name = posixpath.basename(real)
    found = stdlibs.get(prefix)
    if found is None:
        match = re.match(r"(python|pypy)(3\.\d+)", name)
        found = next(((k, v) for k, v in stdlibs.values() if match and (k, v) == match.groups()), None)
    if found is None:
        raise SourceError(f"the base ({where}) has {interpreter} but no standard library for it (no lib/python3.X/os.py)")
    kind, version = found
    major, minor = (int(x) for x in version.split("."))
    impl = "pp" if kind == "pypy" or name.startswith("pypy") else "cp"
    site, bin_dir, data_prefix = _scheme(index, env, interpreter, prefix, kind, version)
    libc, libc_version = _libc(index, config.get("architecture", ""), where)
    return Target(os=config.get("os", "linux"), architecture=config.get("architecture", ""),
                  variant=config.get("variant", ""), implementation=impl, python_version=(major, minor),
                  python_full_version=_full_version(index, env, version), interpreter=interpreter,
                  site_dir=site, bin_dir=bin_dir, prefix=data_prefix, libc=libc, libc_version=libc_version,
                  env_path=path)


def _scheme(index: _Index, env: Mapping[str, str], interpreter: str, prefix: str, kind: str,
            version: str) -> Tuple[str, str, str]:
    """(site dir, bin dir, data prefix): a venv's own, Debian's /usr/local dist-packages, else the prefix's."""
    venv = posixpath.dirname(posixpath.dirname(interpreter))
    if (venv.lstrip("/") + "/pyvenv.cfg") in index.entries:
        return f"{venv}/lib/{kind}{version}/site-packages", f"{venv}/bin", venv
    if f"usr/lib/{kind}3/dist-packages" in index.entries or prefix == "usr" and "usr/lib/python3/dist-packages" in index.entries:
        return f"/usr/local/lib/{kind}{version}/dist-packages", "/usr/local/bin", "/usr/local"
    return f"/{prefix}/lib/{kind}{version}/site-packages", f"/{prefix}/bin", f"/{prefix}"


def _full_version(index: _Index, env: Mapping[str, str], version: str) -> str:
    if env.get("PYTHON_VERSION", "").startswith(version + "."):
        return env["PYTHON_VERSION"]
    status = index.contents.get("var/lib/dpkg/status", b"").decode("utf-8", "replace")
    match = re.search(rf"^Package: python{re.escape(version)}-minimal\n(?:.+\n)*?Version: ({re.escape(version)}\.\d+)",
                      status, re.M)
    return match.group(1) if match else f"{version}.0"


def _libc(index: _Index, architecture: str, where: str) -> Tuple[str, Tuple[int, int]]:
    if any(p.startswith("lib/ld-musl-") for p in index.entries):
        db = (index.contents.get("lib/apk/db/installed") or index.contents.get("usr/lib/apk/db/installed") or b"")
        match = _MUSL_DB.search(db.decode("utf-8", "replace"))
        return "musl", (int(match.group(1)), int(match.group(2))) if match else (1, 1)
    if index.glibc_minor >= 0:
        return "glibc", (2, index.glibc_minor)
    raise SourceError(f"the base ({where}) has neither glibc (libc.so.6) nor musl (ld-musl-*): "
                      f"binary wheels cannot be chosen for it")
