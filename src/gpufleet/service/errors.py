"""The API's one error shape, and the handlers that give every error it.

Every error the API returns, whatever raised it, is::

    {"error": {"code": "<machine code>", "message": "<a sentence>",
               "problems": [{"field": ..., "message": ..., "expected": ...}]}}

================================  ======  =====================================
raised                            status  code
================================  ======  =====================================
gpufleet's own errors             errors.http_status  errors.error_code
a body that does not fit its      422     ``invalid-body``
model (RequestValidationError)
a bad query or path parameter     422     ``invalid-parameter``
a body that is not JSON           400     ``malformed-json``
a body sent without a JSON        415     ``unsupported-media-type``
content type
a body over :data:`MAX_BODY`      413     ``body-too-large`` (:class:`GuardMiddleware`)
no such route                     404     ``unknown-route``
a route without that method       405     ``method-not-allowed``
a database constraint             409     ``conflict``
a value the database refuses      422     ``unstorable-value``
(a NUL in text, an int too big)
a JSON number no column holds     422     ``invalid-body`` (:class:`GuardMiddleware`)
(NaN, Infinity, |int| > 2^53)
a JSON string that is not text    422     ``invalid-body`` (:class:`GuardMiddleware`)
(a lone surrogate, ``"\ud800"``)
JSON nested over MAX_JSON_DEPTH   422     ``invalid-body`` (:class:`GuardMiddleware`)
a JSON body that is not UTF-8     400     ``malformed-json`` (:class:`GuardMiddleware`)
a store locked past its bound     503     ``busy``, with ``Retry-After``
(BusyError, "database is locked",
a PostgreSQL lock timeout,
deadlock or serialization failure)
the database out of reach         503     ``database-unavailable``, with ``Retry-After``
(another OperationalError)
OverflowError (a date past 9999)  422     ``out-of-range``
anything else                     500     ``internal-error`` (logged, never returned)
================================  ======  =====================================

Error bodies are encoded so that no text can break them: a character UTF-8 cannot hold
is written as its escape (:class:`ErrorJSON`).

The 500 path is the middleware's, not an exception handler's: Starlette re-raises what
its catch-all handler saw, which a server logs a second time and a test client raises.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gpufleet.errors import (
    BusyError,
    GpufleetError,
    InputError,
    Problem,
    TooManyRequestsError,
    error_code,
    http_status,
)
from gpufleet.governance.store.db import RETRY_AFTER_S, is_busy

log = logging.getLogger("gpufleet.service")

MAX_BODY = 1024 * 1024
"""The largest request body accepted, in bytes (1 MiB)."""


def problem_dict(p: Problem) -> dict[str, str]:
    """A problem as the API gives it; one found in a file (a scenario's YAML text) says
    its line in the message."""
    message = f"line {p.line}: {p.message}" if p.line is not None else p.message
    return {"field": p.field, "message": message, "expected": p.expected}


def error_body(code: str, message: str, problems: Sequence[Problem] = ()) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "problems": [problem_dict(p) for p in problems],
        }
    }


class ErrorJSON(JSONResponse):
    """A JSON response that any text can go into: an error may quote what a request sent,
    and a lone surrogate in it would make Starlette's UTF-8 encoding raise (a 500 while
    reporting a 4xx). Such a character is written as its ``\\udXXX`` escape."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return text.encode("utf-8", errors="backslashreplace")


