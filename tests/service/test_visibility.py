"""One visibility rule over every route that returns register data (issue 10, item 6;
docs/security.md, "What a token may read"): a token of tesla never reads xai's or
spacex's programs, pools or milestones, however it asks (lists, run results, reports,
exports); a fleet-admin reads them all.

The register is the article's (tests/support/api.py) with two runs done for real: tesla's
what-if moving 800 H100 to xai, and the assessment of transfer t-requested (tesla ->
xai). Both results hold every program's figures; what a tesla token is sent must not.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from gpufleet.governance.runs import queue
from gpufleet.governance.runs.budget import RunBudget
from gpufleet.governance.store.db import Store, now
from gpufleet.governance.store.models import EntityRow, Run, RunStatus
from gpufleet.governance.transfers import lifecycle
from tests.support.api import Register, article_register, bearer, client

pytestmark = pytest.mark.security

V = "/api/v1"
# names of the other entities' objects: programs, a milestone, pools
SECRETS = ("grok-pretraining", "Grok-2-scale", "starlink-ml", "xai-h100-existing", "spacex-pool")
# the assessment of a tesla -> xai transfer shows both parties' programs to either party:
# only the third entity's (spacex) stay hidden there
THIRD_PARTY = ("starlink-ml", "spacex-pool")
ASSESSMENT_ROUTES = {"/runs/@assessment", "/runs/@assessment/report", "/transfers/@t-requested"}
SCOPED = ("viewer-own", "admin-own", "approver-own")  # tesla's tokens


@dataclass
class Env:
    client: TestClient
    reg: Register


@pytest.fixture(scope="module")
def env(module_url: str) -> Iterator[Env]:
    store = Store(module_url)
    reg = article_register(store)
    with store.write("test") as tx:
        reg.ids["assessment"] = lifecycle.queue_assessment(tx, reg.ids["t-requested"], seeds=1).id
    fast = RunBudget(in_process=True)
    for run in ("run", "assessment"):
        assert queue.execute(store, reg.ids[run], fast).status == "done"
    reg.ids["failed"] = failed_run(store)
    try:
        with client(store) as c:
            yield Env(c, reg)
    finally:
        store.dispose()


def failed_run(store: Store) -> int:
    """A run of tesla's that failed with an error listing every program (as an unknown
    name's error does)."""
    with store.write("test") as tx:
        tesla = tx.session.scalar(select(EntityRow.id).where(EntityRow.name == "tesla"))
        run = Run(
            kind="whatif",
            status=RunStatus.FAILED.value,
            request={"name": "probe"},
            error="unknown program 'x'; programs: fsd-training, grok-pretraining, starlink-ml",
            created_by="test",
            created_at=now(),
            entity_id=tesla,
        )
        tx.session.add(run)
        tx.session.flush()
        return run.id


ROUTES = [
    "/me",
    "/plan",
    "/programs",
    "/programs/fsd-training",
    "/quotas",
    "/pools",
    "/roles",
    "/sites",
    "/entities",
    "/groups",
    "/people",
    "/transfers",
    "/runs",
    "/runs/@run",
    "/runs/@run/report",
    "/runs/@assessment",
    "/runs/@assessment/report",
    "/runs/@failed",
    "/reports/fleet?at=2024-07-01",
    "/exports/kueue?at=2024-07-01",
    "/transfers/@t-requested",
]


def _url(route: str, reg: Register) -> str:
    parts = [str(reg.ids[p[1:]]) if p.startswith("@") else p for p in route.split("/")]
    return V + "/".join(parts)


@pytest.mark.parametrize("route", ROUTES)
def test_a_tesla_token_reads_no_other_entitys_programs_pools_or_milestones(
    env: Env, route: str
) -> None:
    url = _url(route, env.reg)
    for caller in SCOPED:
        resp = env.client.get(url, headers=bearer(env.reg.tokens[caller]))
        assert resp.status_code in (200, 403, 409), (caller, resp.text[:300])
        secrets = THIRD_PARTY if route in ASSESSMENT_ROUTES else SECRETS
        leaked = [name for name in secrets if name in resp.text]
        assert not leaked, f"{caller} GET {url} ({resp.status_code}) shows {leaked}"


def test_a_fleet_admin_reads_every_entitys_programs_in_the_runs(env: Env) -> None:
    fleet = bearer(env.reg.tokens["fleet"])
    for run in ("run", "assessment"):
        for suffix in ("", "/report"):
            resp = env.client.get(f"{V}/runs/{env.reg.ids[run]}{suffix}", headers=fleet)
            assert resp.status_code == 200
            assert "grok-pretraining" in resp.text and "fsd-training" in resp.text


def test_a_tesla_token_reads_its_own_and_its_transfers_programs_and_the_others_as_totals(
    env: Env,
) -> None:
    admin = bearer(env.reg.tokens["admin-own"])
    run = env.client.get(f"{V}/runs/{env.reg.ids['assessment']}", headers=admin).json()
    result = run["result"]
    # the assessment of tesla -> xai: both parties' programs (they decide on it)
    parties = {"fsd-training", "tesla-spare", "grok-pretraining"}
    assert set(result["programs"]) == parties
    c = result["comparison"]
    assert set(c["arms"]["plan"]["programs"]) == parties
    assert set(c["deltas"]["with-transfer"]["programs"]) == parties
    # the aggregates per entity stay: spacex's figures as an entity, not by program
    assert {"tesla", "xai", "spacex"} <= set(c["arms"]["plan"]["entities"])
    assert result["redacted"]["programs_left_out"] == 1  # starlink-ml
    assert result["charge"]["payer"] == "xai"  # a party sees its transfer's charge
    # tesla's own what-if: its own programs only
    mine = env.client.get(f"{V}/runs/{env.reg.ids['run']}", headers=admin).json()["result"]
    for arm in mine["comparison"]["arms"].values():
        assert set(arm["programs"]) == {"fsd-training", "tesla-spare"}


def test_exports_are_the_fleet_admins_only(env: Env) -> None:
    url = f"{V}/exports/kueue?at=2024-07-01"
    for caller in ("admin-own", "admin-other"):
        resp = env.client.get(url, headers=bearer(env.reg.tokens[caller]))
        assert resp.status_code == 403
    resp = env.client.get(url, headers=bearer(env.reg.tokens["fleet"]))
    assert resp.status_code == 200 and "grok-pretraining" in resp.text


def test_an_error_never_lists_another_entitys_program_names(env: Env) -> None:
    admin = bearer(env.reg.tokens["admin-own"])
    run = env.client.get(f"{V}/runs/{env.reg.ids['failed']}", headers=admin).json()
    assert run["error"] == (
        "unknown program 'x'; programs: fsd-training, <another entity's>, <another entity's>"
    )


def test_a_whatif_of_tesla_may_not_name_another_entitys_program_whether_it_exists_or_not(
    env: Env,
) -> None:
    admin = bearer(env.reg.tokens["admin-own"])
    answers = []
    for program in ("grok-pretraining", "no-such-program"):
        body = {"name": "probe", "changes": {"scale": [f"{program} x2"]}, "seeds": 1}
        resp = env.client.post(f"{V}/runs", headers=admin, json=body)
        assert resp.status_code == 403
        err = resp.json()["error"]
        assert err["code"] == "other-entity"
        answers.append(err["message"].replace(program, "P"))
    # the same answer for a program that exists and one that does not: no oracle
    assert (
        answers[0]
        == answers[1]
        == (
            "changes.scale: 'P x2': a what-if of tesla may name only its own programs and pools "
            "(program 'P' is not one of them)"
        )
    )
