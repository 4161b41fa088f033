"""Writing ``pylock.toml`` (PEP 751): the packages a resolve chose, each with the wheels of every platform it
was resolved for; ``[tool.pypush]`` records what it was resolved from, so a later build knows when it is stale."""
from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, List, Sequence

if TYPE_CHECKING:
    from pypush.pybuild.lock import Package


def _s(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(text, ensure_ascii=False)


def render_pylock(packages: Sequence["Package"], requires_python: str, inputs: str, targets: Sequence[str]) -> str:
    """The lock as text (stable: the same packages give the same bytes)."""
    lines: List[str] = ['lock-version = "1.0"', 'created-by = "pypush"']
    if requires_python:
        lines.append(f"requires-python = {_s(requires_python)}")
    lines.append("")
    for package in packages:
        lines += ["[[packages]]", f"name = {_s(package.name)}", f"version = {_s(package.version)}"]
        if package.marker:
            lines.append(f"marker = {_s(package.marker)}")
        if package.wheels:
            lines.append("wheels = [")
            for wheel in sorted(package.wheels, key=lambda w: w.filename):
                lines.append(f"  {{ name = {_s(wheel.filename)}, url = {_s(wheel.url)}, "
                             f"hashes = {{ sha256 = {_s(wheel.sha256)} }} }},")
            lines.append("]")
        if package.sdist is not None:
            lines.append(f"sdist = {{ name = {_s(package.sdist.filename)}, url = {_s(package.sdist.url)}, "
                         f"hashes = {{ sha256 = {_s(package.sdist.sha256)} }} }}")
        lines.append("")
    lines += ["[tool.pypush]", f"inputs = {_s(inputs)}",
              "targets = [" + ", ".join(_s(t) for t in sorted(targets)) + "]", ""]
    return "\n".join(lines)


def write_pylock(path: str, packages: Sequence["Package"], requires_python: str, inputs: str,
                 targets: Sequence[str]) -> None:
    """Write the lock atomically (temporary file, then rename)."""
    text = render_pylock(packages, requires_python, inputs, targets)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
