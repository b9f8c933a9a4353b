"""The API's docs page at ``/api/docs``, served without any CDN.

FastAPI's default page loads Swagger UI's JavaScript and CSS from a CDN, so offline (or
behind a proxy that blocks it) it is blank. gpufleet ships no copy of Swagger UI: its
files are another project's code, and this repository commits none. So:

- with a folder of Swagger UI's files configured (``gpufleet serve --swagger-ui-dir DIR``
  or ``$GPUFLEET_SWAGGER_UI_DIR``; DIR holds ``swagger-ui-bundle.js`` and
  ``swagger-ui.css``, e.g. the ``dist`` folder of the swagger-ui-dist npm package), the page
  is Swagger UI, its files served by this server from ``/api/docs/assets``;
- without one, the page is a plain reference of our own, made from the OpenAPI schema: each
  operation's method, path and summary, grouped by tag, and a link to the schema itself
  (``/api/openapi.json``, which any OpenAPI viewer reads).
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from gpufleet.errors import InputError

ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css")
ENV_VAR = "GPUFLEET_SWAGGER_UI_DIR"
DOCS = "/api/docs"
SCHEMA = "/api/openapi.json"


def swagger_ui_dir(given: str | None) -> Path | None:
    """The folder of Swagger UI's files: ``given`` (the flag), else ``$GPUFLEET_SWAGGER_UI_DIR``,
    else none. Bad input when it is named but lacks a file the page needs."""
    raw = given or os.environ.get(ENV_VAR)
    if not raw:
        return None
    folder = Path(raw)
    where = "--swagger-ui-dir" if given else f"${ENV_VAR}"
    missing = [name for name in ASSETS if not (folder / name).is_file()]
    if missing:
        raise InputError(
            f"{where} {folder}: no {', '.join(missing)} there (expected a folder holding "
            f"{' and '.join(ASSETS)}, such as swagger-ui-dist's)"
        )
    return folder


def install(app: FastAPI, assets: Path | None) -> None:
    """Add ``/api/docs`` (Swagger UI from ``assets``, else the plain reference)."""
    if assets is not None:
        app.mount(f"{DOCS}/assets", StaticFiles(directory=assets), name="swagger-ui")

    @app.get(DOCS, include_in_schema=False)
    def docs() -> HTMLResponse:
        if assets is None:
            return HTMLResponse(reference_page(app.openapi()))
        return get_swagger_ui_html(
            openapi_url=SCHEMA,
            title=f"{app.title} API",
            swagger_js_url=f"{DOCS}/assets/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS}/assets/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
            oauth2_redirect_url=f"{DOCS}/oauth2-redirect",
        )

    @app.get(f"{DOCS}/oauth2-redirect", include_in_schema=False)
    def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()


def reference_page(schema: dict[str, Any]) -> str:
    """Every operation of ``schema`` as HTML: by tag, then path and method as listed."""
    by_tag: dict[str, list[str]] = {}
    for path, ops in schema.get("paths", {}).items():
        for method, op in ops.items():
            tag = (op.get("tags") or ["other"])[0]
            summary = html.escape(op.get("summary", ""))
            row = f"<tr><td>{method.upper()}</td><td><code>{html.escape(path)}</code></td>"
            by_tag.setdefault(tag, []).append(f"{row}<td>{summary}</td></tr>")
    title = html.escape(f"{schema['info']['title']} API {schema['info']['version']}")
    sections = "".join(
        f"<h2>{html.escape(tag)}</h2><table>{''.join(rows)}</table>" for tag, rows in by_tag.items()
    )
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{title}</title>"
        "</head><body>"
        f"<h1>{title}</h1><p>The OpenAPI schema: <a href={SCHEMA}>{SCHEMA}</a>. "
        "For Swagger UI, start the server with <code>--swagger-ui-dir DIR</code> "
        "(a folder holding swagger-ui-bundle.js and swagger-ui.css; docs/service.md).</p>"
        f"{sections}</body></html>"
    )
