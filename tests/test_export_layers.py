"""The plan and export packages sit where STYLE.md habit 8 puts them: the plan replays the
timeline with the simulator's own pieces; exports see only the plan and the domain; nothing
inside imports either of them."""

from __future__ import annotations

import pytest

from tests.test_layers import SRC, imports_of

ALLOWED = {
    "plan": {"domain", "state", "policies", "engine", "sim"},
    "export": {"plan", "domain"},
}
INNER = ["domain", "state", "policies", "engine", "workload", "scenario", "sim", "report"]


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_plan_and_export_import_only_inner_layers(package: str) -> None:
    for path in sorted((SRC / package).rglob("*.py")):
        bad = imports_of(path) - ALLOWED[package] - {package, "errors"}
        assert not bad, f"{path.relative_to(SRC)} imports {sorted(bad)}"


@pytest.mark.parametrize("package", INNER)
def test_no_inner_layer_imports_the_plan_or_the_exports(package: str) -> None:
    for path in sorted((SRC / package).rglob("*.py")):
        assert not imports_of(path) & {"plan", "export"}, path.relative_to(SRC)
