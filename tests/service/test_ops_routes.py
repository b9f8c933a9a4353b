"""/healthz, /readyz and /metrics (service/routes/ops.py, service/metrics.py), and the API
docs page served with no CDN (service/apidocs.py), on both store backends."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from gpufleet.cli.main import main
from gpufleet.cli.serve import scrape_secret
from gpufleet.errors import InputError
from gpufleet.governance.store import audit
from gpufleet.governance.store.db import Store
from gpufleet.governance.store.migrate import config, head
from gpufleet.governance.store.models import AccessRole
from gpufleet.service.apidocs import swagger_ui_dir
from gpufleet.service.app import create_app, route_templates
from gpufleet.service.metrics import BUCKETS_S, RequestMetrics, escape, number
from tests.support.api import (
    API,
    TestClient,
    admin_token,
    article_register,
    bearer,
    client,
    make_token,
)

pytest_plugins = ["tests.support.stores"]

TYPE = "text/plain; version=0.0.4; charset=utf-8"
SECRET = "s3cret-scrape-0123456789abcdef"  # what `serve --metrics-token-file` would read


def scraping(store: Store) -> TestClient:
    """A client of an app with a scrape secret, sending it as Prometheus would."""
    app = create_app(store, run_worker=False, metrics_secret=SECRET)
    c = TestClient(app, raise_server_exceptions=False)
    c.headers.update(bearer(SECRET))
    return c


def _samples(body: str) -> dict[str, str]:
    """``name{labels}`` -> value, for every sample line of an exposition."""
    out = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            out[key] = value
    return out


# --- /healthz, /readyz ----------------------------------------------------------------------
def test_healthz_answers_ok_without_a_token(store: Store) -> None:
    r = client(store).get("/healthz")
    assert (r.status_code, r.json()) == (200, {"status": "ok"})


def test_readyz_is_ready_when_the_database_answers_and_the_schema_is_at_head(
    store: Store,
) -> None:
    r = client(store).get("/readyz")
    assert r.status_code == 200
    assert r.json() == {
        "status": "ready",
        "checks": {
            "database": {"ok": True},
            "migrations": {"ok": True, "revision": head(), "head": head()},
        },
    }


def test_readyz_is_503_naming_the_revision_when_the_schema_is_behind(store: Store) -> None:
    newest = head()
    assert newest is not None
    older = ScriptDirectory.from_config(config()).get_revision(newest).down_revision
    assert isinstance(older, str)
    c = client(store)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": older})
    r = c.get("/readyz")
    assert r.status_code == 503
    body = r.json()
    assert (body["status"], body["checks"]["database"]) == ("not-ready", {"ok": True})
    assert body["checks"]["migrations"]["detail"] == (
        f"schema at {older}, expected {newest}: run `gpufleet db upgrade`"
    )


def test_readyz_is_503_when_the_sqlite_file_cannot_be_opened(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    store = Store(f"sqlite:///{db}")
    store.upgrade()
    c = client(store)
    db.unlink()
    db.mkdir()  # a folder where the file was: sqlite cannot open it
    store.engine.dispose()  # no pooled connection to the old file
    r = c.get("/readyz")
    assert r.status_code == 503
    checks = r.json()["checks"]
    # no driver message in the unauthenticated answer: it would name the file's path
    assert checks["database"] == {
        "ok": False,
        "detail": "unreachable (the server's log says why)",
    }
    assert str(tmp_path) not in r.text
    assert checks["migrations"] == {
        "ok": False,
        "detail": "not checked: the database is unreachable",
    }
    store.dispose()


# --- /metrics -------------------------------------------------------------------------------
def test_metrics_count_requests_by_route_template_method_and_status(store: Store) -> None:
    c = scraping(store)
    for _ in range(2):
        assert c.get("/healthz").status_code == 200
    assert c.get(f"{API}/health").status_code == 200
    assert c.get(f"{API}/runs/7").status_code == 401  # the scrape secret is no API token
    assert c.post("/healthz").status_code == 405
    r = c.get("/metrics")
    assert (r.status_code, r.headers["content-type"]) == (200, TYPE)
    s = _samples(r.text)
    count = "gpufleet_http_requests_total"
    assert s[f'{count}{{method="GET",route="/healthz",status="200"}}'] == "2"
    assert s[f'{count}{{method="GET",route="/api/v1/health",status="200"}}'] == "1"
    # the route's template, not the path asked: /runs/7 counts as /runs/{run_id}
    assert s[f'{count}{{method="GET",route="/api/v1/runs/{{run_id}}",status="401"}}'] == "1"
    # a method the route lacks: still the route's template, status 405
    assert s[f'{count}{{method="POST",route="/healthz",status="405"}}'] == "1"
    # the scrape itself is counted once it has been answered, so not in its own answer
    assert not any('route="/metrics"' in k for k in s)


def test_the_metrics_route_templates_are_the_schemas_paths_and_the_pages_left_out_of_it(
    store: Store,
) -> None:
    """The templates are read from the routes, not from a built schema (which took about a
    second per app); oracle: the built schema's paths, plus the dashboard's and the docs
    pages' (left out of the schema), nothing else and nothing twice."""
    app = create_app(store, run_worker=False)
    templates = route_templates(app)
    assert len(templates) == len(set(templates))
    schema = list(app.openapi()["paths"])
    assert len(schema) >= 46  # the whole API (46 paths today), not a part of it
    assert templates[: len(schema)] == schema
    assert not set(templates[len(schema) :]) & set(schema)
    assert "/api/docs" in templates and "/api/openapi.json" not in schema


