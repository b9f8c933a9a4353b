"""The dashboard's Live page end to end: a real ``gpufleet serve`` over a SQLite register
with three stored samples (tests/service/live_fleet.py: the scene, an hour apart, the
last 5 minutes ago, so the page's default one-day window holds all three), driven by
headless Chromium through Playwright (``GPUFLEET_TEST_CHROMIUM``, default
/usr/bin/chromium). Screenshots go to the test's tmp dir, each checked not to be blank.

The numbers the page must show, hand-computed (3 samples x 1 h; a stranded or idle
GPU-day costs the plan's 24 x $2 = $48):

- tesla: 8 A100 down at buffalo: stranded now 8, 8 x 3 h / 24 = 1 GPU-day = $48;
  memphis's 2 idle H100: 2 x 3 / 24 = 0.25 GPU-day = $12; 6 in use: 0.75 GPU-day;
- xai: 4 H100 up and unallocated: idle now 4, 0.5 GPU-day = $24; 4 in use: 0.5;
- spacex: 8 in use: 1 GPU-day; nothing wasted;
- the fleet: in use now 6 + 4 + 8 = 18, idle now 2 + 4 = 6, stranded now 8; stranded
  $48 over 1 GPU-day, idle $12 + $24 = $36 over 0.75 GPU-day.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from gpufleet.governance.store.db import Store
from gpufleet.live.observation import Observation, SourceFailure
from gpufleet.live.store import ingest
from tests.service.live_fleet import (
    HOUR_S,
    KUBE_ERROR,
    LAST,
    TIMES,
    live_fleet,
    scene,
    seed_register,
)
from tests.service.test_dashboard_browser import CHROMIUM_ARGS, shoot
from tests.service.test_live_worker import serve, wait_for, write_config
from tests.support.servers import Server, start_server

CHROMIUM = Path(os.environ.get("GPUFLEET_TEST_CHROMIUM", "/usr/bin/chromium"))
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"no Chromium at {CHROMIUM} (Debian package 'chromium'; CI installs it)",
)
UI_TIMEOUT_MS = 10_000
LOCAL = "http://127.0.0.1:"  # the served dashboard; a request anywhere else fails the test


@dataclass(frozen=True)
class Served:
    server: Server
    tokens: dict[str, str]

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("live-dashboard")
    fleet = live_fleet(f"sqlite:///{folder / 'fleet.db'}")
    server = start_server(fleet.db_url, folder, worker=False)
    try:
        yield Served(server, fleet.tokens)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh context; uncaught script errors and requests to anywhere else fail it."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    errors: list[str] = []
    elsewhere: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "request",
        lambda r: None if r.url.startswith("http://127.0.0.1") else elsewhere.append(r.url),
    )
    try:
        yield page
    finally:
        context.close()
    assert not errors, errors
    assert not elsewhere, elsewhere


def open_live(page: Page, served: Served, who: str, samples: int = 3) -> None:
    page.goto(served.url + "/#/signin")
    page.fill("#token-input", served.tokens[who])
    page.click("#signin-form button[type=submit]")
    page.wait_for_url("**/#/fleet")
    page.click("#nav a[data-route=live]")
    page.wait_for_url("**/#/live")
    expect(page.locator("#live-line")).to_contain_text(f"{samples} sample(s) in the window")


def row(page: Page, attr: str, name: str, cls: str) -> str:
    return page.locator(f"tr[data-{attr}='{name}'] .{cls}").inner_text()


def test_the_live_page_shows_the_fleets_numbers_exactly_as_hand_computed(
    page: Page, served: Served, tmp_path: Path
) -> None:
    open_live(page, served, "root")
    expect(page.locator("#live-line")).to_contain_text(f"Last observed {LAST:%Y-%m-%d %H:%M} UTC")
    kpis = {k: page.locator(f"#kpi-{k}").inner_text() for k in ("in-use", "idle", "stranded")}
    assert kpis == {"in-use": "18", "idle": "6", "stranded": "8"}
    expect(page.locator("#kpi-stranded-usd")).to_have_text("$48")
    expect(page.locator("#kpi-stranded-days")).to_have_text("1 GPU-days over the window")
    expect(page.locator("#kpi-idle-usd")).to_have_text("$36")
    expect(page.locator("#kpi-idle-days")).to_have_text("0.75 GPU-days over the window")
    tesla = {c: row(page, "entity", "tesla", c) for c in ("in-use-now", "idle-now", "stranded-now")}
    assert tesla == {"in-use-now": "6", "idle-now": "2", "stranded-now": "8"}
    tesla_days = {
        c: row(page, "entity", "tesla", c)
        for c in ("in-use-days", "idle-days", "idle-usd", "stranded-days", "stranded-usd")
    }
    assert tesla_days == {
        "in-use-days": "0.75",
        "idle-days": "0.25",
        "idle-usd": "$12",
        "stranded-days": "1",
        "stranded-usd": "$48",
    }
    assert (row(page, "entity", "xai", "idle-days"), row(page, "entity", "xai", "idle-usd")) == (
        "0.5",
        "$24",
    )
    assert row(page, "entity", "spacex", "in-use-days") == "1"
    assert row(page, "site", "buffalo", "stranded-usd") == "$48"
    # the trend: one line per entity, three points each (minute resolution over a day)
    chart = page.locator("#live-trend-chart svg")
    expect(chart.locator("g[data-series]")).to_have_count(3)
    expect(chart.locator("g[data-series=tesla] circle")).to_have_count(3)
    # pending demand with the reasons, drift, the down node, the failed source
    grok = page.locator("tr[data-program=grok]")
    expect(grok).to_contain_text("waiting-for-quota")
    expect(grok).to_contain_text("AssocGrpGRES")
    expect(grok.locator(".demand-gpus")).to_have_text("4")
    expect(page.locator("tr[data-program=starlink-ml]")).to_contain_text("Resources")
    expect(page.locator("#drift-list")).to_contain_text(
        "grok: a cap of 4 in force (account xai), the plan's quota is 8 GPUs (all types)"
    )
    expect(page.locator("tr[data-node=gf-a100-1] .down-reason")).to_have_text("no power")
    expect(page.locator("tr[data-source=kubernetes]")).to_contain_text("starlink-ml")
    expect(page.locator("tr[data-source=kubernetes] td").nth(3)).to_have_text("3")
    error = page.locator("tr[data-source=kubernetes] .failure-error")
    expect(error).to_have_text(KUBE_ERROR)  # the markup shown as text, never run
    assert error.evaluate("e => e.children.length") == 0
    assert page.evaluate("window.__pwned") is None
    lease = page.locator("tr[data-from=tesla][data-to=xai]")
    # whole nodes: min(ceil(4 asked / 8 a node), floor(8 stranded / 8), 1 node) = 8 GPUs
    expect(lease.locator(".suggested-gpus")).to_have_text("8 A100-80GB")
    expect(page.locator("#observe-now")).to_have_count(0)  # this server has no sources
    shoot(page, tmp_path, "live-fleet-admin")


def test_tesla_sees_its_own_numbers_and_the_lease_link_fills_in_the_request_form(
    page: Page, served: Served, tmp_path: Path
) -> None:
    open_live(page, served, "tom")
    expect(page.locator("tr[data-entity]")).to_have_count(3)  # 1 totals + 2 capacity rows
    expect(page.locator("tr[data-entity=xai]")).to_have_count(0)
    expect(page.locator("#kpi-in-use")).to_have_text("6")
    expect(page.locator("#kpi-idle-usd")).to_have_text("$12")
    expect(page.locator("tr[data-program]")).to_have_count(0)  # tesla's programs wait for none
    # spacex's program named in the source's error is hidden from tesla
    expect(page.locator("tr[data-source=kubernetes]")).to_contain_text("<another entity's>")
    expect(page.locator("tr[data-source=kubernetes]")).not_to_contain_text("starlink-ml")
    shoot(page, tmp_path, "live-tesla")

    page.click("tr[data-from=tesla][data-to=xai] a.request-lease")
    page.wait_for_url("**/#/transfers?*")
    today = datetime.now(UTC).date()  # the suggestion starts at the window's end, now
    expect(page.locator("#req-pool")).to_have_value("buffalo-a100")
    expect(page.locator("#req-gpus")).to_have_value("8")
    expect(page.locator("#req-to")).to_have_value("xai")
    expect(page.locator("#req-site")).to_have_value("colossus")
    expect(page.locator("#req-program")).to_have_value("grok")
    expect(page.locator("#req-start")).to_have_value(today.isoformat())
    expect(page.locator("#req-end")).to_have_value((today + timedelta(days=30)).isoformat())
    expect(page.locator("#req-note")).to_have_value(
        re.compile("stranded for 3.0 h while grok waits")
    )
    shoot(page, tmp_path, "live-lease-request")


def test_xai_sees_the_lease_and_that_tesla_requests_it(page: Page, served: Served) -> None:
    open_live(page, served, "xai-viewer")
    lease = page.locator("tr[data-from=tesla][data-to=xai]")
    expect(lease).to_contain_text("tesla requests it")
    expect(lease.locator("a.request-lease")).to_have_count(0)


def test_spacex_sees_no_lease_between_the_others(page: Page, served: Served) -> None:
    open_live(page, served, "spacex-viewer")
    expect(page.locator("tr[data-from]")).to_have_count(0)
    expect(page.locator("#kpi-in-use")).to_have_text("8")
    expect(page.locator("#kpi-stranded-usd")).to_have_text("$0")


def test_a_fleet_admin_observes_now_and_sees_the_sources_that_failed(
    browser: Browser, tmp_path: Path
) -> None:
    """A server with a live configuration whose two sources fail for real (the poller's
    test: tests/service/test_live_worker.py); its first cycle runs at start, an hour is
    its period, and "Observe now" adds the second sample."""
    url = f"sqlite:///{tmp_path / 'observed.db'}"
    store = Store(url)
    store.upgrade()
    tokens = seed_register(store)
    store.dispose()
    # asked observations at most one a second (the configuration's min_interval)
    server = serve(url, write_config(tmp_path, every="1h", min_interval="1s"), tmp_path)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        server.wait_ready()
        root = {"Authorization": f"Bearer {tokens['root']}"}

        def cycles() -> int:
            st = httpx.get(server.url + "/api/v1/live/status", headers=root, timeout=10).json()
            return int(st["poller"]["cycles"])

        wait_for("the first cycle", lambda: cycles() >= 1)
        time.sleep(1.1)  # past min_interval, and an observation's sample is one per second
        page = context.new_page()
        page.set_default_timeout(UI_TIMEOUT_MS)
        open_live(page, Served(server, tokens), "root", samples=1)
        expect(page.locator("tr[data-source=slurm]")).to_contain_text("configuration file")
        expect(page.locator("tr[data-source=prometheus]")).to_be_visible()
        page.click("#observe-now")
        expect(page.locator("#live-line")).to_contain_text("2 sample(s) in the window")
        expect(page.locator("tr[data-source=slurm] td").nth(3)).to_have_text("2")
        shoot(page, tmp_path, "live-observed")
    finally:
        context.close()
        server.stop()


# --- telemetry missing ------------------------------------------------------------------

PROMETHEUS_ERROR = "GET http://127.0.0.1:9/api/v1/query: connection refused"


def blind(at: datetime) -> Observation:
    """The scene with Prometheus failing: every busy, idle and unmeasured count unknown."""
    seen = scene(at)
    return replace(
        seen,
        capacity=tuple(
            replace(c, busy=None, idle=None, unmeasured=None, unscheduled=None)
            for c in seen.capacity
        ),
        usage=tuple(replace(u, busy=None, idle=None, unmeasured=None) for u in seen.usage),
        failures=(
            *seen.failures,
            SourceFailure("prometheus", "DCGM_FI_DEV_GPU_UTIL", PROMETHEUS_ERROR),
        ),
    )


@pytest.fixture(scope="module")
def served_blind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("live-dashboard-blind")
    db_url = f"sqlite:///{folder / 'fleet.db'}"
    store = Store(db_url)
    store.upgrade()
    try:
        tokens = seed_register(store)
        for at in TIMES:
            with store.write("test:live") as tx:
                ingest(tx, blind(at), HOUR_S)
    finally:
        store.dispose()
    server = start_server(db_url, folder, worker=False)
    try:
        yield Served(server, tokens)
    finally:
        server.stop()


def test_without_telemetry_the_page_says_use_is_unknown_and_why_instead_of_adding_zeros(
    page: Page, served_blind: Served, tmp_path: Path
) -> None:
    """3 samples x 1 h, Prometheus failed in each: no GPU is known busy or idle-allocated.
    In use now: unknown (was 18). Use unknown now: the allocated GPUs, 8 + 4 + 8 = 20;
    over the window 20 x 3 h / 24 = 2.5 GPU-days (tesla 8 x 3 / 24 = 1). Idle now: only the
    up-and-unallocated GPUs, xai's 4 (tesla's 2 measured idle before are now unknown):
    4 x 3 / 24 = 0.5 GPU-day = $24. Stranded is the schedulers' count: still 8, $48."""
    open_live(page, served_blind, "root")
    why = f"prometheus failed: {PROMETHEUS_ERROR}"
    in_use = page.locator("#kpi-in-use .unknown")
    expect(in_use).to_have_text("unknown")
    expect(in_use).to_have_attribute("title", why)
    expect(page.locator("#kpi-in-use-note")).to_have_text(f"unknown: {why}")
    expect(page.locator("#live-unknown")).to_contain_text(why)
    kpis = {k: page.locator(f"#kpi-{k}").inner_text() for k in ("idle", "stranded", "unknown-use")}
    assert kpis == {"idle": "4", "stranded": "8", "unknown-use": "20"}
    expect(page.locator("#kpi-idle-usd")).to_have_text("$24")
    expect(page.locator("#kpi-stranded-usd")).to_have_text("$48")
    tesla = {
        c: row(page, "entity", "tesla", c)
        for c in ("in-use-now", "idle-now", "unknown-use-now", "unknown-use-days")
    }
    assert tesla == {
        "in-use-now": "unknown",
        "idle-now": "0",
        "unknown-use-now": "8",
        "unknown-use-days": "1",
    }
    memphis = page.locator("tr[data-entity=tesla][data-site=memphis]")
    expect(memphis.locator(".busy .unknown")).to_have_attribute("title", why)
    expect(memphis.locator(".in-use")).to_have_text("unknown")
    expect(memphis.locator(".allocated")).to_have_text("8")
    # the trend of GPUs in use has no known point to draw; stranded still has its three
    chart = page.locator("#live-trend-chart")
    expect(chart.locator("g[data-series=tesla] circle")).to_have_count(3)
    page.select_option("#live-trend-metric", "in_use")
    expect(chart).to_contain_text("No samples in the window.")
    expect(page.locator("tr[data-source=prometheus]")).to_contain_text(PROMETHEUS_ERROR)
    shoot(page, tmp_path, "live-no-telemetry")
