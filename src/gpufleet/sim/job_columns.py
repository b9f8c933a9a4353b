"""A run's finished jobs as columns, one NumPy array per figure.

The recorded columns (id, program, GPUs, submit, first start, finish, ideal run time,
preemptions) are views of the recorder's buffers: the recorder is closed when the result
is built, so nothing appends to them again (an ``array`` with a view on it refuses to
grow rather than move). The derived ones are computed each time they are read, not held:

- ``queueing_delay_s`` = first start - submit;
- ``jct_s`` = finish - submit;
- ``slowdown`` = JCT / ideal run time (1 where the ideal time is 0);
- ``program`` = the program's name (an object array); :meth:`JobColumns.of_program`
  selects a program's jobs by its index without building the names.

Why: held, the four derived columns took 32 bytes a job at the end of a run (a quarter of
a million-job run's memory, issue 16); a reader that wants one reads it once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

Column = np.ndarray[Any, Any]

RECORDED = ("id", "gpus", "submit_s", "start_s", "finish_s", "preemptions")
DERIVED = ("program", "queueing_delay_s", "jct_s", "slowdown")
ORDER = (
    "id",
    "program",
    "gpus",
    "submit_s",
    "start_s",
    "finish_s",
    "queueing_delay_s",
    "jct_s",
    "slowdown",
    "preemptions",
)
"""The columns in the order a reader (``--jobs-csv``, ``jobs_frame()``) lists them."""


class JobColumns(Mapping[str, Column]):
    """The finished jobs' columns (module docstring): a read-only mapping of name to array."""

    def __init__(
        self,
        recorded: dict[str, Column],
        program_index: Column,
        program_names: list[str],
        ideal_s: Column,
    ) -> None:
        assert set(recorded) == set(RECORDED), sorted(recorded)
        self._recorded = recorded
        self._program_index = program_index
        self._names = np.array(program_names or [""], dtype=object)
        self._ideal_s = ideal_s

    def __getitem__(self, name: str) -> Column:
        got = self._recorded.get(name)
        if got is not None:
            return got
        r = self._recorded
        if name == "queueing_delay_s":
            return r["start_s"] - r["submit_s"]
        if name == "jct_s":
            return r["finish_s"] - r["submit_s"]
        if name == "slowdown":  # made in place in the JCT's array: 9 bytes a job, not 25
            slowdown = r["finish_s"] - r["submit_s"]
            some = self._ideal_s > 0
            np.divide(slowdown, self._ideal_s, out=slowdown, where=some)
            slowdown[~some] = 1.0
            return slowdown
        if name == "program":
            return self._names[self._program_index]
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(ORDER)

    def __len__(self) -> int:
        return len(ORDER)

    def __contains__(self, name: object) -> bool:
        return name in ORDER

    @property
    def size(self) -> int:
        """How many jobs finished."""
        return int(self._recorded["id"].size)

    def of_program(self, index: int) -> Column:
        """A mask of the jobs of the program of index ``index`` (its position in the run's
        programs)."""
        mask: Column = self._program_index == index
        return mask
