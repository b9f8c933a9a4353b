"""YAML to plain Python values, remembering the line of every key and item.

PyYAML's composer gives nodes with marks; we build the values ourselves so that every path
(``("sites", 0, "power_kw")``) maps to a 1-based line number. Duplicate keys, which plain
``yaml.safe_load`` silently collapses, are errors here.

What no scenario needs and would crash or stall a plain loader is refused with its line:
nesting deeper than :data:`MAX_DEPTH` (PyYAML composes recursively: a few hundred levels
raise RecursionError), integers outside 64 bits (past 4,300 digits Python's ``int()``
raises ValueError; no column or RNG seed holds more than 64 bits anyway) and alias bombs
(:data:`MAX_NODES`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

from gpufleet.errors import Problem

KeyPath = tuple[str | int, ...]
"""Where a value sits in a document: keys and list positions from the top, such as
``("sites", 0, "power_kw")`` (written ``sites[0].power_kw`` by :func:`dotted`)."""


class Located:
    """A document's values with a line for every path.

    Parsed YAML knows its lines at once. A document built from objects (the register's
    plan) has no text: ``locate`` gives the lines of the text it would be written as, and
    is called only when a problem needs a line, so a valid document is never written out."""

    def __init__(
        self,
        value: Any,
        lines: dict[KeyPath, int] | None = None,
        *,
        locate: Callable[[], dict[KeyPath, int]] | None = None,
    ) -> None:
        self.value = value
        self._lines = lines
        self._locate = locate

    @property
    def lines(self) -> dict[KeyPath, int]:
        if self._lines is None:
            self._lines = self._locate() if self._locate is not None else {}
        return self._lines

    def line(self, path: KeyPath) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.lines.get((), None)


MAX_NODES = 1_000_000
"""More values than this, after expanding aliases, is an alias bomb, not a scenario."""
MAX_DEPTH = 50
"""Mappings and lists nested deeper than this are refused (a scenario nests about 8)."""
INT_RANGE = (-(2**63), 2**63 - 1)
"""The integers a file may hold: a 64-bit signed integer's range."""
_EXPECTED_INT = f"an integer from {INT_RANGE[0]} to {INT_RANGE[1]}"


def parse(text: str, file: str) -> tuple[Located | None, list[Problem]]:
    try:
        node = yaml.compose(text, Loader=_DepthLoader)
    except yaml.YAMLError as e:
        return None, [_yaml_problem(e, text, file)]
    except _TooDeep as e:
        return None, [e.problem(file)]
    except RecursionError:  # a last resort: _DepthLoader stops far earlier
        return None, [_too_deep(file, None)]
    if node is None:
        return None, [Problem("", "the file is empty", "a YAML mapping of scenario keys", file, 1)]
    builder = _Builder(file)
    try:
        value = builder.build(node, ())
    except _TooBig:
        too_big = f"more than {MAX_NODES:,} values once aliases are expanded"
        return None, [Problem("", too_big, "a scenario without alias chains", file, None)]
    except RecursionError:  # aliases nesting a deep value in itself, deeper and deeper
        return None, [_too_deep(file, None)]
    return Located(value, builder.lines), builder.problems


class _TooBig(Exception):
    pass


class _TooDeep(Exception):
    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line

    def problem(self, file: str) -> Problem:
        return _too_deep(file, self.line)


def _too_deep(file: str, line: int | None) -> Problem:
    return Problem(
        "",
        f"mappings and lists are nested more than {MAX_DEPTH} levels deep",
        f"at most {MAX_DEPTH} levels; a scenario needs about 8",
        file,
        line,
    )


class _DepthLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing nesting deeper than :data:`MAX_DEPTH` at the line
    where it goes too deep, before its recursive composer overflows Python's stack."""

    depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise _TooDeep(event.start_mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class _Builder:
    """Plain values from composed YAML nodes, noting the line of every path; duplicate
    keys, bad scalars and cyclic aliases become problems instead of exceptions."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: dict[KeyPath, int] = {}
        self.problems: list[Problem] = []
        self.constructor = yaml.SafeLoader("")
        self.inside: set[int] = set()  # ids of the nodes being built: an alias to one is a cycle
        self.count = 0

    def problem(self, n: yaml.Node, message: str, expected: str, path: KeyPath) -> None:
        line = n.start_mark.line + 1
        self.problems.append(Problem(dotted(path), message, expected, self.file, line))

    def build(self, n: yaml.Node, path: KeyPath) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _TooBig
        self.lines.setdefault(path, n.start_mark.line + 1)
        if id(n) in self.inside:
            self.problem(n, "an alias refers to a value that contains it", "no cyclic alias", path)
            return None
        if isinstance(n, yaml.ScalarNode):
            return self.scalar(n, path)
        self.inside.add(id(n))
        try:
            if isinstance(n, yaml.MappingNode):
                return self.mapping(n, path)
            return [self.build(v, (*path, i)) for i, v in enumerate(n.value)]
        finally:
            self.inside.discard(id(n))

    def scalar(self, n: yaml.Node, path: KeyPath) -> Any:
        try:
            value = self.constructor.construct_object(n)
        except (ValueError, OverflowError):  # 2024-13-01 looks like a date but is not one:
            if n.tag == "tag:yaml.org,2002:int":  # or past int()'s 4,300 digits
                return self.huge_int(n, path)
            return n.value  # keep the text; the schema then says what it should be
        except yaml.YAMLError as e:  # an unknown tag, bad base64...
            problem = getattr(e, "problem", None) or str(e)
            self.problem(n, f"not valid YAML: {problem}", "YAML syntax", path)
            return None
        is_int = isinstance(value, int) and not isinstance(value, bool)
        if is_int and not INT_RANGE[0] <= value <= INT_RANGE[1]:
            return self.huge_int(n, path)
        return value

    def huge_int(self, n: yaml.Node, path: KeyPath) -> None:
        text = str(n.value)
        digits = sum(c.isdigit() for c in text)
        shown = text if len(text) <= 24 else f"{text[:20]}... ({digits:,} digits)"
        self.problem(n, f"the integer {shown} is too large", _EXPECTED_INT, path)
        return None

    def mapping(self, n: yaml.MappingNode, path: KeyPath) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in n.value:
            if not isinstance(k, yaml.ScalarNode):
                self.problem(k, "a key is a list or a mapping", "a plain key such as 'name'", path)
                continue
            key = self.scalar(k, path)
            key = key if isinstance(key, str) else str(key)
            if key in out:
                self.problem(k, f"duplicate key {key!r}", "each key once", (*path, key))
                continue
            self.lines[(*path, key)] = k.start_mark.line + 1
            out[key] = self.build(v, (*path, key))
        return out


def _yaml_problem(e: yaml.YAMLError, text: str, file: str) -> Problem:
    line: int | None = None
    if isinstance(e, yaml.MarkedYAMLError):
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        message = e.problem or str(e)
    elif isinstance(e, yaml.reader.ReaderError):
        line = text[: e.position].count("\n") + 1 if isinstance(e.position, int) else None
        message = (
            f"character #x{e.character:04x} is not allowed"
            if isinstance(e.character, int)
            else str(e)
        )
    else:
        message = str(e)
    return Problem("", f"not valid YAML: {message}", "YAML syntax", file, line)


def dotted(path: KeyPath) -> str:
    out = ""
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + p
    return out
