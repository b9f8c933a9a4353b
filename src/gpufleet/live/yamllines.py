"""YAML to plain values, with the line of every key and item (the mapping file's errors
name their line). A small cousin of the scenario loader's reader, kept here because the
live ring reads its own files: values are built from PyYAML's composed nodes, whose marks
give the lines; a duplicate key, which ``yaml.safe_load`` silently collapses, is an error.
"""

from __future__ import annotations

from typing import Any

import yaml

from gpufleet.errors import Problem

Path = tuple[str | int, ...]


class Lines:
    """The 1-based line of each path of a document."""

    def __init__(self, lines: dict[Path, int]) -> None:
        self.lines = lines

    def of(self, path: Path) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        p = tuple(path)
        while p and p not in self.lines:
            p = p[:-1]
        return self.lines.get(p)


def dotted(path: Path) -> str:
    """``("slurm", "nodes", 0, "site")`` -> ``slurm.nodes[0].site``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load(text: str, file: str) -> tuple[Any, Lines, list[Problem]]:
    """The document's value, its lines, and the problems found (then the value is None)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        return None, Lines({}), [Problem("", f"not valid YAML: {problem}", "YAML", file, line)]
    if node is None:
        return None, Lines({}), [Problem("", "the file is empty", "a YAML mapping", file, 1)]
    builder = _Builder(file)
    value = builder.build(node, ())
    return (None if builder.problems else value), Lines(builder.lines), builder.problems


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: dict[Path, int] = {}
        self.problems: list[Problem] = []
        self.constructor = yaml.SafeLoader("")
        self.inside: set[int] = set()  # the nodes being built: an alias to one is a cycle

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if id(node) in self.inside:
            self._problem(node, path, "an alias refers to itself", "no cyclic aliases")
            return None
        self.inside.add(id(node))
        try:
            return self._build(node, path)
        finally:
            self.inside.discard(id(node))

    def _build(self, node: yaml.Node, path: Path) -> Any:
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.constructor.construct_object(key_node)
                if not isinstance(key, str | int):
                    self._problem(key_node, path, f"key {key!r} is not a name", "a name")
                    continue
                if key in out:
                    self._problem(key_node, (*path, key), "duplicate key", "each key once")
                self.lines[(*path, str(key))] = key_node.start_mark.line + 1
                out[key] = self.build(value_node, (*path, str(key)))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self.constructor.construct_object(node)

    def _problem(self, node: yaml.Node, path: Path, message: str, expected: str) -> None:
        line = node.start_mark.line + 1
        self.problems.append(Problem(dotted(path), message, expected, self.file, line))
