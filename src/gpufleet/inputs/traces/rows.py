"""Bad rows: stop at the first with ``file:line: column: what, expected`` (the default), or
skip them, counting each reason and writing them to a rejects file (``--on-error=skip``).
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from gpufleet.errors import InputError, Problem


class RowError(InputError):
    """One bad row (or header) of an input file."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.render(), [problem])
        self.problem = problem


@dataclass
class RowPolicy:
    """What to do with a bad row. ``skip``: keep going, count reasons, remember rejects."""

    file: str
    skip: bool = False
    skipped: Counter[str] = field(default_factory=Counter)
    rejects: list[tuple[int, str, str]] = field(default_factory=list)  # line, reason, raw

    def bad(self, line: int, column: str, message: str, expected: str, raw: str = "") -> None:
        """Report a bad row: raises unless skipping; the caller drops the row after it."""
        problem = Problem(column, message, expected, self.file, line)
        if not self.skip:
            raise RowError(problem)
        self.skipped[f"{column}: {message.split(':')[0]}"] += 1
        self.rejects.append((line, problem.render(), raw))

    def for_file(self, path: Path | str) -> RowPolicy:
        """The same policy reporting against ``path`` (a trace folder holds several files
        and an error must name its own); skip counts and rejects stay shared."""
        return RowPolicy(str(path), self.skip, self.skipped, self.rejects)

    def fatal(self, line: int | None, column: str, message: str, expected: str) -> NoReturn:
        """A problem no skipping can get past (empty file, missing column...)."""
        raise RowError(Problem(column, message, expected, self.file, line))

    def notes(self) -> list[str]:
        return [f"skipped {n} row(s): {why}" for why, n in sorted(self.skipped.items())]

    def write_rejects(self, path: Path) -> None:
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["line", "problem", "row"])
            w.writerows(self.rejects)