def error_response(
    status: int,
    code: str,
    message: str,
    problems: Sequence[Problem] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return ErrorJSON(error_body(code, message, problems), status_code=status, headers=headers)


# --- pydantic's errors as problems ------------------------------------------------------

_EXPECTED = {
    "missing": "a value",
    "extra_forbidden": "only the fields the schema names (see /api/openapi.json)",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
    "string_type": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "list_type": "a list",
    "date_type": "a date (YYYY-MM-DD)",
    "date_parsing": "a date (YYYY-MM-DD)",
    "date_from_datetime_parsing": "a date (YYYY-MM-DD)",
    "datetime_type": "a date and time (YYYY-MM-DDTHH:MM)",
    "datetime_parsing": "a date and time (YYYY-MM-DDTHH:MM)",
    "datetime_from_date_parsing": "a date and time (YYYY-MM-DDTHH:MM)",
    "string_pattern_mismatch": (
        "a name of letters, digits, '.', '_' or '-', starting with a letter or digit"
    ),
    "json_invalid": "a JSON document",
}
_BOUNDS = {
    "greater_than": "greater than {gt}",
    "greater_than_equal": "{ge} or more",
    "less_than": "less than {lt}",
    "less_than_equal": "{le} or less",
    "string_too_short": "at least {min_length} character(s)",
    "string_too_long": "at most {max_length} characters",
    "too_short": "at least {min_length} item(s)",
    "too_long": "at most {max_length} items",
}


def expected_of(err: dict[str, Any]) -> str:
    """What would be right, in words, for one of pydantic's errors."""
    kind = str(err.get("type", ""))
    ctx = err.get("ctx") or {}
    if kind in _BOUNDS:
        try:
            return _BOUNDS[kind].format(
                **{k: f"{v:g}" if isinstance(v, float) else v for k, v in ctx.items()}
            )
        except KeyError:
            pass
    if "expected" in ctx:
        return str(ctx["expected"])
    return _EXPECTED.get(kind, "")


def problems_of(errors: Sequence[Any]) -> list[Problem]:
    """One problem per error: its field path (without pydantic's ``body``/``query``
    prefix), pydantic's message, and what would be right."""
    out: list[Problem] = []
    for err in errors:
        loc = [str(x) for x in err.get("loc", ())]
        where = loc[0] if loc else ""
        path = loc[1:] if where in ("body", "query", "path", "header") else loc
        field = ".".join(path) or where
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        out.append(Problem(field, message, expected_of(err)))
    return out


# --- handlers ---------------------------------------------------------------------------


async def on_gpufleet_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GpufleetError)
    status = http_status(exc)
    problems = exc.problems if isinstance(exc, InputError) else ()
    if status == 500:
        log.error("internal error", exc_info=exc)
        return error_response(500, "internal-error", "internal error; see the server log")
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if isinstance(exc, TooManyRequestsError | BusyError):
        headers = {"Retry-After": str(exc.retry_after_s)}
    return error_response(status, error_code(exc), str(exc), problems, headers)


def _is_bytes(err: Any) -> bool:
    return isinstance(err.get("input"), bytes | bytearray)


async def on_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    bad_json = [e for e in errors if e.get("type") == "json_invalid"]
    if bad_json:
        e = bad_json[0]
        detail = (e.get("ctx") or {}).get("error", "not JSON")
        where = e.get("loc", ("body", 0))[-1]
        msg = f"the body is not valid JSON: {detail} at character {where}"
        return error_response(400, "malformed-json", msg, problems_of(bad_json))
    raw = [e for e in errors if tuple(e.get("loc", ())) == ("body",) and _is_bytes(e)]
    if raw:
        got = _request.headers.get("content-type") or "none"
        return error_response(
            415,
            "unsupported-media-type",
            f"the body must be JSON sent with 'Content-Type: application/json' (got {got})",
        )
    in_body = any(e.get("loc", ("",))[0] == "body" for e in errors)
    problems = problems_of(errors)
    n = len(problems)
    what = "the body" if in_body else "the request's parameters"
    return error_response(
        422,
        "invalid-body" if in_body else "invalid-parameter",
        f"{what}: {n} problem{'s' if n != 1 else ''}",
        problems,
    )


_HTTP_CODES = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "unknown-route",
    405: "method-not-allowed",
    413: "body-too-large",
    415: "unsupported-media-type",
}


async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http-error")
    if exc.status_code == 404:
        msg = f"no route {request.method} {request.url.path} (see /api/docs)"
    elif exc.status_code == 405:
        msg = f"{request.url.path} does not take {request.method}"
    else:
        msg = str(exc.detail)
    return error_response(exc.status_code, code, msg, headers=exc.headers)


async def on_integrity_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, IntegrityError)
    log.info("integrity error turned into 409: %s", exc.orig)
    return error_response(
        409, "conflict", "the change clashes with stored data (a name or key already taken)"
    )


async def on_data_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DataError)
    log.info("data error turned into 422: %s", exc.orig)
    return error_response(
        422,
        "unstorable-value",
        "a value cannot be stored: a number out of the column's range, or text with a NUL "
        "character",
    )


