"""Turn pydantic's validation errors into located Problems with what would be right.

pydantic reports a value that fits no member of a union (``gpus: 8`` or ``gpus: {choices:
[..]}``) once per member, each under a tag (``constrained-int``, ``GpuDist``...). A user
wrote one value, so they get one problem: the one of the member their value was shaped
like (a mapping -> the model; anything else -> the first scalar member), with every member
listed as what would be right.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from gpufleet.errors import Problem
from gpufleet.inputs.scenario.schema import KeyProblem
from gpufleet.inputs.scenario.yamlsrc import KeyPath, Located, dotted


@dataclass(frozen=True)
class _Where:
    """Where an error is, without union tags, and which member of a union it is about."""

    path: KeyPath
    annotation: Any  # the type expected at ``path``; None when unknown
    member: Any = None  # the union member the error is about, when it is about one


def problems_from_validation(
    err: ValidationError, src: Located, file: str, root: type[BaseModel]
) -> list[Problem]:
    located = [(e, _locate(root, e["loc"])) for e in err.errors()]
    out: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for e, where in _one_member_each(located):
        prob = _problem(e, where, src, file, root)
        if (prob.field, prob.message) not in seen:
            seen.add((prob.field, prob.message))
            out.append(prob)
    return out


def _problem(e: Any, w: _Where, src: Located, file: str, root: type[BaseModel]) -> Problem:
    loc, kind = w.path, e["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(root, loc[:-1])
        expected = "one of: " + ", ".join(allowed) if allowed else "no extra keys"
        return Problem(dotted(loc), f"unknown key {loc[-1]!r}", expected, file, src.line(loc))
    if kind == "missing":
        return Problem(
            dotted(loc),
            "required key is missing",
            f"a value for {loc[-1]!r}",
            file,
            src.line(loc[:-1]),
        )
    error = (e.get("ctx") or {}).get("error")
    if isinstance(error, KeyProblem):
        given = [k for k in error.keys if (*loc, k) in src.lines]
        if given:
            key = max(given, key=lambda k: (src.lines[(*loc, k)], error.keys.index(k)))
            return Problem(
                dotted((*loc, key)), error.message, error.expected, file, src.lines[(*loc, key)]
            )
        key_path = (*loc, error.keys[0])
        return Problem(dotted(key_path), error.message, error.expected, file, src.line(loc))
    if kind == "value_error":
        msg = str(e["msg"]).removeprefix("Value error, ")
        return Problem(dotted(loc), msg, "", file, src.line(loc))
    return Problem(
        dotted(loc),
        f"{e['msg']}, got {_show(e.get('input'))}",
        _describe(w.annotation),
        file,
        src.line(loc),
    )


def _one_member_each(located: list[tuple[Any, _Where]]) -> list[tuple[Any, _Where]]:
    """Of the errors about whole union members at one place, keep those of the member the
    value was shaped like (see the module docstring)."""
    kept: list[tuple[Any, _Where]] = []
    scalar_at: set[KeyPath] = set()
    for e, w in located:
        if w.member is None:
            kept.append((e, w))
            continue
        is_model = _model_in(w.member) is not None
        if isinstance(e.get("input"), dict) != is_model:
            continue
        if not is_model:
            if w.path in scalar_at:  # date | datetime: one complaint is enough
                continue
            scalar_at.add(w.path)
        kept.append((e, w))
    told = {w.path for _, w in kept}
    for e, w in located:  # a value that no member explained: say something all the same
        if w.path not in told:
            told.add(w.path)
            kept.append((e, w))
    return kept


def _locate(root: type[BaseModel], loc: tuple[int | str, ...]) -> _Where:
    out: list[str | int] = []
    tp: Any = root
    member: Any = None
    for part in loc:
        members = _members(tp)
        if isinstance(part, str) and len(members) > 1:  # pydantic's tag of a union member
            member = next((m for m in members if _is_tag_of(part, m)), None)
            continue
        if isinstance(part, str) and part.startswith("["):  # a dict key's own error
            continue
        out.append(part)
        tp = _step(member if member is not None else tp, part)
        member = None
    return _Where(tuple(out), tp, member)


def _is_tag_of(tag: str, member: Any) -> bool:
    model = _model_in(member)
    if model is not None:
        return model.__name__ in tag
    base = _base(member)
    return isinstance(base, type) and tag.rsplit("-", 1)[-1] == base.__name__


def _show(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _describe(tp: Any) -> str:
    """What a value of annotation ``tp`` looks like, in words."""
    members = _members(tp)
    if {_base(m) for m in members} == {date, datetime}:
        return "a date (YYYY-MM-DD) or date and time (YYYY-MM-DD HH:MM)"
    if len(members) > 1:
        return ", or ".join(filter(None, (_describe(m) for m in members)))
    if not members:
        return ""
    base, limits = _base(members[0]), _limits(members[0])
    model = _model_in(base)
    origin = typing.get_origin(base)
    if model is not None:
        return "a mapping of: " + ", ".join(_keys(model))
    if origin is list:
        return "a list, each item " + _describe(typing.get_args(base)[0])
    if origin is dict:
        return "a mapping of names to " + _describe(typing.get_args(base)[1])
    if any(getattr(m, "pattern", None) for m in limits):
        return "a name of letters, digits, '.', '_' or '-', starting with a letter or digit"
    noun = _NOUNS.get(base, "")
    words = _bounds(limits)
    return f"{noun} {words}" if noun and words else noun


_NOUNS: dict[Any, str] = {
    int: "an integer",
    float: "a number",
    str: "a string",
    bool: "true or false",
    date: "a date (YYYY-MM-DD)",
    datetime: "a date and time (YYYY-MM-DD HH:MM)",
}


def _bounds(limits: list[Any]) -> str:
    """Bounds in words, from annotated-types' ``Gt(gt=0)``, ``Ge(ge=1)``, ``Le(le=3)``..."""
    b = {
        k: str(v) if isinstance(v := getattr(m, k), int) else f"{v:g}"
        for m in limits
        for k in ("gt", "ge", "lt", "le")
        if hasattr(m, k)
    }  # an integer bound in full (a seed's 2^63 - 1), a float's in short
    if "ge" in b and "le" in b:
        return f"from {b['ge']} to {b['le']}"
    words = []
    if "gt" in b:
        words.append(f"greater than {b['gt']}")
    elif "ge" in b:
        words.append(f"of {b['ge']} or more")
    if "lt" in b:
        words.append(f"less than {b['lt']}")
    elif "le" in b:  # "greater than 0 and at most 100000"; alone: "of 100000 or less"
        words.append(f"at most {b['le']}" if words else f"of {b['le']} or less")
    return " and ".join(words)