def test_made_up_paths_and_methods_add_no_labels(store: Store) -> None:
    c = scraping(store)
    for i in range(40):
        c.get(f"/no/such/path/{i}")
    c.request("PROPFIND", "/healthz")
    s = _samples(c.get("/metrics").text)
    unmatched = [k for k in s if k.startswith("gpufleet_http_requests_total") and "unmatched" in k]
    assert s['gpufleet_http_requests_total{method="GET",route="unmatched",status="404"}'] == "40"
    assert s['gpufleet_http_requests_total{method="OTHER",route="/healthz",status="405"}'] == "1"
    assert len(unmatched) == 1


def test_the_latency_histogram_is_cumulative_and_ends_at_its_count(store: Store) -> None:
    c = scraping(store)
    for _ in range(3):
        c.get("/healthz")
    s = _samples(c.get("/metrics").text)
    name = "gpufleet_http_request_duration_seconds"
    buckets = [int(s[f'{name}_bucket{{route="/healthz",le="{number(le)}"}}']) for le in BUCKETS_S]
    assert buckets == sorted(buckets)
    assert s[f'{name}_bucket{{route="/healthz",le="+Inf"}}'] == "3"
    assert s[f'{name}_count{{route="/healthz"}}'] == "3"
    assert float(s[f'{name}_sum{{route="/healthz"}}']) > 0


def test_the_run_queue_and_the_audit_head_are_read_from_the_store(store: Store) -> None:
    article_register(store)  # ... and one queued what-if run (tests/support/api.py)
    with store.read() as s:
        seq, _ = audit.head_of(s)
    assert seq > 0
    got = _samples(scraping(store).get("/metrics").text)
    assert got['gpufleet_run_queue_length{status="queued"}'] == "1"
    assert got['gpufleet_run_queue_length{status="running"}'] == "0"
    assert got["gpufleet_audit_head_seq"] == str(seq)


def test_the_exposition_of_known_observations_line_for_line() -> None:
    m = RequestMetrics()
    # 0.003 s falls in le=0.005; 0.2 in le=0.25; 12 s above every bucket (only +Inf)
    for seconds in (0.003, 0.2, 12.0):
        m.observe("/x", "GET", 200, seconds)
    m.observe('/a"b', "BREW", 418, 0.5)
    lines = m.lines()
    assert lines[2:4] == [
        'gpufleet_http_requests_total{method="OTHER",route="/a\\"b",status="418"} 1',
        'gpufleet_http_requests_total{method="GET",route="/x",status="200"} 3',
    ]
    x = [line for line in lines if 'route="/x"' in line and "duration" in line]
    name = "gpufleet_http_request_duration_seconds"
    # cumulative: 1 up to 0.1, 2 from 0.25 to 10, 3 at +Inf; sum 0.003 + 0.2 + 12 = 12.203
    per_bucket = [1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2]
    les = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10"]
    assert x == [
        *(
            f'{name}_bucket{{route="/x",le="{le}"}} {n}'
            for le, n in zip(les, per_bucket, strict=True)
        ),
        f'{name}_bucket{{route="/x",le="+Inf"}} 3',
        f'{name}_sum{{route="/x"}} 12.203',
        f'{name}_count{{route="/x"}} 3',
    ]


def test_label_values_escape_backslash_quote_and_newline() -> None:
    assert escape('a\\b"c\nd') == 'a\\\\b\\"c\\nd'


def test_every_metric_has_help_and_type_lines(store: Store) -> None:
    body = scraping(store).get("/metrics").text
    names = set(re.findall(r"^# TYPE (\S+) (counter|gauge|histogram)$", body, re.M))
    assert {n for n, _ in names} == {
        "gpufleet_http_requests_total",
        "gpufleet_http_request_duration_seconds",
        "gpufleet_run_queue_length",
        "gpufleet_audit_head_seq",
    }
    for n, _ in names:
        assert f"# HELP {n} " in body


# --- who may scrape /metrics -----------------------------------------------------------------
def test_metrics_without_a_token_is_401_saying_how_to_scrape(store: Store) -> None:
    for c in (client(store), scraping(store)):
        c.headers.pop("Authorization", None)
        r = c.get("/metrics")
        assert r.status_code == 401
        assert "--metrics-token-file" in r.text
        assert "gpufleet_audit_head_seq" not in r.text


