"""Reading a source's JSON answer field by field, so that every surprise names the source,
the path of the field (``jobs[3].time_limit``) and what was expected.

Slurm's REST and ``--json`` outputs changed shape across versions; :class:`At` reads both:
- numbers: a plain number (openapi v0.0.38, Slurm 22.05) or
  ``{"set": true, "infinite": false, "number": N}`` (v0.0.39 and later), where unset or
  infinite means "no value" (``None``);
- flag lists: a string (``"RUNNING"``, v0.0.38) or a list of strings (``["RUNNING"]``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from gpufleet.live.errors import SourceError


def parse_json(source: str, text: str) -> At:
    """The whole answer, as the root of paths; not JSON is a SourceError."""
    try:
        return At(source, "", json.loads(text))
    except ValueError as exc:
        raise SourceError(source, "", f"not JSON ({exc})", "a JSON document") from exc


@dataclass(frozen=True)
class At:
    """A value inside a source's answer, with where it was found."""

    source: str
    path: str
    value: object

    def fail(self, message: str, expected: str) -> SourceError:
        return SourceError(self.source, self.path or "<root>", message, expected)

    def _child(self, name: str, value: object) -> At:
        return At(self.source, f"{self.path}.{name}" if self.path else name, value)

    def _obj(self) -> dict[str, object]:
        if not isinstance(self.value, dict):
            raise self.fail(f"is {_kind(self.value)}", "an object")
        return self.value

    def has(self, name: str) -> bool:
        return isinstance(self.value, dict) and name in self.value

    def key(self, name: str) -> At:
        obj = self._obj()
        if name not in obj:
            raise self._child(name, None).fail("missing", "the field present")
        return self._child(name, obj[name])

    def opt(self, name: str) -> At | None:
        obj = self._obj()
        return self._child(name, obj[name]) if obj.get(name) is not None else None

    def opt_text(self, name: str) -> str:
        """A string field that may be absent or null ("" then)."""
        child = self.opt(name)
        return child.text() if child is not None else ""

    def items(self) -> list[At]:
        if not isinstance(self.value, list):
            raise self.fail(f"is {_kind(self.value)}", "a list")
        return [At(self.source, f"{self.path}[{i}]", v) for i, v in enumerate(self.value)]

    def text(self) -> str:
        if not isinstance(self.value, str):
            raise self.fail(f"is {_kind(self.value)}", "a string")
        return self.value

    def texts(self) -> tuple[str, ...]:
        """A string or a list of strings (flags, as the two shapes give them)."""
        if isinstance(self.value, str):
            return (self.value,)
        return tuple(item.text() for item in self.items())

    def opt_whole(self) -> int | None:
        """A whole number, or None where the source says unset or infinite."""
        value = self.value
        if isinstance(value, dict):
            if value.get("infinite") is True or value.get("set") is False:
                return None
            return self.key("number").whole()
        if value is None:
            return None
        return self.whole()

    def whole(self) -> int:
        value = self.value
        if isinstance(value, dict):
            number = self.opt_whole()
            if number is None:
                raise self.fail("is unset or infinite", "a whole number")
            return number
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(f"is {_kind(value)}", "a whole number")
        if value != int(value):
            raise self.fail(f"is {value!r}", "a whole number")
        return int(value)

    def number(self) -> float:
        value = self.value
        if isinstance(value, dict):
            return float(self.whole())
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(f"is {_kind(value)}", "a number")
        return float(value)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}{'...' if len(text) > 40 else ''}"
