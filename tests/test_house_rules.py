"""The package's house rules: no ctypes, unique module names, process-wide tricks only in the console
entry point, ``import pypush.__main__`` runs nothing."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "pypush"


def _modules():
    return [p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts]


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_no_module_imports_ctypes():
    users = [str(p.relative_to(REPO_ROOT)) for p in _modules()
             if any(name.split(".")[0] == "ctypes" for name in _imports(p))]
    assert users == []


def test_os_exit_and_the_charset_deferral_live_only_in_the_console_entry_points():
    offenders = []
    for path in _modules():
        text = path.read_text(encoding="utf-8")
        rel = str(path.relative_to(REPO_ROOT)).replace("\\", "/")
        if rel in ("pypush/cli/main.py", "pypush/cli/lazy_charset.py"):
            continue
        if rel == "pypush/process.py":  # exit_now, which the two console entry points end with
            text = text.replace("os._exit(", "")
        if "os._exit(" in text or "lazy_charset" in text or "mallopt" in text:
            offenders.append(rel)
    assert offenders == []


LIBRARY_USE = """
import sys
import pypush, pypush.__main__, pypush.cli.main
from pypush import push, PushOptions, ECRPublic
assert "charset_normalizer" not in sys.modules or type(sys.modules["charset_normalizer"]).__name__ == "module"
import requests  # the host program's own import gets the real package (none before requests 2.26)
assert type(sys.modules.get("charset_normalizer", sys)).__name__ == "module"
print("still running")
"""


def test_importing_pypush_as_a_library_runs_no_cli_and_leaves_the_process_alone():
    proc = subprocess.run([sys.executable, "-c", LIBRARY_USE], capture_output=True, text=True, timeout=60,
                          cwd=str(REPO_ROOT))
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "still running\n", "")


def test_python_dash_m_pypush_is_the_cli():
    proc = subprocess.run([sys.executable, "-m", "pypush", "--version"], capture_output=True, text=True, timeout=60,
                          cwd=str(REPO_ROOT))
    assert proc.returncode == 0 and proc.stdout.startswith("pypush ")


def test_public_names_are_typed_for_type_checkers():
    """py.typed ships, and every name in ``pypush.__all__`` is bound statically (top level or under
    TYPE_CHECKING, never only through the module ``__getattr__``) to the object the lazy import returns."""
    import importlib

    import pypush

    assert (PACKAGE / "py.typed").is_file()
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    static = {}
    for node in tree.body:
        body = node.body if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING" else [node]
        for stmt in body:
            if isinstance(stmt, ast.ImportFrom):
                static.update({alias.asname or alias.name: stmt.module for alias in stmt.names})
            elif isinstance(stmt, ast.Assign):
                static.update({t.id: None for t in stmt.targets if isinstance(t, ast.Name)})
    for name in pypush.__all__:
        assert name in static, f"{name} is not visible to type checkers"
        if static[name] is not None:
            assert getattr(pypush, name) is getattr(importlib.import_module(static[name]), name), name


def test_the_api_is_thin_wrappers():
    """pypush/api.py decides nothing: no transport choice, no branching on source or destination kinds
    (pypush.engine.copy is the one place a copy is decided)."""


    tree = ast.parse((REPO_ROOT / "pypush" / "api.py").read_text(encoding="utf-8"))
    branches = [n.lineno for n in ast.walk(tree) if isinstance(n, (ast.If, ast.IfExp, ast.For, ast.While, ast.Try))
                and not (isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING")]
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | {
        n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert branches == [], f"api.py branches at lines {branches}"
    assert not names & {"Transport", "EcrTransport", "RegistryTransport", "LayoutTransport", "open_transport",
                        "REGISTRY_V2", "ECR_PUBLIC", "ECR_PRIVATE", "kind", "startswith"}


def test_each_name_pattern_is_written_once():
    """Tags, digests, repository names, ECR hosts and Docker Hub's names are defined in pypush/name/patterns.py
    and nowhere else in the package."""
    fragments = {"[A-Za-z0-9_][A-Za-z0-9_.-]": "tag", "[A-Za-z0-9_][A-Za-z0-9._-]": "tag",
                 "sha256:[a-f0-9]{64}": "digest", "sha256:[0-9a-f]{64}": "digest", "[a-f0-9]{128}": "sha512 digest",
                 "(?:[._]|__|-+)": "repository name", r"dkr\.ecr": "ECR host", "registry-1.docker.io": "Docker Hub",
                 "index.docker.io\"": "Docker Hub", "registry.hub.docker.com": "Docker Hub"}
    offenders = []
    for path in _modules():
        rel = str(path.relative_to(REPO_ROOT)).replace("\\", "/")
        if rel == "pypush/name/patterns.py":
            continue
        text = path.read_text(encoding="utf-8")
        offenders += [f"{rel}: {what} ({fragment})" for fragment, what in fragments.items() if fragment in text]
    assert offenders == []


def test_only_the_version_is_imported_from_the_root_package():
    """Modules of the package never import pypush/__init__ (the lazy public names) except its __version__."""


    offenders = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "pypush" and node.level == 0:
                offenders += [f"{path.name}: {a.name}" for a in node.names
                              if a.name != "__version__" and not (PACKAGE / a.name).exists()
                              and not (PACKAGE / f"{a.name}.py").exists()]
    assert offenders == []