@pytest.mark.parametrize(
    "sent",
    [
        SECRET[:-1],  # one character short
        SECRET + "x",  # one too many
        SECRET.upper(),
        "gf_not-a-token",
    ],
)
def test_a_wrong_scrape_secret_is_401(store: Store, sent: str) -> None:
    c = scraping(store)
    r = c.get("/metrics", headers=bearer(sent))
    assert r.status_code == 401
    assert "gpufleet_" not in r.text


def test_without_a_configured_secret_no_guess_opens_metrics(store: Store) -> None:
    # an app without a secret: an empty or made-up bearer is never taken for it
    c = client(store)
    for sent in ("", "None", SECRET):
        assert c.get("/metrics", headers={"Authorization": f"Bearer {sent}"}).status_code in (
            401,
            403,
        )


def test_api_tokens_other_than_fleet_admin_may_not_scrape(store: Store) -> None:
    article_register(store)
    c = client(store)
    viewer = make_token(store, AccessRole.VIEWER, entity="tesla", name="v")
    r = c.get("/metrics", headers=bearer(viewer))
    assert r.status_code == 403
    assert "fleet-admin" in r.text
    r = c.get("/metrics", headers=bearer(admin_token(store)))
    assert (r.status_code, r.headers["content-type"]) == (200, TYPE)
    assert "gpufleet_audit_head_seq" in r.text


def test_the_scrape_secret_file_is_checked_before_serving(tmp_path: Path) -> None:
    good = tmp_path / "good"
    good.write_text(SECRET + "\n")
    assert scrape_secret(str(good)) == SECRET  # one line, the newline stripped
    assert scrape_secret(None) is None
    for name, body in (("short", "abc123"), ("two-lines", f"{SECRET}\n{SECRET}"), ("empty", "")):
        f = tmp_path / name
        f.write_text(body)
        with pytest.raises(InputError, match="at least 16 characters"):
            scrape_secret(str(f))
    with pytest.raises(InputError, match="cannot be read"):
        scrape_secret(str(tmp_path / "absent"))


def test_serve_with_an_unreadable_secret_file_exits_2_before_opening_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "g.db"
    code = main(["serve", "--db", f"sqlite:///{db}", "--metrics-token-file", str(tmp_path / "x")])
    assert code == 2
    assert "--metrics-token-file" in capsys.readouterr().err
    assert not db.exists()


# --- /api/docs without a CDN ------------------------------------------------------------------
def test_the_docs_page_without_swagger_files_is_a_plain_reference_with_no_script(
    store: Store,
) -> None:
    r = client(store).get("/api/docs")
    assert r.status_code == 200
    page = r.text
    assert "<script" not in page and "cdn" not in page.lower()
    assert "<code>/api/v1/transfers</code>" in page and "<code>/readyz</code>" in page
    assert "href=/api/openapi.json" in page


def test_the_docs_page_with_a_swagger_folder_serves_swagger_ui_from_this_server(
    store: Store, tmp_path: Path
) -> None:
    assets = tmp_path / "swagger"
    assets.mkdir()
    # stand-ins written here (the real files are swagger-ui-dist's): the server serves them
    (assets / "swagger-ui-bundle.js").write_text("window.SwaggerUIBundle = 1;\n")
    (assets / "swagger-ui.css").write_text("body {}\n")
    c = TestClient(create_app(store, run_worker=False, swagger_ui_dir=swagger_ui_dir(str(assets))))
    page = c.get("/api/docs").text
    assert "/api/docs/assets/swagger-ui-bundle.js" in page
    assert "/api/docs/assets/swagger-ui.css" in page
    assert "cdn.jsdelivr.net" not in page and "https://" not in page.split("<body>")[0]
    asset = c.get("/api/docs/assets/swagger-ui-bundle.js")
    assert (asset.status_code, asset.text) == (200, "window.SwaggerUIBundle = 1;\n")
    assert c.get("/api/docs/assets/../../../etc/passwd").status_code == 404


def test_a_swagger_folder_without_its_files_is_bad_input_naming_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(InputError, match=r"no swagger-ui-bundle\.js, swagger-ui\.css there"):
        swagger_ui_dir(str(tmp_path))
    monkeypatch.setenv("GPUFLEET_SWAGGER_UI_DIR", str(tmp_path))
    (tmp_path / "swagger-ui.css").write_text("")
    assert main(["serve", "--db", f"sqlite:///{tmp_path}/g.db"]) == 2
    err = capsys.readouterr().err
    assert f"$GPUFLEET_SWAGGER_UI_DIR {tmp_path}: no swagger-ui-bundle.js there" in err


def test_the_docs_oauth2_redirect_page_is_served_locally(store: Store) -> None:
    r = client(store).get("/api/docs/oauth2-redirect")
    assert r.status_code == 200 and "<script" in r.text and "https://" not in r.text


@pytest.fixture(autouse=True)
def _no_swagger_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GPUFLEET_SWAGGER_UI_DIR", raising=False)
