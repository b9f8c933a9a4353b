"""A sweep's spec: change templates with ``{NAME}`` placeholders and the grid axes that
fill them, parsed from ``--template`` and ``--grid``, and the cells they make, each turned
into a scenario (:func:`build_cells`) before anything runs."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from gpufleet.domain.scenario import Scenario
from gpufleet.errors import InputError
from gpufleet.planning.whatif.apply import apply_changes
from gpufleet.planning.whatif.changes import PARSERS, Change, ChangeError

GRID_FORM = "NAME=V1,V2,..., e.g. 'gpus=0,4000,8000'"
TEMPLATE_FORM = "[KIND:] a change with {NAME} placeholders, e.g. '{gpus} H100 tesla->xai {start}'"
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_NULLABLE = ("move", "deliver")  # a first part of 0 (GPUs) is no change at all


@dataclass(frozen=True)
class Axis:
    name: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Template:
    kind: str
    text: str

    def fill(self, values: dict[str, str]) -> str:
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], self.text)

    def __str__(self) -> str:
        return f"{self.kind}: {self.text}"


@dataclass(frozen=True)
class Cell:
    """One point of the grid: its (axis, value) pairs and the changes they make."""

    values: tuple[tuple[str, str], ...]
    changes: tuple[tuple[str, str], ...]  # (kind, text); changes of 0 GPUs left out

    @property
    def name(self) -> str:
        return " ".join(f"{a}={v}" for a, v in self.values)


@dataclass(frozen=True)
class SweepSpec:
    templates: tuple[Template, ...]
    axes: tuple[Axis, ...]

    def __post_init__(self) -> None:
        if not self.templates:
            raise InputError(f"a sweep needs a --template ({TEMPLATE_FORM})")
        if not self.axes:
            raise InputError(f"a sweep needs a --grid ({GRID_FORM})")
        names = [a.name for a in self.axes]
        for n in names:
            if names.count(n) > 1:
                raise InputError(f"--grid {n!r} is given twice")
        used = {p for t in self.templates for p in _PLACEHOLDER.findall(t.text)}
        for p in sorted(used - set(names)):
            raise InputError(
                f"--template: placeholder {{{p}}} has no --grid; axes: " + ", ".join(names)
            )
        for n in names:
            if n not in used:
                raise InputError(f"--grid {n!r}: no template uses {{{n}}}")

    def cells(self) -> list[Cell]:
        """Every combination, the first axis varying slowest."""
        out = []
        for combo in itertools.product(*(a.values for a in self.axes)):
            values = dict(zip((a.name for a in self.axes), combo, strict=True))
            filled = [(t.kind, t.fill(values)) for t in self.templates]
            changes = tuple((k, s) for k, s in filled if not _is_null(k, s))
            out.append(Cell(tuple(values.items()), changes))
        return out


def _is_null(kind: str, text: str) -> bool:
    first = text.split()[:1]
    if kind not in _NULLABLE or not first:
        return False
    try:
        return float(first[0]) == 0
    except ValueError:
        return False


def parse_grid(text: str) -> Axis:
    """``name=v1,v2,...``; values stay text (they are substituted into templates)."""

    def fail(problem: str) -> InputError:
        return InputError(f"--grid {text!r}: {problem} (expected {GRID_FORM})")

    name, eq, rest = text.partition("=")
    name = name.strip()
    if not eq:
        raise fail("no '='")
    if not name.isidentifier():
        raise fail(f"{name!r} is not a name (letters, digits and _)")
    values = tuple(v.strip() for v in rest.split(","))
    if not rest.strip() or any(not v for v in values):
        raise fail("an empty value")
    for v in values:
        if values.count(v) > 1:
            raise fail(f"the value {v!r} is given twice")
    return Axis(name, values)


def parse_template(text: str) -> Template:
    """``[KIND:] short form``: a move unless a change kind and a colon come first."""
    head, colon, rest = text.partition(":")
    if colon and head.strip().isidentifier() and not _PLACEHOLDER.search(head):
        kind, body = head.strip(), rest.strip()
        if kind not in PARSERS:
            raise InputError(
                f"--template {text!r}: unknown change kind {kind!r}; kinds: " + ", ".join(PARSERS)
            )
    else:
        kind, body = "move", text.strip()
    if not body:
        raise InputError(f"--template {text!r}: no change (expected {TEMPLATE_FORM})")
    for p in _PLACEHOLDER.findall(body):
        if not p.isidentifier():
            raise InputError(f"--template {text!r}: {{{p}}} is not a placeholder name")
    return Template(kind, body)


def build_cells(base: Scenario, spec: SweepSpec) -> tuple[list[Cell], list[Scenario], list[int]]:
    """(cells, distinct scenarios, the scenario index of each cell). Every cell's changes
    are parsed and checked against the base here, before anything runs."""
    cells = spec.cells()
    scenarios: list[Scenario] = []
    seen: dict[tuple[tuple[str, str], ...], int] = {}
    index: list[int] = []
    for cell in cells:
        key = cell.changes
        if key not in seen:
            seen[key] = len(scenarios)
            scenarios.append(_scenario(base, cell))
        index.append(seen[key])
    return cells, scenarios, index


def _scenario(base: Scenario, cell: Cell) -> Scenario:
    if not cell.changes:
        return base
    try:
        parsed: list[tuple[Change, str]] = [(PARSERS[k](s), s) for k, s in cell.changes]
        return apply_changes(base, parsed, f"{base.name} [{cell.name}]")
    except ChangeError as e:
        raise InputError(f"sweep cell {cell.name}: {e}") from None
    except InputError as e:
        raise InputError(f"sweep cell {cell.name}: {e}", e.problems) from None
