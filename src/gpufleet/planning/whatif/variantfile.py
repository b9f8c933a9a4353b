"""A variant file: a name, a description and a list of changes, each either a short form
string (as on the command line) or a mapping of the change's fields.

.. code-block:: yaml

    name: move-early
    description: move the 12,000 H100 to xAI on delivery
    changes:
      - move: "12000 H100 tesla->xai@xai-memphis 2024-06-15"
      - quota: {program: fsd-training, gpu_type: H100, nominal: 8000, at: 2024-07-01}
      - policy: drf
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from gpufleet.errors import InputError, Problem, ScenarioError
from gpufleet.inputs.scenario.dates import as_datetime
from gpufleet.inputs.scenario.yamlsrc import parse
from gpufleet.planning.whatif.changes import (
    PARSERS,
    Change,
    ChangeError,
    DelaySite,
    Deliver,
    Move,
    ScaleLoad,
    SetPolicy,
    SetQuota,
    SetWeight,
    defect,
)

# mapping form: change kind -> (class, {yaml key: (field, type)})
_FIELDS: dict[str, tuple[type, dict[str, tuple[str, type]]]] = {
    "move": (
        Move,
        {
            "gpus": ("gpus", int),
            "gpu_type": ("gpu_type", str),
            "from": ("from_entity", str),
            "to": ("to_entity", str),
            "start": ("start", datetime),
            "end": ("end", datetime),
            "from_program": ("from_program", str),
            "to_program": ("to_program", str),
            "to_site": ("to_site", str),
            "price_usd": ("price_usd", float),
            "pool": ("pool", str),
        },
    ),
    "quota": (
        SetQuota,
        {
            "program": ("program", str),
            "gpu_type": ("gpu_type", str),
            "nominal": ("nominal", int),
            "at": ("at", datetime),
            "borrowing_limit": ("borrowing_limit", int),
            "lending_limit": ("lending_limit", int),
        },
    ),
    "weight": (SetWeight, {"program": ("program", str), "weight": ("weight", float)}),
    "deliver": (
        Deliver,
        {
            "gpus": ("gpus", int),
            "gpu_type": ("gpu_type", str),
            "owner": ("owner", str),
            "site": ("site", str),
            "date": ("date", datetime),
            "value_usd": ("value_usd", float),
            "gpus_per_node": ("gpus_per_node", int),
        },
    ),
    "delay": (DelaySite, {"site": ("site", str), "days": ("days", float)}),
    "policy": (SetPolicy, {"name": ("name", str)}),
    "scale": (ScaleLoad, {"program": ("program", str), "factor": ("factor", float)}),
}
_REQUIRED = {
    "move": {"gpus", "gpu_type", "from", "to", "start"},
    "quota": {"program", "gpu_type", "nominal", "at"},
    "weight": {"program", "weight"},
    "deliver": {"gpus", "gpu_type", "owner", "site", "date"},
    "delay": {"site", "days"},
    "policy": {"name"},
    "scale": {"program", "factor"},
}


def load_variant_file(path: str | Path) -> tuple[str, str, list[tuple[Change, str]]]:
    """(name, description, [(change, text for messages)]) or a ScenarioError listing every
    problem with its line."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{p}: cannot read the variant file ({e})") from None
    src, problems = parse(text, str(p))
    if src is None:
        raise ScenarioError(str(p), problems)
    doc = src.value
    if not isinstance(doc, dict):
        raise ScenarioError(
            str(p),
            [
                Problem(
                    "", "the top level is not a mapping", "name, description, changes", str(p), 1
                )
            ],
        )
    for key in doc:
        if key not in ("name", "description", "changes"):
            problems.append(
                Problem(
                    key,
                    f"unknown key {key!r}",
                    "one of: name, description, changes",
                    str(p),
                    src.line((key,)),
                )
            )
    items = doc.get("changes")
    if not isinstance(items, list) or not items:
        problems.append(
            Problem(
                "changes",
                "no list of changes",
                "changes: [- move: ...]",
                str(p),
                src.line(("changes",)),
            )
        )
        items = []
    changes: list[tuple[Change, str]] = []
    for i, item in enumerate(items):
        where = f"changes[{i}]"
        line = src.line(("changes", i))
        if not isinstance(item, dict) or len(item) != 1:
            problems.append(
                Problem(
                    where, "not a one-key mapping", "one of: " + ", ".join(PARSERS), str(p), line
                )
            )
            continue
        ((kind, value),) = item.items()
        try:
            changes.append(_one(kind, value))
        except (ChangeError, InputError) as e:
            problems.append(Problem(f"{where}.{kind}", str(e), "", str(p), line))
    if problems:
        raise ScenarioError(str(p), problems)
    name = str(doc.get("name") or p.stem)
    return name, str(doc.get("description") or ""), changes


def _one(kind: str, value: Any) -> tuple[Change, str]:
    if kind not in PARSERS:
        raise InputError(f"unknown change {kind!r}; changes: {', '.join(PARSERS)}")
    if isinstance(value, str):
        return PARSERS[kind](value), value
    if not isinstance(value, dict):
        raise InputError(f"{kind}: a short-form string or a mapping of fields, got {value!r}")
    cls, fields = _FIELDS[kind]
    missing = sorted(_REQUIRED[kind] - set(value))
    if missing:
        raise InputError(f"{kind}: missing {', '.join(missing)}")
    kwargs: dict[str, Any] = {}
    for key, v in value.items():
        if key not in fields:
            raise InputError(f"{kind}: unknown field {key!r}; fields: {', '.join(fields)}")
        attr, typ = fields[key]
        kwargs[attr] = _convert(kind, key, v, typ)
    change: Change = cls(**kwargs)
    problem = defect(change)
    if problem:
        raise InputError(f"{kind}: {problem}")
    text = ", ".join(f"{k}={v}" for k, v in value.items())  # for messages about it later
    return change, text


def _convert(kind: str, key: str, v: Any, typ: type) -> Any:
    if typ is datetime:
        if isinstance(v, date):
            return as_datetime(v)
        raise InputError(f"{kind}.{key}: {v!r} is not a date (YYYY-MM-DD)")
    if typ is int:
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise InputError(f"{kind}.{key}: {v!r} is not a whole number >= 0")
        return v
    if typ is float:
        if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
            raise InputError(f"{kind}.{key}: {v!r} is not a number >= 0")
        return float(v)
    if not isinstance(v, str) or not v:
        raise InputError(f"{kind}.{key}: {v!r} is not a name")
    return v
