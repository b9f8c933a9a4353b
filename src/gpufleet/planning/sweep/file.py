"""A sweep written down in a YAML file: what ``--template``, ``--grid`` and friends say."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from gpufleet.errors import InputError, Problem, ScenarioError
from gpufleet.inputs.scenario.yamlsrc import KeyPath, dotted, parse
from gpufleet.planning.sweep.spec import Axis, SweepSpec, Template, parse_grid, parse_template


@dataclass(frozen=True)
class SweepFile:
    """A sweep written down: what ``--template``, ``--grid`` and friends say, in YAML.

    .. code-block:: yaml

        name: move-size-by-month
        scenario: article.yaml          # optional, relative to this file
        changes:                        # templates: "KIND: text", or {KIND: text}
          - move: "{gpus} H100 tesla->xai@xai-memphis {start}"
        grid:
          gpus: [0, 4000, 8000, 12000]
          start: [2024-06-15, 2024-08-15]
        seeds: 3                        # optional
        metric: fsd-training.milestone_delay_days   # optional: the heat map's
    """

    spec: SweepSpec
    name: str
    description: str = ""
    scenario: Path | None = None
    seeds: int | None = None
    metric: str | None = None


_FILE_KEYS = ("name", "description", "scenario", "changes", "grid", "seeds", "metric")


def load_sweep_file(path: str | Path) -> SweepFile:
    """The sweep of a YAML file, or a ScenarioError listing every problem with its line."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{p}: cannot read the sweep file ({e})") from None
    src, problems = parse(text, str(p))
    if src is None:
        raise ScenarioError(str(p), problems)
    doc = src.value

    def bad(where: KeyPath, message: str, expected: str) -> None:
        problems.append(Problem(dotted(where), message, expected, str(p), src.line(where)))

    if not isinstance(doc, dict):
        bad((), "the top level is not a mapping", ", ".join(_FILE_KEYS))
        raise ScenarioError(str(p), problems)
    for key in doc:
        if key not in _FILE_KEYS:
            bad((key,), f"unknown key {key!r}", "one of: " + ", ".join(_FILE_KEYS))
    templates = _file_templates(doc.get("changes"), bad)
    axes = _file_axes(doc.get("grid"), bad)
    seeds = doc.get("seeds")
    if seeds is not None and (isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1):
        bad(("seeds",), f"{seeds!r} is not a whole number >= 1", "seeds: 3")
    for key in ("name", "description", "scenario", "metric"):
        if doc.get(key) is not None and not isinstance(doc[key], str):
            bad((key,), f"{doc[key]!r} is not text", f"{key}: a string")
    if not problems:
        try:
            spec = SweepSpec(tuple(templates), tuple(axes))
        except InputError as e:
            bad(("changes",), str(e), "every placeholder a grid axis, every axis used")
    if problems:
        raise ScenarioError(str(p), problems)
    scenario = doc.get("scenario")
    return SweepFile(
        spec,
        doc.get("name") or p.stem,
        doc.get("description") or "",
        p.parent / scenario if scenario else None,
        seeds,
        doc.get("metric"),
    )


Bad = Callable[[KeyPath, str, str], None]


def _file_templates(items: Any, bad: Bad) -> list[Template]:
    if not isinstance(items, list) or not items:
        bad(("changes",), "no list of change templates", 'changes: [- move: "{gpus} H100 ..."]')
        return []
    out = []
    for i, item in enumerate(items):
        if isinstance(item, dict) and len(item) == 1:
            ((kind, text),) = item.items()
            text = f"{kind}: {text}" if isinstance(text, str) else None
        else:
            text = item if isinstance(item, str) else None
        if text is None:
            bad(("changes", i), "not a template", "KIND: a short form with {NAME} placeholders")
            continue
        try:
            out.append(parse_template(text))
        except InputError as e:
            bad(("changes", i), str(e), "")
    return out


def _file_axes(grid: Any, bad: Bad) -> list[Axis]:
    if not isinstance(grid, dict) or not grid:
        bad(("grid",), "no grid", "grid: {NAME: [V1, V2, ...]}")
        return []
    out = []
    for name, values in grid.items():
        if not isinstance(values, list) or not values:
            bad(("grid", name), "not a list of values", f"{name}: [V1, V2, ...]")
            continue
        texts = []
        for j, v in enumerate(values):
            if isinstance(v, bool) or not isinstance(v, str | int | float | date):
                bad(("grid", name, j), f"{v!r} is not a number, a date or text", "")
            texts.append(v.isoformat() if isinstance(v, date) else str(v))
        try:
            out.append(parse_grid(f"{name}=" + ",".join(texts)))
        except InputError as e:
            bad(("grid", name), str(e), "")
    return out
