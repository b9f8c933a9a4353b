"""The live fleet's routes on a register with three stored samples (tests/service/
live_fleet.py: the scene and its counts), on SQLite and PostgreSQL: who sees which
entity's numbers, the numbers themselves against hand-computed figures, the windows and
their bounds, and the abuse (no token, an expired or revoked token, another entity's
token, a huge window, bad parameters, a body that names a file): each a 4xx naming the
field, never a 5xx.

The samples are at 10:00, 11:00 and 12:00 UTC on 2026-03-01, each standing for 3,600 s;
the requests ask with ``end`` = 12:30. At the plan's flat $2 a GPU-hour, a stranded or
idle GPU-day costs 24 x $2 = $48.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from gpufleet.errors import InputError
from gpufleet.governance.auth.tokens import create_token, revoke_token
from gpufleet.governance.store.db import Store
from gpufleet.governance.store.models import AccessRole, Token
from gpufleet.live.series import sample_of
from gpufleet.service import live_json as lj
from gpufleet.service.app import create_app
from gpufleet.service.ratelimit import RateLimit
from tests.service.live_fleet import KUBE_ERROR, capacity, live_fleet, scene
from tests.support.api import bearer

V = "/api/v1/live"
T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
TIMES = (T0, T0 + timedelta(hours=1), T0 + timedelta(hours=2))
END = "2026-03-01T12:30:00Z"
READS = ("status", "series", "findings", "suggestions")


@dataclass
class Env:
    client: TestClient
    tokens: dict[str, str]
    store: Store

    def get(self, who: str | None, route: str, **params: str) -> Any:
        query = {"end": END, **params}
        headers = bearer(self.tokens.get(who or ""))
        return self.client.get(f"{V}/{route}", params=query, headers=headers)

    def ok(self, who: str, route: str, **params: str) -> dict[str, Any]:
        resp = self.get(who, route, **params)
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return body


@pytest.fixture(scope="module")
def env(module_url: str) -> Iterator[Env]:
    fleet = live_fleet(module_url, TIMES)
    store = Store(module_url)
    app = create_app(store, run_worker=False, rate_limit=RateLimit(per_minute=0))
    try:
        with TestClient(app, raise_server_exceptions=False) as c:
            yield Env(c, fleet.tokens, store)
    finally:
        store.dispose()


def error(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    err: dict[str, Any] = resp.json()["error"]
    assert err["code"] and err["message"], err
    return err


def fields(err: dict[str, Any]) -> set[str]:
    return {p["field"] for p in err.get("problems", [])}


# --- what the fleet admin sees ---------------------------------------------------------


def test_a_fleet_admin_sees_every_entitys_in_use_idle_and_stranded_gpu_days_in_dollars(
    env: Env,
) -> None:
    st = env.ok("root", "status")
    assert st["scope"] == "fleet"
    assert st["latest"]["at"] == "2026-03-01T12:00:00Z"
    assert st["window"]["samples"] == 3 and st["window"]["covered_s"] == 3 * 3600.0
    tesla, xai, spacex = (st["by_entity"][e] for e in ("tesla", "xai", "spacex"))
    # tesla: buffalo's 8 A100 down in 3 samples of 1 h: 8 x 3 h / 24 = 1 GPU-day, x $48
    assert (tesla["stranded_gpu_days"], tesla["stranded_usd"]) == (1.0, 48.0)
    # memphis's 2 idle H100 x 3 h / 24 = 0.25 GPU-days = $12; its 6 busy: 0.75 in use
    assert (tesla["idle_gpu_days"], tesla["idle_usd"], tesla["in_use_gpu_days"]) == (
        0.25,
        12.0,
        0.75,
    )
    # xai: 4 unallocated x 3 h / 24 = 0.5 GPU-days idle = $24; 4 busy: 0.5 in use
    assert (xai["idle_gpu_days"], xai["idle_usd"], xai["in_use_gpu_days"]) == (0.5, 24.0, 0.5)
    # spacex: 8 busy x 3 h / 24 = 1 GPU-day in use, nothing wasted
    assert (spacex["in_use_gpu_days"], spacex["idle_usd"], spacex["stranded_usd"]) == (
        1.0,
        0.0,
        0.0,
    )
    assert st["by_site"]["buffalo"]["stranded_now"] == 8.0
    assert [(d["program"], d["reason"], d["gpus"]) for d in st["demand"]] == [
        ("grok", "waiting-for-quota", 4.0),
        ("starlink-ml", "not-enough-ready-capacity", 16.0),
    ]
    # grok's plan quota is 8 H100 + 0 A100 = 8 GPUs; Slurm caps account xai at 4
    (quota,) = st["drift"]["quotas"]
    assert (quota["program"], quota["in_force"], quota["planned"]) == ("grok", 4.0, 8)
    assert [n["node"] for n in st["down_nodes"]] == ["gf-a100-1"]
    assert st["failures"][0]["error"] == KUBE_ERROR  # the admin sees it whole
    assert st["failures_in_window"][0]["count"] == 3
    assert st["unmapped"] == [] and st["polling"] is False and st["poller"] is None


def test_the_lease_suggested_is_tesla_s_stranded_a100_to_xai_s_grok_as_a_transfer_body(
    env: Env,
) -> None:
    (s,) = env.ok("root", "suggestions")["suggestions"]
    assert (s["kind"], s["from_entity"], s["to_entity"], s["to_program"]) == (
        "stranded",
        "tesla",
        "xai",
        "grok",
    )
    # whole nodes of 8: min(ceil(4 asked by grok / 8), floor(8 stranded in every sample / 8),
    # the pool's 1 node) = 1 node = 8 GPUs, wasted for the 3 samples' 3 h; a 30-day lease
    # from the window's end (2026-03-01)
    assert (s["gpus"], s["wasted_s"], s["wasted_since"]) == (8, 10800.0, "2026-03-01T10:00:00Z")
    assert s["request"] == {
        "name": "",
        "pool": "buffalo-a100",
        "gpus": 8,
        "from_entity": "tesla",
        "to": "xai",
        "to_site": "colossus",
        "to_program": "grok",
        "start": "2026-03-01",
        "end": "2026-03-31",
        "price_usd": 0.0,
        "note": s["request"]["note"],
    }
    assert "gpufleet whatif" in s["assess_command"]


# --- what a scoped token sees ----------------------------------------------------------


def test_a_tesla_token_sees_teslas_numbers_and_the_lease_it_is_a_party_to_only(env: Env) -> None:
    st = env.ok("tesla-viewer", "status")
    assert st["scope"] == "tesla"
    assert {r["entity"] for r in st["fleet"]} == {"tesla"}
    assert set(st["by_entity"]) == {"tesla"} and set(st["by_site"]) == {"buffalo", "memphis"}
    assert st["demand"] == [] and st["drift"]["quotas"] == []  # xai's and spacex's
    assert {c["entity"] for c in st["capacity"]} == {"tesla"}
    assert [u["program"] for u in st["usage"]] == ["fsd-training"]
    assert st["quotas"] == [] and st["unmapped"] is None
    # spacex's program named in a source's error is scrubbed for tesla
    assert st["failures"][0]["error"] == KUBE_ERROR.replace("starlink-ml", "<another entity's>")
    # the lease tesla -> xai: both parties' figures, to both parties
    assert [(s["from_entity"], s["to_entity"]) for s in st["suggestions"]] == [("tesla", "xai")]


def test_xai_sees_its_idle_gpus_its_drift_and_the_same_lease(env: Env) -> None:
    st = env.ok("xai-viewer", "status")
    assert set(st["by_entity"]) == {"xai"}
    assert st["by_entity"]["xai"]["idle_usd"] == 24.0
    assert [q["program"] for q in st["drift"]["quotas"]] == ["grok"]
    assert [d["program"] for d in st["demand"]] == ["grok"]
    assert len(st["suggestions"]) == 1


def test_spacex_sees_none_of_the_lease_between_two_other_entities(env: Env) -> None:
    for route in ("status", "suggestions"):
        assert env.ok("spacex-viewer", route)["suggestions"] == []
    findings = env.ok("spacex-viewer", "findings")
    assert set(findings["by_entity"]) == {"spacex"}
    assert {r["entity"] for r in findings["fleet"]} == {"spacex"}
    series = env.ok("spacex-viewer", "series")
    assert {s["entity"] for s in series["series"]} == {"spacex"}


def test_another_entitys_name_as_a_series_filter_gives_nothing_rather_than_an_error(
    env: Env,
) -> None:
    """An answer that differed for an existing name would tell that it exists."""
    for name in ("tesla", "no-such-entity"):
        assert env.ok("spacex-viewer", "series", entity=name)["series"] == []


# --- windows and series ----------------------------------------------------------------


def test_a_90_minute_window_counts_the_two_samples_inside_it(env: Env) -> None:
    st = env.ok("root", "findings", window="90m")
    # since 11:00: the samples of 11:00 and 12:00; 8 A100 x 2 h / 24 = 2/3 GPU-day
    assert st["window"]["samples"] == 2
    assert st["by_entity"]["tesla"]["stranded_gpu_days"] == pytest.approx(2 / 3)


def test_a_series_comes_at_the_finest_resolution_whose_points_fit(env: Env) -> None:
    for window, resolution in (("1d", "minute"), ("2d", "minute"), ("7d", "hour")):
        assert env.ok("root", "series", window=window)["resolution"] == resolution
    assert env.ok("root", "series", window="90d")["resolution"] == "hour"  # 2,160 points
    assert env.ok("root", "series", window="91d")["resolution"] == "day"


def test_a_day_of_three_hourly_samples_merges_into_one_point_keeping_gpu_seconds(
    env: Env,
) -> None:
    body = env.ok("root", "series", window="30d", resolution="day", entity="tesla", site="buffalo")
    ((series),) = body["series"]
    (point,) = series["points"]
    # the three samples fall in the UTC day 2026-03-01: one point standing for 3 h, its
    # counts the span-weighted means (8 down in each: 8)
    assert (point["at"], point["span_s"], point["samples"]) == (
        "2026-03-01T00:00:00+00:00",
        10800.0,
        3,
    )
    assert (point["down"], point["stranded"], point["registered"]) == (8.0, 8.0, 8.0)


def test_at_minute_resolution_each_sample_is_its_own_point(env: Env) -> None:
    body = env.ok("root", "series", entity="xai")
    ((series),) = body["series"]
    assert [p["at"][11:16] for p in series["points"]] == ["10:00", "11:00", "12:00"]
    assert [p["unallocated"] for p in series["points"]] == [4.0, 4.0, 4.0]


# --- abuse -----------------------------------------------------------------------------


def test_no_token_an_unknown_one_an_expired_one_and_a_revoked_one_get_401(env: Env) -> None:
    with env.store.write("test") as tx:
        expired = create_token(tx, "soon", AccessRole.FLEET_ADMIN)
        revoked = create_token(tx, "gone", AccessRole.FLEET_ADMIN)
        past = datetime.now(UTC) - timedelta(minutes=1)
        tx.session.execute(update(Token).where(Token.id == expired[0].id).values(expires_at=past))
        revoke_token(tx, revoked[0].id)
    for secret in (None, "gf_not-a-token", expired[1], revoked[1]):
        for route in READS:
            resp = env.client.get(f"{V}/{route}", headers=bearer(secret))
            error(resp, 401)
        error(env.client.post(f"{V}/observe", headers=bearer(secret)), 401)


@pytest.mark.parametrize(
    ("route", "params", "field", "says"),
    [
        ("status", {"window": "401d"}, "window", "400d"),
        ("findings", {"window": "9999999d"}, "window", "400d"),
        ("suggestions", {"window": "0m"}, "window", "1m"),
        ("status", {"window": "7 weeks"}, "window", "a duration"),
        ("status", {"window": "-5d"}, "window", "a duration"),
        ("series", {"window": "1831d"}, "window", "1830d"),
        ("series", {"window": "3d", "resolution": "minute"}, "resolution", "2880"),
        ("series", {"resolution": "second"}, "resolution", "minute, hour, day"),
        ("series", {"entity": "x" * 101}, "entity", "100"),
        ("status", {"window": "1" * 21}, "window", "20"),
        ("status", {"end": "yesterday"}, "end", "datetime"),
        ("series", {"end": "2026-13-40T99:00:00Z"}, "end", "datetime"),
        ("status", {"end": "0001-01-01T00:00:00"}, "end", "1970-01-01 to 2999-12-31"),
        ("findings", {"end": "0001-01-01T00:00:00-14:00"}, "end", "1970-01-01"),
        ("suggestions", {"end": "9999-12-31T23:59:59.999999"}, "end", "2999-12-31"),
        ("series", {"end": "9999-12-31T23:59:59+14:00"}, "end", "2999-12-31"),
    ],
    ids=lambda v: str(v)[:30],
)
def test_a_bad_or_too_large_parameter_is_a_422_naming_the_field_and_the_limit(
    env: Env, route: str, params: dict[str, str], field: str, says: str
) -> None:
    err = error(env.get("root", route, **params), 422)
    assert field in fields(err), err
    text = " ".join(f"{p['message']} {p.get('expected', '')}" for p in err["problems"])
    assert says in text or says in err["message"], err


def test_observe_is_a_fleet_admins_and_this_server_has_no_sources_to_observe(env: Env) -> None:
    for who in ("tesla-viewer", "tom", "xai-viewer"):
        err = error(env.client.post(f"{V}/observe", headers=bearer(env.tokens[who])), 403)
        assert "fleet-admin" in err["message"]
    err = error(env.client.post(f"{V}/observe", headers=bearer(env.tokens["root"])), 409)
    assert err["code"] == "no-live-config" and "--live-config" in err["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"config": "/etc/passwd"},
        {"command": "rm -rf /"},
        {"url": "http://169.254.169.254/latest/meta-data/"},
        {"sources": {"slurm": {"env": {"SLURM_CONF": "/tmp/evil.conf"}}}},
    ],
    ids=["file", "command", "url", "sources"],
)
def test_a_body_naming_a_file_command_or_url_is_refused_as_an_unknown_field(
    env: Env, body: dict[str, Any]
) -> None:
    resp = env.client.post(f"{V}/observe", json=body, headers=bearer(env.tokens["root"]))
    err = error(resp, 422)
    assert fields(err) == set(body), err


def test_the_live_reads_and_observe_spend_the_tokens_bucket_of_expensive_requests(
    env: Env,
) -> None:
    """A client of its own, limited to a burst of 2: the third live read is 429."""
    app = create_app(env.store, run_worker=False, rate_limit=RateLimit(per_minute=1, burst=2))
    with TestClient(app, raise_server_exceptions=False) as c:
        headers = bearer(env.tokens["root"])
        for route in ("status", "series"):
            assert c.get(f"{V}/{route}", headers=headers).status_code == 200
        for route in ("findings", "suggestions"):
            resp = c.get(f"{V}/{route}", headers=headers)
            assert error(resp, 429)["code"] == "rate-limited"
            assert int(resp.headers["Retry-After"]) >= 1
        assert c.post(f"{V}/observe", headers=headers).status_code == 429


def test_an_answer_of_more_points_than_the_limit_is_refused_naming_the_window() -> None:
    """21 series (entity, site, GPU type) x 2,400 minutes = 50,400 points > 50,000."""
    start = datetime(2026, 3, 1, tzinfo=UTC)
    rows = tuple(
        capacity(f"e{i}", "s", "H100-SXM", up=8, down=0, allocated=0, busy=0, idle=0)
        for i in range(21)
    )
    buckets = [
        sample_of(replace(scene(start + timedelta(minutes=m)), capacity=rows), 60.0)
        for m in range(2_400)
    ]
    window = lj.Window(start, start + timedelta(minutes=2_400))
    with pytest.raises(InputError) as e:
        lj.series_json(buckets, window, "minute", ("", "", ""))
    (problem,) = e.value.problems
    assert problem.field == "window" and "50400 points" in problem.message
    assert "50000" in problem.message and "entity, site or gpu_type" in problem.expected
    # narrowed to one entity: 2,400 points, answered
    assert len(lj.series_json(buckets, window, "minute", ("e3", "", ""))["series"]) == 1


def test_the_points_limit_is_judged_before_reading_from_the_latest_samples_series() -> None:
    """21 series in the latest sample x min(2,400 samples stored, 2,880 minutes in 2 days)
    = 50,400 points: refused before the window is read; 2,380 samples: 49,980, read."""
    start = datetime(2026, 3, 1, tzinfo=UTC)
    rows = tuple(
        capacity(f"e{i}", "s", "H100-SXM", up=8, down=0, allocated=0, busy=0, idle=0)
        for i in range(21)
    )
    latest = sample_of(replace(scene(start), capacity=rows), 60.0)
    window = lj.Window(start - timedelta(days=2), start)
    with pytest.raises(InputError, match="50400 points"):
        lj.estimate(latest, 2_400, window, "minute", ("", "", ""))
    lj.estimate(latest, 2_380, window, "minute", ("", "", ""))
    lj.estimate(latest, 2_400, window, "minute", ("e1", "", ""))  # one series: 2,400