async def on_operational_error(_request: Request, exc: Exception) -> JSONResponse:
    """The database said no for reasons of its own: locked by other writers past the
    bound (503 ``busy``: the same request may succeed later), or out of reach (503
    ``database-unavailable``, logged). Never a 500: nothing in the request was wrong."""
    assert isinstance(exc, OperationalError)
    retry = {"Retry-After": str(RETRY_AFTER_S)}
    if is_busy(exc):
        log.info("busy database turned into 503: %s", exc.orig)
        return error_response(
            503, "busy", "the register is busy with other writes; try again", headers=retry
        )
    log.error("database error turned into 503", exc_info=exc)
    return error_response(
        503,
        "database-unavailable",
        "the database cannot be reached or refused the operation; try again later",
        headers=retry,
    )


async def on_pool_timeout(_request: Request, exc: Exception) -> JSONResponse:
    """Every database connection stayed in use past the pool's timeout: a 503 ``busy``."""
    log.warning("connection pool timeout turned into 503: %s", exc)
    return error_response(
        503,
        "busy",
        "the service is busy: no database connection came free in time; try again",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


async def on_overflow(_request: Request, exc: Exception) -> JSONResponse:
    """Python's own range errors (a date past year 9999, an int SQLite cannot bind) come
    from values a request carried, not from a broken invariant: a 422 that says so."""
    log.info("overflow turned into 422", exc_info=exc)
    return error_response(
        422, "out-of-range", f"a number or date in the request is out of range ({exc})"
    )


def install(app: FastAPI) -> None:
    """Register the handlers on ``app`` and wrap it in :class:`GuardMiddleware`."""
    app.add_exception_handler(GpufleetError, on_gpufleet_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(IntegrityError, on_integrity_error)
    app.add_exception_handler(DataError, on_data_error)
    app.add_exception_handler(OverflowError, on_overflow)
    app.add_exception_handler(OperationalError, on_operational_error)
    app.add_exception_handler(PoolTimeout, on_pool_timeout)
    app.add_middleware(GuardMiddleware)


# --- the guard: body size and the last resort --------------------------------------------


MAX_JSON_INT = 2**53 - 1
SAFE_NUMBER = f"a finite number; an integer from -{MAX_JSON_INT} to {MAX_JSON_INT}"


class _Unsafe(ValueError):
    pass


def _int(text: str) -> int:
    if len(text.lstrip("-")) > 16:  # more digits than 2^53 has; int() may refuse them
        raise _Unsafe(text[:20] + ("..." if len(text) > 20 else ""))
    v = int(text)
    if abs(v) > MAX_JSON_INT:
        raise _Unsafe(text)
    return v


def _float(text: str) -> float:
    v = float(text)
    if v in (float("inf"), float("-inf")):
        raise _Unsafe(text)
    return v


def _constant(text: str) -> float:
    raise _Unsafe(text)  # NaN, Infinity, -Infinity: Python's json reads them, JSON has none


MAX_JSON_DEPTH = 32
"""Objects and lists nested deeper than this in a body are refused (a body nests 6 at
most; Python's json gives up with RecursionError near 1,000)."""
_SURROGATE = re.compile("[\ud800-\udfff]")


def _is_json(scope: Scope) -> bool:
    """Whether FastAPI would read the body as JSON: no content type, or a JSON one."""
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            kind = str(value.decode("latin-1")).split(";")[0].strip().lower()
            return kind.startswith("application/") and kind.endswith(("/json", "+json"))
    return True


def body_problem(scope: Scope, messages: list[Message]) -> tuple[int, str, str, Problem] | None:
    """What in a JSON body no route can take, as (status, code, message, problem); None
    when nothing (or the body is not JSON: FastAPI says so). Checked here, once, for
    every route, with the field's path, so that no model needs to:

    - a number no column can hold and no JSON reply can carry (NaN, Infinity, an integer
      past 2^53);
    - a string or key that is not text: a lone surrogate (``"\\ud800"``), which JSON's
      escapes allow and UTF-8 cannot encode;
    - nesting deeper than :data:`MAX_JSON_DEPTH`;
    - bytes that are not UTF-8."""
    if scope["method"] not in ("POST", "PUT", "PATCH", "DELETE"):
        return None
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
    if not body or not _is_json(scope):
        return None
    try:
        value = json.loads(body, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except _Unsafe as e:
        return _invalid("", f"the number {e} cannot be stored", SAFE_NUMBER)
    except RecursionError:
        return _too_deep("")
    except UnicodeDecodeError as e:
        problem = Problem("", f"byte {e.start} is not UTF-8 ({e.reason})", "UTF-8 JSON")
        return 400, "malformed-json", f"the body is not UTF-8 JSON: {problem.message}", problem
    except ValueError:  # not JSON: FastAPI says where
        return None
    return _walk(value)


def _invalid(field: str, message: str, expected: str) -> tuple[int, str, str, Problem]:
    return 422, "invalid-body", "the body: 1 problem", Problem(field, message, expected)


def _too_deep(field: str) -> tuple[int, str, str, Problem]:
    return _invalid(
        field,
        f"objects and lists are nested more than {MAX_JSON_DEPTH} levels deep",
        f"at most {MAX_JSON_DEPTH} levels",
    )


def _walk(value: object) -> tuple[int, str, str, Problem] | None:
    """The first string that is not text, or the first place nested too deep, in a
    parsed body (iteratively: a deep body must not overflow the stack here either)."""
    stack: list[tuple[object, tuple[str, ...]]] = [(value, ())]
    while stack:
        v, path = stack.pop()
        field = ".".join(path)
        if len(path) > MAX_JSON_DEPTH:
            return _too_deep(field)
        if isinstance(v, str) and _SURROGATE.search(v):
            return _invalid(field, _NOT_TEXT, "text (a lone surrogate is half a character)")
        if isinstance(v, dict):
            for k, x in reversed(v.items()):
                if _SURROGATE.search(k):
                    where = ".".join((*path, k.encode("utf-8", "backslashreplace").decode()))
                    return _invalid(where, f"the key {_NOT_TEXT}", "a key of text")
                stack.append((x, (*path, k)))
        elif isinstance(v, list):
            stack.extend((x, (*path, str(i))) for i, x in reversed(list(enumerate(v))))
    return None


_NOT_TEXT = "contains a lone surrogate (U+D800 to U+DFFF), which is not text"


class GuardMiddleware:
    """A pure ASGI middleware doing three things for every HTTP request:

    1. refuses a body over :data:`MAX_BODY` with 413: at once when ``Content-Length``
       says so, else by counting the bytes as they stream in (the body is buffered, at
       most ``MAX_BODY`` bytes, and replayed to the app);
    2. refuses a JSON body with a number no column can hold, a string that is not text
       or nesting too deep (:func:`body_problem`);
    3. turns an exception nothing else handled into a 500 ``internal-error`` response,
       logging the traceback, when no response has started yet.
    """

    def __init__(self, app: ASGIApp, max_body: int = MAX_BODY) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._declared_too_large(scope):
            await self._too_large(send)
            return
        messages, size = await self._read_body(receive)
        if size > self.max_body:
            await self._too_large(send)
            return
        bad = body_problem(scope, messages)
        if bad:
            status, code, message, problem = bad
            await error_response(status, code, message, [problem])(scope, receive, send)
            return
        started = False

        async def replay() -> Message:
            if messages:
                return messages.pop(0)
            return await receive()

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, replay, watch)
        except Exception as exc:
            log.error("unhandled error in %s %s", scope["method"], scope["path"], exc_info=exc)
            if started:
                raise
            resp = error_response(500, "internal-error", "internal error; see the server log")
            await resp(scope, receive, send)

    def _declared_too_large(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    return int(value) > self.max_body
                except ValueError:
                    return False
        return False

    async def _read_body(self, receive: Receive) -> tuple[list[Message], int]:
        """Read the body's messages until its end or one byte past the limit."""
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages, size
            size += len(message.get("body", b""))
            if size > self.max_body or not message.get("more_body", False):
                return messages, size

    async def _too_large(self, send: Send) -> None:
        body = json.dumps(
            error_body(
                "body-too-large",
                f"the request body is over {self.max_body} bytes (1 MiB); send less",
            )
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
