"""Layers point one way (STYLE.md habit 8). Walks every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "gpufleet"

# package -> the gpufleet packages it may import (besides itself and errors)
ALLOWED = {
    "domain": set(),
    "state": {"domain"},
    "policies": {"domain", "state"},
    "engine": {"domain", "state", "policies"},
    "workload": {"domain"},
    "scenario": {"domain", "workload", "policies", "traces"},
    "traces": {"domain"},
    "sim": {"domain", "state", "policies", "engine", "workload"},
    "report": {"sim", "domain"},
    "store": {"domain"},
    "auth": {"store"},
    "register": {"store", "scenario", "domain"},
    "governance": {"store", "register", "auth", "whatif", "scenario", "domain", "sim"},
}
# the service is the outermost ring but for the CLI: it may import every package
ALLOWED["service"] = {
    *ALLOWED,
    *(p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()),
} - {"service"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m.split(".")[1] for m in out if m.startswith("gpufleet.") and m.count(".") >= 1}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_inner_layers(package: str) -> None:
    for path in sorted((SRC / package).rglob("*.py")):
        bad = imports_of(path) - ALLOWED[package] - {package, "errors"}
        assert not bad, f"{path.relative_to(SRC)} imports {sorted(bad)}"


def test_nothing_prints_outside_the_cli() -> None:
    for path in sorted(SRC.rglob("*.py")):
        if path.name.startswith("cli"):
            continue
        calls = [
            n
            for n in ast.walk(ast.parse(path.read_text()))
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "print"
        ]
        assert not calls, f"{path.relative_to(SRC)} calls print"