def _allowed_keys(root: type[BaseModel], path: KeyPath) -> list[str]:
    tp: Any = root
    for part in path:
        tp = _step(tp, part)
        if tp is None:
            return []
    model = _model_in(tp)
    return _keys(model) if model is not None else []


def _keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or n for n, f in model.model_fields.items()]


def _step(tp: Any, part: str | int) -> Any:
    """The annotation one step down ``tp`` (a field, a list item, a dict value)."""
    model = _model_in(tp)
    if model is not None and isinstance(part, str):
        f = model.model_fields.get(part) or next(
            (f for f in model.model_fields.values() if f.alias == part), None
        )
        if f is None:
            return None
        return typing.Annotated[(f.annotation, *f.metadata)] if f.metadata else f.annotation
    for arg in _args(tp):
        origin = typing.get_origin(arg)
        if origin is list and isinstance(part, int):
            return typing.get_args(arg)[0]
        if origin is dict and isinstance(part, str):
            return typing.get_args(arg)[1]
    return None


def _members(tp: Any) -> list[Any]:
    """The members of a union, None left out; a non-union is its own one member."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return [m for x in typing.get_args(tp) for m in _members(x)]
    if origin is typing.Annotated and _base(tp) is not tp:
        inner = _members(_base(tp))
        return [tp] if len(inner) == 1 else inner
    return [] if tp is None or tp is type(None) else [tp]


def _base(tp: Any) -> Any:
    return typing.get_args(tp)[0] if typing.get_origin(tp) is typing.Annotated else tp


def _limits(tp: Any) -> list[Any]:
    if typing.get_origin(tp) is not typing.Annotated:
        return []
    out: list[Any] = []
    for m in typing.get_args(tp)[1:]:
        out += getattr(m, "metadata", None) or [m]
    return out


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
