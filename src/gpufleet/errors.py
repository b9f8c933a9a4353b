"""The one exception tree of gpufleet.

::

    GpufleetError                 base; never raised itself
    ├── InputError                bad input from a user: exit code 2, HTTP 4xx
    │   ├── ScenarioError         one or more problems in a scenario file (``problems``)
    │   └── UnknownNameError      a name that is not registered (policy, GPU type, ...)
    └── InternalError             a broken invariant inside gpufleet: exit code 1, HTTP 500

Every input problem is a :class:`Problem` with data on it: where (file, line, field), what
was wrong, and what would be right. The CLI maps the tree to exit codes in one place
(:func:`exit_code`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, located as precisely as the input allows."""

    field: str
    message: str
    expected: str = ""
    file: str = ""
    line: int | None = None

    def render(self) -> str:
        where = self.file or "<input>"
        if self.line is not None:
            where += f":{self.line}"
        text = (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )
        if self.expected:
            text += f" (expected {self.expected})"
        return text


class GpufleetError(Exception):
    """Root of every error gpufleet raises on purpose."""


class InputError(GpufleetError):
    """A user's input is wrong; the message says where, what, and what would be right."""

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.problems: tuple[Problem, ...] = tuple(problems)

    def render(self) -> str:
        if not self.problems:
            return str(self)
        if len(self.problems) == 1 and self.problems[0].render() == str(self):
            return str(self)  # the message is its one problem: say it once
        lines = [str(self)] + ["  " + p.render() for p in self.problems]
        return "\n".join(lines)


class ScenarioError(InputError):
    """A scenario file has one or more problems; all of them are listed."""

    def __init__(self, file: str, problems: Sequence[Problem]) -> None:
        n = len(problems)
        super().__init__(f"{file or '<scenario>'}: {n} problem{'s' if n != 1 else ''}", problems)
        self.file = file


class UnknownNameError(InputError):
    """A name was given that is not in a registry; the message lists the valid names."""

    def __init__(self, kind: str, name: str, valid: Sequence[str]) -> None:
        super().__init__(f"unknown {kind} {name!r}; valid names: {', '.join(sorted(valid))}")
        self.kind = kind
        self.name = name
        self.valid = tuple(sorted(valid))


class InternalError(GpufleetError):
    """An invariant of gpufleet itself broke: a bug, never the user's fault."""


def exit_code(error: BaseException) -> int:
    """The CLI exit code for an error: 2 bad input, 1 anything else."""
    return 2 if isinstance(error, InputError) else 1
