"""Errors of live sources, in gpufleet's one tree::

    InputError                      (gpufleet.errors)
    └── SourceError                 a source answered, but not as expected
        └── SourceUnavailableError  the source could not be asked (down, refused, timed out)

Both carry ``source`` (the command or URL asked), and a :class:`Problem` whose ``file`` is
the source and ``field`` the path inside its answer (``jobs[3].job_state``), so the message
reads ``squeue --json: jobs[3].job_state: ... (expected ...)``.
"""

from __future__ import annotations

from gpufleet.errors import InputError, Problem


class SourceError(InputError):
    """A source's answer is malformed or not what gpufleet reads."""

    def __init__(
        self, source: str, field: str, message: str, expected: str = "", line: int | None = None
    ) -> None:
        problem = Problem(field=field, message=message, expected=expected, file=source, line=line)
        super().__init__(problem.render(), [problem])
        self.code = "source-error"
        self.source = source
        self.field = field
        self.expected = expected
        self.line = line


class SourceUnavailableError(SourceError):
    """The source could not be asked at all: the command is missing or failed, the socket
    refused, the call timed out. ``field`` is empty; the message says what happened."""

    def __init__(self, source: str, message: str, expected: str = "") -> None:
        super().__init__(source, "", message, expected)
        self.code = "source-unavailable"
