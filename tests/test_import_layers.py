"""The import graph of the package, read from the source (ast, imports inside functions included): no
cycle among modules, and the server's parts import only downward (the layers its package docstring
documents)."""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set

from conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "pypush"

SERVER_LAYERS: Dict[str, int] = {
    "store": 0,
    "settings": 1, "reply": 1, "credentials": 1, "http_body": 1,
    "aws": 2, "gallery": 2,
    "registry": 3,
    "app": 4,
    "endpoint": 5,
    "command": 6, "__init__": 6,
    "__main__": 7,
}
"""pypush.server's parts by layer: a part may import its own modules and those of lower layers only."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> Dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}


def import_graph() -> Dict[str, Set[str]]:
    """module -> the package modules it imports (``from pkg import sub`` counts as ``pkg.sub``)."""
    modules = _modules()
    graph: Dict[str, Set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: Set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.add(sub if sub in modules else base)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []

    def visit(v: str) -> None:  # recursion depth is bounded by the package's size
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _server_part(module: str) -> str:
    rest = module.split(".")[2:]  # pypush.server.<part>...
    return rest[0] if rest else "__init__"


def test_cycles_finds_a_cycle_and_only_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


KNOWN_CYCLES = [
    ["pypush.cli.build_commands", "pypush.cli.main"],  # issue 22, the CLI part
    ["pypush.sources", "pypush.sources.remote"],  # issue 22, the v2 client/source/destination split
]
"""Cycles other parts of issue 22 are removing: delete each line with its fix."""


def test_the_package_has_no_new_import_cycle():
    assert [c for c in cycles(import_graph()) if c not in KNOWN_CYCLES] == []


def test_every_server_module_belongs_to_a_layer():
    server = [m for m in import_graph() if m.startswith("pypush.server")]
    assert "pypush.server.aws.table" in server and "pypush.server.store.store" in server
    assert sorted(m for m in server if _server_part(m) not in SERVER_LAYERS) == []


def test_server_parts_import_only_downward():
    upward = []
    for module, targets in import_graph().items():
        if not module.startswith("pypush.server"):
            continue
        part = _server_part(module)
        for target in targets:
            if target.startswith("pypush.server") and _server_part(target) != part \
                    and SERVER_LAYERS[_server_part(target)] >= SERVER_LAYERS[part]:
                upward.append(f"{module} -> {target}")
    assert sorted(upward) == []


def test_outside_the_server_only_its_entry_points_are_imported():
    """The rest of pypush reaches the server through ``pypush.server`` (LocalEndpoint, FaultPlan) or the
    `serve` command, never through one of its parts."""
    reached = {f"{m} -> {t}" for m, targets in import_graph().items() if not m.startswith("pypush.server")
               for t in targets if t.startswith("pypush.server") and t not in ("pypush.server", "pypush.server.command")}
    assert reached == set()
