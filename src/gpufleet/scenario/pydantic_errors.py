"""Turn pydantic's validation errors into located Problems with what would be right."""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from gpufleet.errors import Problem
from gpufleet.scenario.yamlsrc import Located, Path, dotted


def problems_from_validation(
    err: ValidationError, src: Located, file: str, root: type[BaseModel]
) -> list[Problem]:
    out: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for e in err.errors():
        loc = _clean(e["loc"])
        kind = e["type"]
        if kind == "extra_forbidden":
            allowed = _allowed_keys(root, loc[:-1])
            prob = Problem(
                dotted(loc),
                f"unknown key {loc[-1]!r}",
                "one of: " + ", ".join(allowed) if allowed else "no extra keys",
                file,
                src.line(loc),
            )
        elif kind == "missing":
            prob = Problem(
                dotted(loc),
                "required key is missing",
                f"a value for {loc[-1]!r}",
                file,
                src.line(loc[:-1]),
            )
        else:
            got = e.get("input")
            msg = e["msg"]
            if kind == "value_error":
                msg = msg.removeprefix("Value error, ")
                prob = Problem(dotted(loc), msg, "", file, src.line(loc))
            else:
                prob = Problem(
                    dotted(loc), f"{msg}, got {_show(got)}", _expected(kind, e), file, src.line(loc)
                )
        key = (prob.field, prob.message)
        if key not in seen:  # unions report one error per member; keep the first
            seen.add(key)
            out.append(prob)
    return out


def _show(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _expected(kind: str, e: Any) -> str:
    ctx = e.get("ctx") or {}
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return str(e["msg"]).lower().replace("input should be ", "a number ")
    if "pattern" in ctx:
        return "a name of letters, digits, '.', '_' or '-'"
    return ""


def _clean(loc: tuple[int | str, ...]) -> Path:
    """Drop pydantic's union-member tags (``int``, ``GpuDist``...) from a location."""
    out: list[str | int] = []
    for part in loc:
        if isinstance(part, str) and (part[:1].isupper() or part in _TAGS or "[" in part):
            continue
        out.append(part)
    return tuple(out)


_TAGS = {
    "int",
    "float",
    "str",
    "bool",
    "date",
    "datetime",
    "function-after",
    "constrained-int",
    "constrained-float",
    "constrained-str",
    "list",
    "dict",
    "none",
}


def _allowed_keys(root: type[BaseModel], path: Path) -> list[str]:
    tp: Any = root
    for part in path:
        tp = _step(tp, part)
        if tp is None:
            return []
    model = _model_in(tp)
    if model is None:
        return []
    return [f.alias or n for n, f in model.model_fields.items()]


def _step(tp: Any, part: str | int) -> Any:
    model = _model_in(tp)
    if model is not None and isinstance(part, str):
        f = model.model_fields.get(part) or next(
            (f for f in model.model_fields.values() if f.alias == part), None
        )
        return f.annotation if f else None
    for arg in _args(tp):
        origin = typing.get_origin(arg)
        if origin is list and isinstance(part, int):
            return typing.get_args(arg)[0]
        if origin is dict and isinstance(part, str):
            return typing.get_args(arg)[1]
    return None


def _args(tp: Any) -> list[Any]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return [a for x in typing.get_args(tp) for a in _args(x)]
    if origin is typing.Annotated:
        return _args(typing.get_args(tp)[0])
    return [tp]


def _model_in(tp: Any) -> type[BaseModel] | None:
    for a in _args(tp):
        if isinstance(a, type) and issubclass(a, BaseModel):
            return a
    return None
