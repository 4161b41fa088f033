"""The package's import graph, read from the source: no import cycle between modules, and every import
between top-level packages points down the documented layers (docs/architecture.md)."""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set

from conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "pypush"
LAYERS = ["errors", "b64", "apimodels", "name", "net", "image", "transform", "transports", "sources", "engine",
          "api", "assemble", "pybuild", "ecrpublic", "server", "cli", "__main__"]
"""Bottom to top: a package may import only the packages before it (and itself). ``pypush/__init__`` is the top."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: Set[str]) -> Set[str]:
    """The pypush modules ``path`` imports (``from pypush import x`` names the module pypush.x when it is one)."""
    out: Set[str] = set()
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("pypush"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if not base.startswith("pypush"):
                continue
            for alias in node.names:
                if base == "pypush" and alias.name == "__version__":
                    continue  # the version number, a constant every layer may print
                out.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return out - {me}


def graph() -> Dict[str, Set[str]]:
    files = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(p) for p in files}
    return {module_name(p): imports_of(p, modules) & modules for p in files}


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "pypush"


def test_every_top_level_package_has_a_layer() -> None:
    unplaced = {layer_of(m) for m in graph()} - set(LAYERS) - {"pypush"}
    assert not unplaced, f"add these packages to LAYERS (and docs/architecture.md): {sorted(unplaced)}"


def test_imports_point_down_the_layers() -> None:
    upward: List[str] = []
    for module, targets in graph().items():
        mine = layer_of(module)
        if mine == "pypush":
            continue
        for target in targets:
            theirs = layer_of(target)
            if theirs == "pypush" or (theirs != mine and LAYERS.index(theirs) > LAYERS.index(mine)):
                upward.append(f"{module} -> {target}")
    assert not upward, "upward imports:\n" + "\n".join(sorted(upward))


def test_no_import_cycles() -> None:
    edges = graph()
    cycles: List[str] = []
    state: Dict[str, int] = {}
    stack: List[str] = []

    def visit(node: str) -> None:  # depth-first search; state 1 = on the stack, 2 = done
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles (imports inside functions count too):\n" + "\n".join(cycles)
