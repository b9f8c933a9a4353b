"""YAML to plain Python values, remembering the line of every key and item.

PyYAML's composer gives nodes with marks; we build the values ourselves so that every path
(``("sites", 0, "power_kw")``) maps to a 1-based line number. Duplicate keys, which plain
``yaml.safe_load`` silently collapses, are errors here.
"""

from __future__ import annotations

from typing import Any

import yaml

from gpufleet.errors import Problem

Path = tuple[str | int, ...]


class Located:
    """Parsed YAML with a line for every path."""

    def __init__(self, value: Any, lines: dict[Path, int]) -> None:
        self.value = value
        self.lines = lines

    def line(self, path: Path) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.lines.get((), None)


def parse(text: str, file: str) -> tuple[Located | None, list[Problem]]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        return None, [Problem("", f"not valid YAML: {e.problem or e}", "YAML syntax", file, line)]
    if node is None:
        return None, [Problem("", "the file is empty", "a YAML mapping of scenario keys", file, 1)]
    lines: dict[Path, int] = {}
    problems: list[Problem] = []
    constructor = yaml.SafeLoader("")

    def build(n: yaml.Node, path: Path) -> Any:
        lines.setdefault(path, n.start_mark.line + 1)
        if isinstance(n, yaml.MappingNode):
            out: dict[str, Any] = {}
            for k, v in n.value:
                key = constructor.construct_object(k) if isinstance(k, yaml.ScalarNode) else k
                if not isinstance(key, str):
                    key = str(key)
                if key in out:
                    problems.append(
                        Problem(
                            _dotted((*path, key)),
                            f"duplicate key {key!r}",
                            "each key once",
                            file,
                            k.start_mark.line + 1,
                        )
                    )
                    continue
                lines[(*path, key)] = k.start_mark.line + 1
                out[key] = build(v, (*path, key))
            return out
        if isinstance(n, yaml.SequenceNode):
            return [build(v, (*path, i)) for i, v in enumerate(n.value)]
        return constructor.construct_object(n)

    try:
        value = build(node, ())
    except yaml.YAMLError as e:
        return None, [Problem("", f"not valid YAML: {e}", "YAML syntax", file, None)]
    return Located(value, lines), problems


def _dotted(path: Path) -> str:
    out = ""
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + p
    return out


dotted = _dotted
