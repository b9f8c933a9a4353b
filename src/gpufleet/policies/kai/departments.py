"""A KAI department file: each department's own quota, over-quota weight and limit per GPU type.

KAI sets these attributes on the parent queue itself (NVIDIA/KAI-Scheduler
``docs/queues/README.md``, "Queue Attributes": every queue, parent or leaf, has a quota, an
over-quota weight and a limit per resource); a department not named keeps the sums of its
programs' (:func:`~gpufleet.policies.kai.fairshare.parent_of`). The ``kai`` policy's option
``departments`` names such a file::

    D1:                      # an entity of the scenario (KAI's department)
      H100-SXM: {quota: 6, over_quota_weight: 3, limit: 8}
    D2:
      H100-SXM: {quota: 2, over_quota_weight: 1}   # no limit

``quota`` and ``limit`` are whole GPUs >= 0, ``over_quota_weight`` a number >= 0; ``limit``
may be left out (no limit). Every error is an :class:`~gpufleet.errors.InputError` naming
the file, the entity, the GPU type and the field, with what would be right.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import yaml

from gpufleet.errors import InputError
from gpufleet.policies.kai.fairshare import DepartmentQuota
from gpufleet.policies.kai.queues import Departments

_FIELDS = ("quota", "over_quota_weight", "limit")
_SHAPE = "a mapping entity -> GPU type -> {quota: N, over_quota_weight: W, limit: M}"


def read_departments(path: str) -> dict[str, dict[str, DepartmentQuota]]:
    """The departments of the YAML file at ``path`` (see the module docstring)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        why = e.strerror if isinstance(e, OSError) else "not UTF-8 text"
        raise InputError(f"KAI departments file {path!r}: cannot be read ({why})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise InputError(f"KAI departments file {path!r}: not YAML ({_first_line(e)})") from None
    return departments_from(path, data)


def departments_from(source: str, data: object) -> dict[str, dict[str, DepartmentQuota]]:
    """The departments of already-parsed YAML ``data``; errors name ``source``."""
    if not isinstance(data, dict):
        raise _fail(source, "", f"is {_kind(data)}", _SHAPE)
    out: dict[str, dict[str, DepartmentQuota]] = {}
    for entity, types in data.items():
        if not isinstance(entity, str):
            raise _fail(source, "", f"entity {entity!r} is not a name", "entity names as strings")
        if not isinstance(types, dict) or not types:
            want = "a mapping GPU type -> {quota: N, over_quota_weight: W}"
            raise _fail(source, entity, f"is {_kind(types)}", want)
        out[entity] = {}
        for gpu_type, attrs in types.items():
            where = f"{entity}.{gpu_type}"
            if not isinstance(gpu_type, str):
                raise _fail(source, where, "the GPU type is not a name", "a GPU type's name")
            out[entity][gpu_type] = _quota(source, where, attrs)
    return out


def _quota(source: str, where: str, attrs: object) -> DepartmentQuota:
    if not isinstance(attrs, dict):
        raise _fail(source, where, f"is {_kind(attrs)}", "{quota: N, over_quota_weight: W}")
    extra = sorted(str(k) for k in attrs if k not in _FIELDS)
    if extra:
        raise _fail(source, f"{where}.{extra[0]}", "is not a field", "one of " + ", ".join(_FIELDS))
    for key in ("quota", "over_quota_weight"):
        if key not in attrs:
            raise _fail(source, f"{where}.{key}", "is missing", "it is required")
    quota = _whole(source, f"{where}.quota", attrs["quota"])
    weight = attrs["over_quota_weight"]
    if not _number(weight):
        raise _fail(source, f"{where}.over_quota_weight", f"is {weight!r}", "a number >= 0")
    limit = attrs.get("limit")
    lim = None if limit is None else _whole(source, f"{where}.limit", limit)
    return DepartmentQuota(quota, Fraction(weight), lim)


def check_names(
    departments: Departments, source: str, entities: Iterable[str], gpu_types: Iterable[str]
) -> None:
    """Every entity and GPU type the departments name exists (``entities``, ``gpu_types``:
    those the scenario has)."""
    known_e, known_t = sorted(set(entities)), sorted(set(gpu_types))
    for entity, types in departments.items():
        if entity not in known_e:
            raise _fail(source, entity, "is not an entity", "one of " + ", ".join(known_e))
        for t in types:
            if t not in known_t:
                want = "one of " + ", ".join(known_t)
                raise _fail(source, f"{entity}.{t}", "is not a GPU type of the fleet", want)


def _whole(source: str, where: str, v: object) -> int:
    if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
        return v
    raise _fail(source, where, f"is {v!r}", "a whole number of GPUs >= 0")


def _number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v >= 0


def _kind(v: object) -> str:
    if v is None or v == {}:
        return "empty"
    return f"{v!r}" if isinstance(v, str | int | float) else f"a {type(v).__name__}"


def _first_line(e: yaml.YAMLError) -> str:
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    return f"line {mark.line + 1}: {problem}" if mark is not None else str(problem)


def _fail(source: str, where: str, what: str, expected: str) -> InputError:
    at = f": {where}" if where else ""
    return InputError(f"KAI departments file {source!r}{at} {what} (expected {expected})")
