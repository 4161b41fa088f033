"""The machine an ELF file is built for (``e_machine`` of its header), to keep one platform's layer free of
another machine's binaries."""
from __future__ import annotations

import struct
from typing import Dict, Iterable, List, Optional, Tuple

ELF_MACHINES: Dict[int, str] = {3: "386", 62: "amd64", 183: "arm64", 40: "arm", 21: "ppc64le", 22: "s390x",
                                243: "riscv64"}


def elf_architecture(head: bytes) -> Optional[str]:
    """The OCI architecture of an ELF file from its first 20 bytes (``amd64``, ``arm64``, …; ``machine-N`` for
    others), None when ``head`` is not an ELF header."""
    if len(head) < 20 or head[:4] != b"\x7fELF" or head[5] not in (1, 2):
        return None
    machine = struct.unpack("<H" if head[5] == 1 else ">H", head[18:20])[0]
    return ELF_MACHINES.get(machine, f"machine-{machine}")


def foreign_binaries(files: Iterable[Tuple[str, bytes]], architecture: str) -> List[Tuple[str, str]]:
    """(path, its architecture) of each ELF file among ``files`` (path, first bytes) built for another
    architecture than ``architecture``."""
    out = []
    for path, head in files:
        arch = elf_architecture(head)
        if arch is not None and arch != architecture:
            out.append((path, arch))
    return out


def layer_architectures(path: str) -> List[Tuple[str, str]]:
    """(member name, architecture) of every ELF file in the layer tar at ``path`` (plain, gzip or zstd)."""
    import tarfile

    from pypush.sources.compressed_archive import sniff
    from pypush.transform.compress import decompressing_reader

    out = []
    with open(path, "rb") as raw:
        kind = sniff(raw.read(8))
        raw.seek(0)
        stream = decompressing_reader(raw, kind) if kind in ("gzip", "zstd") else raw
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                if member.isreg() and member.size >= 20:
                    f = tar.extractfile(member)
                    arch = elf_architecture(f.read(20)) if f is not None else None
                    if arch is not None:
                        out.append((member.name, arch))
    return out


def check_layer(path: str, what: str, platform: str, architecture: str, allow: bool) -> None:
    """Refuse (SourceError), or with ``allow`` only log, a layer for ``platform`` holding another machine's ELF
    files."""
    import logging

    from pypush.errors import SourceError

    found = [(name, arch) for name, arch in layer_architectures(path) if arch != architecture]
    if not found:
        return
    message = (f"{what} for {platform} holds {len(found)} ELF file(s) for another machine, e.g. /{found[0][0]} "
               f"({found[0][1]})")
    if not allow:
        raise SourceError(message + " (--allow-foreign-binaries to add them anyway)")
    logging.getLogger("pypush").warning("%s", message)
