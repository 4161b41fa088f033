"""The server's parts import only downward (the layers its package docstring documents), and the rest of
pypush reaches the server only through its entry points."""
from __future__ import annotations

from typing import Dict

from import_graph import cycles, import_graph

SERVER_LAYERS: Dict[str, int] = {
    "store": 0,
    "settings": 1, "reply": 1, "credentials": 1, "http_body": 1, "seed_files": 1,
    "aws": 2, "gallery": 2,
    "registry": 3,
    "app": 4,
    "endpoint": 5,
    "command": 6, "__init__": 6,
    "__main__": 7,
}
"""pypush.server's parts by layer: a part may import its own modules and those of lower layers only."""


def _server_part(module: str) -> str:
    rest = module.split(".")[2:]  # pypush.server.<part>...
    return rest[0] if rest else "__init__"


def test_cycles_finds_a_cycle_and_only_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


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
