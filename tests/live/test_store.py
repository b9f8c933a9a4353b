"""Observations stored in the register (SQLite and PostgreSQL): written in one
transaction, read back typed, downsampled by the retention policy with GPU-seconds kept,
and the configuration they were taken under audited once."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from gpufleet.domain import EntityId, GpuTypeName, ProgramId, Reason, SiteId
from gpufleet.errors import ConflictError, InputError
from gpufleet.governance.store import audit, audit_check
from gpufleet.governance.store.db import Store
from gpufleet.governance.store.models import AuditRecord, LiveConfigRow
from gpufleet.live.observation import Observation, QuotaInForce, SourceFailure, Usage
from gpufleet.live.retention import DEFAULT_RETENTION, Retention, Tier
from gpufleet.live.series import sample_of
from gpufleet.live.store import Ingested, LiveConfig, ingest, latest, samples, write_sample
from tests.live.builders import T0, cap, down_node, observation, pending

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


def story(at: datetime = T0, stranded: int = 4, busy: int | None = 8) -> Observation:
    """tesla's buffalo A100 node down (``stranded`` of 4 GPUs), its memphis H100 busy;
    xai waiting for 2 H100 on its quota; Prometheus failed when ``busy`` is None."""
    fails = () if busy is not None else (SourceFailure("prometheus", "http://p/q", "refused"),)
    return observation(
        at,
        capacity=(
            cap("tesla", "buffalo", "A100-80GB", 4, up=4 - stranded, down=stranded),
            cap("tesla", "memphis", "H100-SXM", 8, up=8, allocated=8, busy=busy, idle=0),
        ),
        demand=(pending("xai", "grok", "H100-SXM", 2, Reason.QUOTA, "AssocGrpGRES"),),
        down=(down_node("gf-a100-1", "tesla", "buffalo", "buffalo-a100", "A100-80GB", 4),),
        usage=(
            Usage(
                EntityId("tesla"),
                ProgramId("fsd-training"),
                EntityId("tesla"),
                SiteId("memphis"),
                GpuTypeName("H100-SXM"),
                8,
                busy,
                0 if busy is not None else None,
                0 if busy is not None else None,
            ),
        ),
        quotas=(QuotaInForce("slurm", "account xai", EntityId("xai"), ProgramId("grok"), None, 4),),
        failures=fails,
    )


def put(
    store: Store,
    obs: Observation,
    span_s: float = 60.0,
    config: LiveConfig | None = None,
    retention: Retention = DEFAULT_RETENTION,
) -> Ingested:
    with store.write("cli:test") as tx:
        return ingest(tx, obs, span_s, config, retention)


def test_an_observation_reads_back_as_it_was_written(store: Store) -> None:
    obs = story(busy=None)
    done = put(store, obs)
    # 2 capacity + 1 usage + 1 demand + 1 quota + 1 down node + 1 failure
    assert done.rows == 7
    with store.read() as s:
        back = latest(s)
    assert back == sample_of(obs, 60.0)
    assert back is not None
    buffalo = back.capacity[0]
    assert (buffalo.stranded, buffalo.down, buffalo.registered) == (4.0, 4.0, 4.0)
    memphis = back.capacity[1]
    assert memphis.busy is None  # unknown stays unknown, not 0
    (d,) = back.demand
    assert (d.reason, d.scheduler_reasons, d.gpus) == (Reason.QUOTA, ("AssocGrpGRES",), 2.0)
    assert back.failures[0].source == "prometheus"
    assert back.at == T0 and back.at.tzinfo is not None


def test_a_second_observation_at_the_same_instant_is_refused_and_nothing_written(
    store: Store,
) -> None:
    put(store, story())
    with pytest.raises(ConflictError, match="already stored"):
        put(store, story(stranded=0))
    with store.read() as s:
        assert [x.capacity[0].stranded for x in samples(s)] == [4.0]


def test_the_configuration_is_audited_once_per_distinct_text(store: Store) -> None:
    a = LiveConfig("sources: {}\n", "slurm: {}\n")
    put(store, story(T0), config=a)
    put(store, story(T0 + timedelta(minutes=1)), config=a)
    put(store, story(T0 + timedelta(minutes=2)), config=LiveConfig("sources: {}\n", "x: 1\n"))
    with store.read() as s:
        assert s.scalar(select(func.count()).select_from(LiveConfigRow)) == 2
        records = s.execute(select(AuditRecord)).scalars().all()
        assert [(r.action, r.object_type) for r in records] == [("use", "live-config")] * 2
        assert audit.verify(s).ok
        report = audit_check.verify_store(s)  # the rows replayed against the log agree
        assert report.ok and report.rows is not None and report.rows.rows == 2


def test_a_configuration_edited_behind_the_logs_back_is_named(store: Store) -> None:
    put(store, story(T0), config=LiveConfig("sources: {}\n", "slurm: {}\n"))
    with store.engine.begin() as c:
        c.execute(update(LiveConfigRow).values(mapping="slurm: {accounts: {}}\n"))
    with store.read() as s:
        diffs = [d.render() for d in audit_check.verify_store(s).rows.diffs]  # type: ignore[union-attr]
    assert len(diffs) == 1 and diffs[0].startswith("live_configs row 1")
    assert "mapping" in diffs[0]


def test_a_whole_hour_older_than_two_days_becomes_one_hourly_mean(store: Store) -> None:
    # hour 0: three one-minute samples with 4, 4 and 0 A100 stranded; Prometheus failed
    # in the third. Hour 1: one sample. Observed again 2 days and 1 hour after T0: hour 0
    # is wholly older than the raw tier's 2 days, hour 1 is not (it ends at the cutoff+1h).
    put(store, story(T0, 4))
    put(store, story(T0 + timedelta(minutes=1), 4))
    put(store, story(T0 + timedelta(minutes=2), 0, busy=None))
    put(store, story(T0 + HOUR, 4))
    done = put(store, story(T0 + 2 * DAY + HOUR, 4))
    assert (done.merged, done.expired) == (3, 0)
    with store.read() as s:
        got = samples(s)
    assert [(x.tier, x.at, x.samples, x.span_s) for x in got] == [
        ("hour", T0, 3, 180.0),
        ("raw", T0 + HOUR, 1, 60.0),
        ("raw", T0 + 2 * DAY + HOUR, 1, 60.0),
    ]
    hour = got[0]
    buffalo = next(c for c in hour.capacity if c.site == "buffalo")
    # (4 x 60 + 4 x 60 + 0 x 60) / 180 = 8/3 stranded; x 180 s = 480 GPU-s, as before
    assert buffalo.stranded == pytest.approx(8 / 3)
    assert (buffalo.stranded or 0) * hour.span_s == pytest.approx(480)
    memphis = next(c for c in hour.capacity if c.site == "memphis")
    # busy unknown in the third minute: the mean of the two known, (8 x 60 + 8 x 60) / 120
    assert memphis.busy == pytest.approx(8.0)
    (node,) = hour.down_nodes
    assert node.span_s == 180.0  # seen down in all three minutes
    assert [(f.source, f.count) for f in hour.failures] == [("prometheus", 1)]
    assert hour.demand[0].gpus == pytest.approx(2.0)


def test_hours_older_than_90_days_become_days_and_a_late_hour_joins_its_day(
    store: Store,
) -> None:
    at = T0 + 91 * DAY
    with store.write("cli:test") as tx:
        for offset, stranded, span in ((0, 4, 3600.0), (1, 2, 1800.0)):
            hour = sample_of(story(T0 + offset * HOUR, stranded), span)
            write_sample(tx.session, replace(hour, tier="hour"))
    put(store, story(at, 4))
    with store.read() as s:
        day = samples(s)[0]
    assert (day.tier, day.at, day.samples, day.span_s) == ("day", T0, 2, 5400.0)
    buffalo = next(c for c in day.capacity if c.site == "buffalo")
    # (4 x 3600 + 2 x 1800) / 5400 = 18000 / 5400 = 10/3
    assert buffalo.stranded == pytest.approx(10 / 3)


def test_the_last_tier_forgets_past_its_keep(store: Store) -> None:
    # raw kept 1 h, hourly means kept 2 h: at T0 + 2 h hour 0 is merged, at T0 + 4 h its
    # mean (at T0, older than T0 + 4 h - 2 h) is deleted
    short = Retention((Tier("raw", 0, 3600), Tier("hour", 3600, 7200)))
    put(store, story(T0), retention=short)
    assert put(store, story(T0 + 2 * HOUR), retention=short).merged == 1
    done = put(store, story(T0 + 4 * HOUR), retention=short)
    assert (done.merged, done.expired) == (1, 1)
    with store.read() as s:
        assert [(x.tier, x.at) for x in samples(s)] == [
            ("hour", T0 + 2 * HOUR),
            ("raw", T0 + 4 * HOUR),
        ]


@pytest.mark.parametrize(
    ("tiers", "says"),
    [
        ((Tier("minute", 60, 60),), "first tier must be 'raw'"),
        ((Tier("raw", 0, None), Tier("hour", 3600, None)), "keeps for ever"),
        ((Tier("raw", 0, 86400), Tier("odd", 3600, 86400), Tier("d", 5000, None)), "multiple"),
        ((Tier("raw", 0, 60), Tier("hour", 3600, None)), "at least one bucket"),
    ],
    ids=["no-raw-tier", "forever-then-more", "not-a-multiple", "too-short-to-fill-a-bucket"],
)
def test_a_retention_policy_that_cannot_work_is_refused(tiers: tuple[Tier, ...], says: str) -> None:
    with pytest.raises(InputError, match=says):
        Retention(tiers)


def test_a_reader_may_ask_for_some_rows_only_and_for_the_latest_before_an_instant(
    store: Store,
) -> None:
    put(store, story(T0))
    put(store, story(T0 + HOUR, stranded=1))
    with store.read() as s:
        (first, second) = samples(s, parts=("capacity",))
        assert (len(first.capacity), first.demand, first.down_nodes) == (2, (), ())
        assert second.capacity[0].stranded == 1.0
        before = latest(s, until=T0 + HOUR)
        assert before is not None and before.at == T0 and len(before.demand) == 1
        with pytest.raises(ValueError, match="unknown parts"):
            samples(s, parts=("capacity", "jobs"))
