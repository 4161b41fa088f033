"""Installing wheels into a layer tree (image paths → bytes and mode) as an installer would, with PyPA
``installer``: ``*.dist-info`` with ``INSTALLER`` and a true ``RECORD`` (no ``direct_url.json``), console
scripts in the image's ``bin`` with the image's interpreter in the shebang, and ``.pyc`` files with
``checked-hash`` invalidation, by an interpreter of the target's version (:mod:`pypush.pybuild.bytecode`).
"""
from __future__ import annotations

import csv
import hashlib
import io
import pathlib
import posixpath
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from typing import TYPE_CHECKING, Any, BinaryIO, Dict, Iterable, List, Optional, Tuple

from pypush.errors import SourceError
from pypush.pybuild.bytecode import Compiler
from pypush.pybuild.target import Target

if TYPE_CHECKING:
    from installer.scripts import ScriptSection

FILE, EXEC = 0o644, 0o755
INSTALLER_NAME = b"pypush\n"


@dataclass
class Installed:
    """What one wheel put into the tree, for the SBOM."""

    name: str
    version: str
    license: str
    license_expression: Optional[str]
    files: int


@dataclass
class Tree:
    """Files of a layer by absolute image path."""

    files: Dict[str, Tuple[bytes, int]] = field(default_factory=dict)

    def put(self, path: str, data: bytes, mode: int, what: str) -> None:
        if path in self.files and self.files[path][0] != data:
            raise SourceError(f"{what}: {path} is also written by another distribution with other content")
        self.files[path] = (data, mode)


def _b64_sha256(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


class _Destination:
    """An ``installer`` destination writing into a Tree."""

    def __init__(self, tree: Tree, target: Target, compiler: Optional[Compiler], what: str):
        major, minor = target.python_version
        self.tree, self.target, self.compiler, self.what = tree, target, compiler, what
        lib = f"{target.prefix}/include/{'python' if target.implementation == 'cp' else 'pypy'}{major}.{minor}"
        self.roots = {"purelib": target.site_dir, "platlib": target.site_dir, "scripts": target.bin_dir,
                      "data": target.prefix, "headers": lib}

    def _path(self, scheme: str, path: str) -> str:
        full = posixpath.normpath(posixpath.join(self.roots[scheme], path))
        if not full.startswith(self.roots[scheme].rstrip("/") + "/") and scheme != "data":
            raise SourceError(f"{self.what}: {path} escapes its {scheme} directory")
        if not full.startswith("/") or full.startswith("/.."):
            raise SourceError(f"{self.what}: {path} escapes the image root")
        return full

    def _record(self, full: str, data: bytes) -> Any:
        from installer.records import Hash, RecordEntry

        return RecordEntry(posixpath.relpath(full, self.target.site_dir), Hash("sha256", _b64_sha256(data)), len(data))

    def write_script(self, name: str, module: str, attr: str, section: ScriptSection) -> Any:
        from installer.scripts import Script

        _, data = Script(name, module, attr, section).generate(self.target.interpreter, "posix")
        full = self._path("scripts", name)
        self.tree.put(full, data, EXEC, self.what)
        return self._record(full, data)

    def write_file(self, scheme: str, path: str, stream: BinaryIO, is_executable: bool) -> Any:
        data = stream.read()
        if scheme == "scripts" and data.startswith(b"#!python"):  # the wheel spec's placeholder shebang
            first, _, rest = data.partition(b"\n")
            data = b"#!" + self.target.interpreter.encode() + first[len(b"#!python"):].lstrip(b"w") + b"\n" + rest
            is_executable = True
        full = self._path(str(scheme), str(path))
        self.tree.put(full, data, EXEC if is_executable else FILE, self.what)
        return self._record(full, data)

    def finalize_installation(self, scheme: str, record_file_path: str, records: Iterable[Tuple[str, Any]]) -> None:
        rows = []
        for _, record in records:
            row = list(record.to_row())
            rows.append(row)
            full = posixpath.normpath(posixpath.join(self.target.site_dir, record.path))
            if self.compiler and full.endswith(".py") and full.startswith(self.target.site_dir + "/"):
                data = self.compiler.compile(self.tree.files[full][0], full)
                if data is not None:
                    directory, module = posixpath.split(full)
                    name = f"{directory}/__pycache__/{module[:-3]}.{self.target.cache_tag}.pyc"
                    self.tree.put(name, data, FILE, self.what)
                    rows.append(list(self._record(name, data).to_row()))
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(sorted(rows))
        full = self._path(str(scheme), record_file_path)
        self.tree.put(full, out.getvalue().encode(), FILE, self.what)


def install_wheel(tree: Tree, wheel_path: str, target: Target, compiler: Optional[Compiler]) -> Installed:
    """Install one wheel into ``tree`` for ``target``; returns its name, version and license."""
    from installer import install
    from installer.exceptions import InstallerError
    from installer.sources import WheelFile

    what = posixpath.basename(wheel_path)
    try:
        with WheelFile.open(pathlib.Path(wheel_path)) as source:
            source.validate_record()
            metadata = source.read_dist_info("METADATA")
            before = len(tree.files)
            install(source, _Destination(tree, target, compiler, what),  # type: ignore[arg-type]
                    additional_metadata={"INSTALLER": INSTALLER_NAME})
    except (InstallerError, ValueError, KeyError, OSError) as e:
        raise SourceError(f"{what}: not an installable wheel ({e})") from None
    headers = BytesHeaderParser().parsebytes(metadata.encode() if isinstance(metadata, str) else metadata)
    license_text = headers.get("License", "") or ""
    classifiers = [c[len("License :: "):] for c in headers.get_all("Classifier") or [] if c.startswith("License :: ")]
    return Installed(headers.get("Name", ""), headers.get("Version", ""),
                     license_text.strip() or "; ".join(classifiers), headers.get("License-Expression"),
                     len(tree.files) - before)


def layer_bytes(tree: Tree) -> List[Tuple[str, bytes, int]]:
    """(path, bytes, mode) of every file, sorted (what a layer recipe takes)."""
    return [(path, data, mode) for path, (data, mode) in sorted(tree.files.items())]
