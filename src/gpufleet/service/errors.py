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
OverflowError (a date past 9999)  422     ``out-of-range``
anything else                     500     ``internal-error`` (logged, never returned)
================================  ======  =====================================

The 500 path is the middleware's, not an exception handler's: Starlette re-raises what
its catch-all handler saw, which a server logs a second time and a test client raises.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gpufleet.errors import GpufleetError, InputError, Problem, error_code, http_status

log = logging.getLogger("gpufleet.service")

MAX_BODY = 1024 * 1024
"""The largest request body accepted, in bytes (1 MiB)."""


def problem_dict(p: Problem) -> dict[str, str]:
    return {"field": p.field, "message": p.message, "expected": p.expected}


def error_body(code: str, message: str, problems: Sequence[Problem] = ()) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "problems": [problem_dict(p) for p in problems],
        }
    }


def error_response(
    status: int,
    code: str,
    message: str,
    problems: Sequence[Problem] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(code, message, problems), status_code=status, headers=headers)


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
        out.append(Problem(field, str(err.get("msg", "invalid")), expected_of(err)))
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


def unsafe_number(scope: Scope, messages: list[Message]) -> str | None:
    """The first number of a JSON body that no column can hold and no JSON reply can
    carry, as written; None when there is none (or the body is not JSON: FastAPI says
    so). Checked here, once, so that every route's models need not."""
    if scope["method"] not in ("POST", "PUT", "PATCH", "DELETE"):
        return None
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
    if not body:
        return None
    try:
        json.loads(body, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except _Unsafe as e:
        return str(e)
    except (ValueError, RecursionError):  # not JSON, or nested too deep: FastAPI says so
        return None
    return None


class GuardMiddleware:
    """A pure ASGI middleware doing three things for every HTTP request:

    1. refuses a body over :data:`MAX_BODY` with 413: at once when ``Content-Length``
       says so, else by counting the bytes as they stream in (the body is buffered, at
       most ``MAX_BODY`` bytes, and replayed to the app);
    2. refuses a JSON body with a number no column can hold (:func:`unsafe_number`);
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
        bad = unsafe_number(scope, messages)
        if bad:
            resp = error_response(
                422,
                "invalid-body",
                "the body: 1 problem",
                [Problem("", f"the number {bad} cannot be stored", SAFE_NUMBER)],
            )
            await resp(scope, receive, send)
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
