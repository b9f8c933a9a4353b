"""The dashboard's files, without a browser: the page at ``/``, every asset it references
(and every module those import) served with the right type, nothing outside the static
folder reachable, and no script that writes API text as HTML."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gpufleet.governance.store.db import Store
from gpufleet.service import dashboard
from gpufleet.service.app import create_app

STATIC = Path(dashboard.__file__).parent / "static"
HTML_REF = re.compile(r'(?:src|href)="(/static/[^"]+)"')
JS_IMPORT = re.compile(r'^\s*import\s[^;]*?from\s+"([^"]+)"|import\("([^"]+)"\)', re.M)
CSS_URL = re.compile(r'url\(\s*"?(/static/[^")]+)"?\s*\)')
EXPECTED_TYPE = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('dash') / 'fleet.db'}")
    store.upgrade()
    with TestClient(create_app(store, run_worker=False)) as c:
        yield c
    store.dispose()


def referenced(path: str, text: str) -> set[str]:
    """The /static paths a file refers to: the page's src/href, a module's imports
    (relative to the module), a stylesheet's url()s."""
    if path.endswith(".html"):
        return set(HTML_REF.findall(text))
    if path.endswith(".css"):
        return set(CSS_URL.findall(text))
    out = set()
    for a, b in JS_IMPORT.findall(text):
        ref = a or b
        out.add(
            ref
            if ref.startswith("/")
            else posixpath.normpath(posixpath.join(posixpath.dirname(path), ref))
        )
    return out


def test_the_root_serves_the_dashboard_page_under_a_scripts_from_here_only_policy(
    client: TestClient,
) -> None:
    resp = client.get("/")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    assert '<main id="view"' in resp.text
    csp = resp.headers["content-security-policy"]
    # No inline or foreign script may run, whatever text reached the page.
    assert "script-src 'self'" in csp and "object-src 'none'" in csp
    assert resp.headers["x-content-type-options"] == "nosniff"


def test_every_asset_the_page_references_and_every_module_it_imports_is_served(
    client: TestClient,
) -> None:
    seen: set[str] = set()
    todo = referenced("/index.html", client.get("/").text)
    assert "/static/main.js" in todo and "/static/dashboard.css" in todo
    while todo:
        path = todo.pop()
        seen.add(path)
        resp = client.get(path)
        assert resp.status_code == 200, path
        want = EXPECTED_TYPE[Path(path).suffix]
        assert resp.headers["content-type"].startswith(want), (path, resp.headers)
        todo |= referenced(path, resp.text) - seen
    # Every page module is reachable from main.js: no file ships unused, none is missing.
    on_disk = {"/static/" + p for p in dashboard.ASSETS if not p.endswith(".html")}
    assert seen == on_disk


@pytest.mark.parametrize(
    "path",
    [
        "/static/nope.js",
        "/static/%2e%2e/dashboard.py",
        "/static/..%2fdashboard.py",
        "/static/..%2f..%2fstore%2fmodels.py",
        "/static/",
    ],
    ids=["unknown-file", "dot-dot-encoded", "dot-dot-slash-encoded", "deeper", "folder"],
)
def test_paths_outside_the_static_files_get_a_404_in_the_api_error_shape(
    client: TestClient, path: str
) -> None:
    resp = client.get(path)
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] in ("not-found", "unknown-route")


def test_no_script_writes_text_as_html() -> None:
    """API strings reach the page only as text nodes and attribute values (dom.js's h());
    the one HTML sink is the what-if report, shown in a sandboxed frame without scripts."""
    sinks = re.compile(
        r"\.(inner|outer)HTML\b|insertAdjacentHTML|document\.write|\beval\(|new Function\("
    )
    for js in sorted(STATIC.rglob("*.js")):
        text = js.read_text(encoding="utf-8")
        assert not sinks.search(text), js
        if "srcdoc" in text:
            assert js.name == "whatif.js" and 'sandbox: ""' in text, js


def test_the_static_folder_is_flat_so_the_package_data_pattern_ships_every_file() -> None:
    # pyproject.toml's package data has "service/static/*": files of the folder, no subfolder.
    assert [p.name for p in STATIC.iterdir() if not p.is_file()] == []
    assert set(dashboard.ASSETS) == {p.name for p in STATIC.iterdir()}
