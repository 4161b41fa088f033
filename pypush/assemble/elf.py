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
