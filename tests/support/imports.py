"""The package's import graph, read from the source with ``ast`` (nothing is imported)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "gpufleet"


def module_name(path: Path) -> str:
    """``src/gpufleet/policies/kai/policy.py`` -> ``policies.kai.policy`` ("" for the root)."""
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """The gpufleet modules a file imports, at module level or inside functions, as names
    relative to ``gpufleet`` ("" is the package itself). ``from gpufleet.a import b`` counts
    as ``a.b`` when that is a module, else as ``a``."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module != "gpufleet" and not node.module.startswith("gpufleet."):
                continue
            base = node.module.removeprefix("gpufleet").removeprefix(".")
            for alias in node.names:
                full = f"{base}.{alias.name}" if base else alias.name
                out.add(full if full in known else base)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "gpufleet" or alias.name.startswith("gpufleet."):
                    out.add(alias.name.removeprefix("gpufleet").removeprefix("."))
    return out


def imports_of(path: Path) -> set[str]:
    """The top-level gpufleet packages or modules a file imports (``policies``, ``errors``)."""
    return {m.split(".")[0] for m in imported_modules(path, set(all_modules())) if m}
