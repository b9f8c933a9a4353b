"""Layers point one way (STYLE.md habit 8): the whole package's map, checked on every module.

The rings, innermost first (README, "Architecture"); a unit may import only the units
its entry in ``ALLOWED`` names, every one of them on an inner ring, plus ``errors``,
``registry`` and ``extras`` (ring 0). A name without a dot (``inputs``) stands for every
unit under it.
Every module belongs to a unit, so a new package must be placed on the map before its
first test run; and no two modules import each other, however indirectly, at module level
or inside a function (an import hidden in a function is still a cycle).
"""

from __future__ import annotations

import ast

import pytest

from tests.support.imports import SRC, all_modules, imported_modules, module_name

# the rings, innermost first; a unit's imports must all sit on an earlier ring
RINGS: list[list[str]] = [
    ["errors", "registry", "extras", "gcpause"],
    ["domain"],
    ["state"],
    ["policies"],
    ["engine"],
    ["inputs", "inputs.traces"],
    ["inputs.scenario"],
    ["sim"],
    ["labs"],  # reproductions with their own simulators: read domain objects and traces
    ["planning", "planning.allocation"],
    ["planning.export", "planning.whatif"],
    ["planning.report", "planning.sweep"],
    ["api"],
    ["gpufleet"],  # the package's __init__: the public face (api's functions, errors)
    ["governance", "governance.store"],
    ["governance.auth"],
    ["governance.register"],
    ["governance.runs"],
    ["governance.transfers"],
    ["live"],  # with live.enact (the register enacted on schedulers) and live.metering
    ["service"],
    ["cli"],
]
# the live layer, the service and the CLI may use every inner ring but the labs and the
# Python API (the service reads the package root's version and docstring)
BELOW_LIVE = {u for ring in RINGS[: RINGS.index(["live"])] for u in ring} - {"labs", "api"}
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "registry": set(),
    "extras": set(),  # which extra brings an optional module (imports only errors)
    "gcpause": set(),  # the garbage collector paused around a batch of parsing
    "domain": set(),
    "state": {"domain"},
    "policies": {"domain", "state"},
    "engine": {"domain", "state", "policies"},
    "inputs": set(),
    "inputs.traces": {"domain"},
    "inputs.scenario": {"domain", "policies", "inputs.traces"},
    "sim": {"domain", "state", "policies", "engine"},
    "labs": {"domain", "inputs"},
    "planning": set(),
    # the allocation in force replays the engine's timeline, not the simulator
    "planning.allocation": {"domain", "state", "policies", "engine"},
    # exports see only the plan and the domain
    "planning.export": {"domain", "planning.allocation"},
    "planning.whatif": {"domain", "policies", "inputs", "sim"},
    "planning.report": {"domain", "sim", "planning.whatif"},
    "planning.sweep": {"domain", "inputs", "sim", "planning.whatif"},
    "api": {"domain", "inputs", "sim", "planning"},
    "governance": set(),
    "governance.store": {"domain"},
    "governance.auth": {"governance.store"},
    "governance.register": {"domain", "inputs", "governance.store"},
    # the queue of what-if runs; a transfer queues its assessment as a run of its own kind
    "governance.runs": {
        "domain",
        "inputs",
        "sim",
        "planning",
        "governance.store",
        "governance.register",
    },
    "governance.transfers": {
        "domain",
        "inputs",
        "sim",
        "planning",
        "governance.store",
        "governance.auth",
        "governance.register",
        "governance.runs",
    },
    "live": BELOW_LIVE,
    "service": BELOW_LIVE | {"live"},
    "cli": BELOW_LIVE | {"live", "service", "labs", "api"},
    "gpufleet": {"api"},
}
RING_OF = {unit: i for i, ring in enumerate(RINGS) for unit in ring}
MODULES = all_modules()


def unit_of(module: str) -> str | None:
    """The longest unit that is the module or a package above it ("" is ``gpufleet``)."""
    if module == "":
        return "gpufleet"
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in ALLOWED:
            return ".".join(parts[:n])
    return None


def allows(importer: str, target: str) -> bool:
    if target == importer or target in RINGS[0]:
        return True
    return any(target == a or target.startswith(a + ".") for a in ALLOWED[importer])


def test_every_unit_on_the_map_sits_on_one_ring_and_imports_only_inner_rings() -> None:
    assert set(RING_OF) == set(ALLOWED)
    for unit, allowed in ALLOWED.items():
        for other in allowed:
            inner = [u for u in ALLOWED if u == other or u.startswith(other + ".")]
            assert inner, f"{unit} allows {other!r}, which is not on the map"
            for u in inner:
                assert RING_OF[u] < RING_OF[unit], f"{unit} may import {u}, an outer ring"


def test_every_module_of_the_package_belongs_to_a_unit() -> None:
    lost = [m for m in MODULES if unit_of(m) is None]
    assert not lost, f"modules on no ring (add their package to ALLOWED and RINGS): {lost}"


@pytest.mark.parametrize("unit", sorted(ALLOWED))
def test_unit_imports_only_what_the_map_allows(unit: str) -> None:
    known = set(MODULES)
    for module, path in MODULES.items():
        if unit_of(module) != unit:
            continue
        for target in imported_modules(path, known):
            to = unit_of(target)
            assert to is not None and allows(unit, to), (
                f"{path.relative_to(SRC)} imports gpufleet.{target} ({to}); {unit} may import "
                f"{sorted(ALLOWED[unit]) or 'nothing of ours'} besides errors and registry"
            )


def test_no_two_modules_import_each_other_however_indirectly() -> None:
    known = set(MODULES)
    graph = {m: imported_modules(p, known) & known - {m} for m, p in MODULES.items()}
    cycles = _strongly_connected(graph)
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(sorted(c)) for c in cycles)


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative: the components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[set[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = set()
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    comp.add(top)
                    if top == node:
                        break
                if len(comp) > 1:
                    out.append(comp)
    return out


def test_the_cycle_finder_finds_a_three_module_cycle_and_nothing_in_a_chain() -> None:
    # a -> b -> c -> a is one component; d -> a hangs off it and is not part of it
    assert _strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [
        {"a", "b", "c"}
    ]
    assert _strongly_connected({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_nothing_prints_outside_the_cli() -> None:
    for module, path in MODULES.items():
        if unit_of(module) == "cli":
            continue
        calls = [
            n
            for n in ast.walk(ast.parse(path.read_text()))
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "print"
        ]
        assert not calls, f"{path.relative_to(SRC)} calls print"


def test_module_names_read_from_paths() -> None:
    assert module_name(SRC / "__init__.py") == ""
    assert module_name(SRC / "policies" / "kai" / "policy.py") == "policies.kai.policy"
