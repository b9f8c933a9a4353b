"""The web dashboard: one HTML page at ``/`` and its static files under ``/static``.

The dashboard is a small single-page app (plain ES modules, no build step, nothing
fetched from elsewhere) that calls the REST API under ``/api/v1`` with the token the user
pastes; the server only hands out files. They are served from this package's ``static``
folder through an allow-list built at import (every file there, by its path), so no
request path reaches the file system. The page's Content-Security-Policy allows scripts
from this origin only: text from the API is put into the page as text, and even markup
that slipped through could not run. Styles may be inline because a what-if report (its
own HTML, with a ``<style>`` and data-URI plots) is shown in a sandboxed ``srcdoc`` frame,
which inherits the page's policy.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from gpufleet.errors import NotFoundError

STATIC = Path(__file__).parent / "static"

MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}

CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "frame-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'self'",
    )
)

HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _assets() -> dict[str, Path]:
    """Every servable file, by name. The folder is flat on purpose: the package data
    pattern ``service/static/*`` (pyproject.toml) ships its files, not subfolders."""
    return {p.name: p for p in sorted(STATIC.iterdir()) if p.is_file() and p.suffix in MEDIA_TYPES}


ASSETS = _assets()

router = APIRouter(include_in_schema=False)


@router.get("/")
def index() -> Response:
    """The dashboard's one page; the app inside routes by the URL's ``#`` part."""
    headers = dict(HEADERS, **{"Content-Security-Policy": CSP})
    return FileResponse(STATIC / "index.html", media_type=MEDIA_TYPES[".html"], headers=headers)


@router.get("/static/{path:path}")
def static_file(path: str) -> Response:
    """A file of the dashboard (script, stylesheet, icon); 404 for anything else."""
    file = ASSETS.get(path)
    if file is None:
        raise NotFoundError("dashboard file", path)
    return FileResponse(file, media_type=MEDIA_TYPES[file.suffix], headers=HEADERS)
