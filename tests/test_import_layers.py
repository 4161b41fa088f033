"""The package's import graph, read from the source: no import cycle between modules, and every import
between top-level packages points down the documented layers (docs/architecture.md)."""
from __future__ import annotations

from typing import List

from import_graph import cycles, import_graph

LAYERS = ["errors", "process", "b64", "cache_dir", "apimodels", "name", "net", "image", "transform", "transports", "sources", "engine",
          "api", "assemble", "pybuild", "ecrpublic", "server", "cli", "__main__"]
"""Bottom to top: a package may import only the packages before it (and itself). ``pypush/__init__`` is the top."""


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "pypush"


def test_every_top_level_package_has_a_layer() -> None:
    unplaced = {layer_of(m) for m in import_graph()} - set(LAYERS) - {"pypush"}
    assert not unplaced, f"add these packages to LAYERS (and docs/architecture.md): {sorted(unplaced)}"


def test_imports_point_down_the_layers() -> None:
    upward: List[str] = []
    for module, targets in import_graph().items():
        mine = layer_of(module)
        if mine == "pypush":
            continue
        for target in targets:
            theirs = layer_of(target)
            # the root package: only its __version__ is imported from within (test_house_rules checks that)
            if theirs != "pypush" and theirs != mine and LAYERS.index(theirs) > LAYERS.index(mine):
                upward.append(f"{module} -> {target}")
    assert not upward, "upward imports:\n" + "\n".join(sorted(upward))


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == [], "import cycles (imports inside functions count too)"


def test_the_cycle_finder_finds_cycles_and_only_cycles() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
