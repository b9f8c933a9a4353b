"""The one exception tree of gpufleet.

::

    GpufleetError                 base; never raised itself
    ├── InputError                bad input from a user: exit code 2, HTTP 4xx
    │   ├── ScenarioError         one or more problems in a scenario file (``problems``)
    │   ├── UnknownNameError      a name that is not registered (policy, GPU type, ...)
    │   ├── NotFoundError         no such object in the store: HTTP 404
    │   ├── ConflictError         the object changed or the step is not allowed now: HTTP 409
    │   └── TooManyRequestsError  more than the caller's share (runs, requests): HTTP 429
    ├── AccessError               who is asking may not do it: exit code 3, HTTP 403
    │   ├── UnauthorizedError     no token, or not a valid one: HTTP 401
    │   └── ForbiddenError        a valid token without the right: HTTP 403
    ├── BusyError                 the store stayed locked by other writers: exit code 5, HTTP
    │                             503; nothing changed, try again
    └── InternalError             a broken invariant inside gpufleet: exit code 1, HTTP 500

Every input problem is a :class:`Problem` with data on it: where (file, line, field), what
was wrong, and what would be right. The CLI maps the tree to exit codes in one place
(:func:`exit_code`, every code named in :class:`ExitCode`) and the API to HTTP statuses in
one place (:func:`http_status`). Errors the API returns carry a machine-readable ``code``
besides their message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum


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
        """The message, then each problem on its own indented line."""
        head = str(self.args[0]) if self.args else ""
        if not self.problems:
            return str(self)
        if "\n" in head:  # the message is a copy of a rendering (see ScenarioError)
            return head
        if len(self.problems) == 1 and self.problems[0].render() == head:
            return head  # the message is its one problem: say it once
        lines = [head] + ["  " + p.render() for p in self.problems]
        return "\n".join(lines)


class ScenarioError(InputError):
    """A scenario file has one or more problems; all of them are listed."""

    def __init__(self, file: str, problems: Sequence[Problem]) -> None:
        n = len(problems)
        super().__init__(f"{file or '<scenario>'}: {n} problem{'s' if n != 1 else ''}", problems)
        self.file = file

    def __str__(self) -> str:
        """Every problem, not only their count: an uncaught error in a notebook or a
        traceback shows what is wrong and where (``.args[0]`` keeps the count line)."""
        return self.render()


class UnknownNameError(InputError):
    """A name was given that is not in a registry; the message lists the valid names."""

    def __init__(self, kind: str, name: str, valid: Sequence[str]) -> None:
        super().__init__(f"unknown {kind} {name!r}; valid names: {', '.join(sorted(valid))}")
        self.kind = kind
        self.name = name
        self.valid = tuple(sorted(valid))


class NotFoundError(InputError):
    """No object of that kind and name or id in the store."""

    def __init__(self, kind: str, key: object) -> None:
        super().__init__(f"no {kind} {key!r}")
        self.code = "not-found"
        self.kind = kind
        self.key = key


class ConflictError(InputError):
    """The request is well formed but clashes with the stored state (a name taken, a step
    not allowed from the current state, a concurrent change won first)."""

    def __init__(self, message: str, code: str = "conflict") -> None:
        super().__init__(message)
        self.code = code


class TooManyRequestsError(InputError):
    """The caller asks for more than its share (runs queued, requests per minute): HTTP
    429 with ``Retry-After: retry_after_s``; the same request later may succeed."""

    def __init__(self, message: str, retry_after_s: int, code: str = "rate-limited") -> None:
        super().__init__(message)
        self.code = code
        self.retry_after_s = retry_after_s


class AccessError(GpufleetError):
    """The caller is not allowed to do this."""

    code = "forbidden"


class UnauthorizedError(AccessError):
    """No API token was given, or it is unknown or revoked."""

    code = "unauthorized"


class ForbiddenError(AccessError):
    """A valid token whose role or entity does not allow the request; ``code`` says why."""

    def __init__(self, message: str, code: str = "forbidden") -> None:
        super().__init__(message)
        self.code = code


class BusyError(GpufleetError):
    """The store stayed locked by other writers past a bound: nothing was changed, and
    the same request may succeed later (HTTP 503 with ``Retry-After: retry_after_s``)."""

    code = "busy"

    def __init__(self, message: str, retry_after_s: int = 2) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class InternalError(GpufleetError):
    """An invariant of gpufleet itself broke: a bug, never the user's fault."""


class ExitCode(IntEnum):
    """Every exit code of the ``gpufleet`` command; no command returns a bare number."""

    OK = 0
    INTERNAL = 1  # an InternalError, or any exception gpufleet did not expect
    BAD_INPUT = 2  # an InputError (and argparse's usage errors); the message says where
    NOT_ALLOWED = 3  # an AccessError
    # not an error but a verdict: `audit verify` / `audit checkpoint` found a record, an
    # anchor or a row that does not verify
    BROKEN = 4
    BUSY = 5  # a BusyError: the store stayed locked, nothing changed; run it again
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it)
    PIPE_CLOSED = 141  # stdout's reader went away (`| head`): 128 + SIGPIPE, as shells say


def exit_code(error: BaseException) -> ExitCode:
    """The CLI exit code for an error: 2 bad input, 3 not allowed, 5 the store is busy
    (nothing changed: run it again), 1 anything else. (4, a broken audit chain, is not an
    error but a verdict: ``gpufleet audit verify``.)"""
    if isinstance(error, InputError):
        return ExitCode.BAD_INPUT
    if isinstance(error, BusyError):
        return ExitCode.BUSY
    return ExitCode.NOT_ALLOWED if isinstance(error, AccessError) else ExitCode.INTERNAL


def http_status(error: BaseException) -> int:
    """The HTTP status for an error: 404, 409, 429, 401, 403, 422 for other bad input, 503
    for a busy store, else 500."""
    for kind, status in (
        (BusyError, 503),
        (NotFoundError, 404),
        (ConflictError, 409),
        (TooManyRequestsError, 429),
        (UnauthorizedError, 401),
        (ForbiddenError, 403),
        (AccessError, 403),
        (InputError, 422),
    ):
        if isinstance(error, kind):
            return status
    return 500


def error_code(error: BaseException) -> str:
    """The machine-readable code of an error, for the API's one error shape."""
    code = getattr(error, "code", None)
    if isinstance(code, str):
        return code
    if isinstance(error, ScenarioError):
        return "invalid-plan"
    if isinstance(error, UnknownNameError):
        return "unknown-name"
    return "invalid-input" if isinstance(error, InputError) else "internal-error"
