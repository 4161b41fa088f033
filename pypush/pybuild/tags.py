"""Wheel tags a Target accepts, best first (``packaging.tags`` for the interpreter part; the platform part
spelled out here, since packaging reads only the running machine's C library), and the environment its
markers are evaluated in."""
from __future__ import annotations

from typing import Any, Dict, List

from pypush.pybuild.target import Target

_OLDEST_GLIBC = {"x86_64": 5, "i686": 5}  # manylinux1; every other machine starts at manylinux2014
_LEGACY = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}


def platform_tags(target: Target) -> List[str]:
    """``manylinux_2_36_x86_64`` … ``manylinux1_x86_64`` (glibc) or ``musllinux_1_2_…`` (musl), newest first.
    ``linux_*`` is left out: such a wheel only promises to run where it was built."""
    machine = target.machine
    major, minor = target.libc_version
    out: List[str] = []
    if target.libc == "musl":
        return [f"musllinux_{major}_{m}_{machine}" for m in range(minor, -1, -1)]
    for m in range(minor, _OLDEST_GLIBC.get(machine, 17) - 1, -1):
        out.append(f"manylinux_{major}_{m}_{machine}")
        legacy = _LEGACY.get(m)
        if legacy and (m == 17 or machine in ("x86_64", "i686")):
            out.append(f"{legacy}_{machine}")
    return out


def wheel_tags(target: Target) -> List[str]:
    """Every ``py-abi-platform`` tag the target's interpreter accepts, best first."""
    from packaging import tags

    platforms = platform_tags(target)
    version = target.python_version
    if target.implementation == "cp":
        found = list(tags.cpython_tags(version, platforms=platforms))
    else:
        interpreter = f"pp{version[0]}{version[1]}"
        found = list(tags.generic_tags(interpreter, [f"pypy{version[0]}{version[1]}_pp73", "none"], platforms))
    found += list(tags.compatible_tags(version, f"{target.implementation}{version[0]}{version[1]}", platforms))
    return [str(t) for t in found]


def marker_environment(target: Target) -> Dict[str, Any]:
    """The PEP 508 marker variables of the target."""
    impl = "cpython" if target.implementation == "cp" else "pypy"
    return {"implementation_name": impl, "implementation_version": target.python_full_version,
            "os_name": "posix", "platform_machine": target.machine, "platform_release": "",
            "platform_system": "Linux", "platform_version": "",
            "python_full_version": target.python_full_version,
            "platform_python_implementation": "CPython" if impl == "cpython" else "PyPy",
            "python_version": "%d.%d" % target.python_version, "sys_platform": "linux"}


def abis(target: Target) -> List[str]:
    """The ABI tags pip's ``--abi`` takes for the target."""
    major, minor = target.python_version
    if target.implementation == "cp":
        return [f"cp{major}{minor}", "abi3", "none"]
    return [f"pypy{major}{minor}_pp73", "none"]
