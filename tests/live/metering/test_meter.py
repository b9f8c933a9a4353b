"""Metering sacct's allocations: each job's GPU-seconds clipped to the period, attributed
to the using program (its account) and the owner of the nodes (the mapping), and bad
sacct output refused naming the line and the field."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from gpufleet.live.errors import SourceError
from gpufleet.live.metering.meter import MeterKey, clipped_gpu_seconds, meter_busy, meter_jobs
from gpufleet.live.metering.period import Period, month, period_of
from gpufleet.live.metering.sacct import read_jobs
from gpufleet.live.series import Sample, UsagePoint
from tests.live.metering.builders import DEC, E, H, S, account_of, place_of, row, sacct

AS_OF = datetime(2027, 2, 1, tzinfo=UTC)
XAI_ON_TESLA = MeterKey("sacct", "xai", "xai", "grok", "tesla", "memphis-h100", "memphis",
                        "H100-SXM")  # fmt: skip
XAI_ON_XAI = MeterKey("sacct", "xai", "xai", "grok", "xai", "colossus-h100", "colossus",
                      "H100-SXM")  # fmt: skip


def _meter(*rows: str, as_of: datetime = AS_OF) -> dict[MeterKey, tuple[float, int]]:
    records, _, _ = meter_jobs(read_jobs("sacct", sacct(*rows)), DEC, as_of, account_of, place_of)
    return {r.key: (r.gpu_seconds, r.jobs) for r in records}


@pytest.mark.parametrize(
    ("case", "rows", "expected"),
    [
        # 4 GPUs x 2 h inside December = 4 x 7200 = 28,800 GPU-s
        ("inside the month", [row("1", "xai", S + H, S + 3 * H, "gres/gpu=4", "gf-h100-1")],
         {XAI_ON_TESLA: (28_800.0, 1)}),
        # started 1 h before December, ran 3 h: 2 h inside, 8 x 7200 = 57,600
        ("started in November", [row("2", "xai", S - H, S + 2 * H, "gres/gpu=8", "gf-h100-1")],
         {XAI_ON_TESLA: (57_600.0, 1)}),
        # started 1 h before January, ended 30 min into it: December's last hour,
        # 2 x 3600 = 7,200
        ("ends in January", [row("3", "xai", E - H, E + H // 2, "gres/gpu:h100=2", "gf-h100-1")],
         {XAI_ON_TESLA: (7_200.0, 1)}),
        # all of November: nothing in December, and not counted
        ("all before", [row("4", "xai", S - 2 * H, S, "gres/gpu=4", "gf-h100-1")], {}),
        # still running (End Unknown) at AS_OF in February: counted to December's end,
        # 1 GPU x the last 10 h of December = 36,000
        ("still running", [row("5", "xai", E - 10 * H, "Unknown", "gres/gpu=1", "gf-h100-1")],
         {XAI_ON_TESLA: (36_000.0, 1)}),
        # never started (pending, cancelled in the queue): nothing
        ("never started", [row("6", "xai", "Unknown", "Unknown", "", "None assigned")], {}),
        # no GPUs: nothing, its CPUs are not metered
        ("no GPUs", [row("7", "xai", S, S + H, "cpu=8,mem=64G", "gf-h100-1")], {}),
        # on both nodes, 16 GPUs for 1 h: 8 x 3600 = 28,800 on each owner's node
        ("two nodes of two owners", [row("8", "xai", S, S + H, "gres/gpu=16", "gf-h100-[1-2]")],
         {XAI_ON_TESLA: (28_800.0, 1), XAI_ON_XAI: (28_800.0, 1)}),
        # two jobs on tesla's node: 4 x 3600 + 2 x 1800 = 18,000 over 2 jobs
        ("two jobs add up", [row("9", "xai", S, S + H, "gres/gpu=4", "gf-h100-1"),
                             row("10", "xai", S, S + H // 2, "gres/gpu=2", "gf-h100-1")],
         {XAI_ON_TESLA: (18_000.0, 2)}),
        # ISO times with a zone are read too: 2 GPUs x 1 h = 7,200
        ("ISO with zone", [row("11", "xai", "2026-12-02T01:00:00+01:00",
                               "2026-12-02T01:00:00Z", "gres/gpu=2", "gf-h100-1")],
         {XAI_ON_TESLA: (7_200.0, 1)}),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)  # fmt: skip
def test_each_jobs_gpu_seconds_are_its_part_inside_the_period(
    case: str, rows: list[str], expected: dict[MeterKey, tuple[float, int]]
) -> None:
    assert _meter(*rows) == expected


def test_a_running_job_counts_to_the_instant_of_the_reading_within_the_period() -> None:
    # read at S + 5 h; started at S + 1 h with 2 GPUs: 2 x 4 h = 28,800
    as_of = datetime.fromtimestamp(S + 5 * H, UTC)
    got = _meter(row("1", "xai", S + H, "Unknown", "gres/gpu=2", "gf-h100-1"), as_of=as_of)
    assert got == {XAI_ON_TESLA: (28_800.0, 1)}


def test_an_account_and_a_node_the_mapping_does_not_place_are_kept_blank_and_named() -> None:
    records, jobs, unmapped = meter_jobs(
        read_jobs("sacct", sacct(row("1", "ghost", S, S + H, "gres/gpu=1", "gf-x-9"))),
        DEC, AS_OF, account_of, place_of,
    )  # fmt: skip
    assert jobs == 1 and unmapped == ("account ghost", "node gf-x-9")
    assert [(r.key, r.gpu_seconds) for r in records] == [
        (MeterKey("sacct", "ghost", "", "", "", "", "", ""), 3600.0)
    ]


@pytest.mark.parametrize("seed", range(20))
def test_a_job_split_across_period_boundaries_sums_to_its_whole(seed: int) -> None:
    """Property: cutting time into consecutive periods at random instants, a job's
    GPU-seconds over the periods add up to gpus x (end - start) exactly."""
    rnd = random.Random(seed)
    start = S + rnd.randrange(0, 40 * 24 * H)
    end = start + rnd.randrange(0, 60 * 24 * H)
    gpus = rnd.randrange(1, 65)
    cuts = sorted({S - 30 * 24 * H, *(rnd.randrange(S, E + 60 * 24 * H) for _ in range(6))})
    cuts.append(E + 200 * 24 * H)
    periods = [
        Period(datetime.fromtimestamp(a, UTC), datetime.fromtimestamp(b, UTC))
        for a, b in pairwise(cuts)
    ]
    parts = [clipped_gpu_seconds(gpus, start, end, p) for p in periods]
    assert sum(parts) == gpus * (end - start)
    assert all(p >= 0 for p in parts)


@pytest.mark.parametrize(
    ("lines", "line", "field", "says"),
    [
        (["JobID|Account"], 1, "<header>", "columns User, Partition"),
        (["no header"], 1, "<header>", "no header line"),
        (sacct("1|xai|u|h100|COMPLETED|1|2|gres/gpu=1"), 2, "<row>", "8 cells"),
        (sacct(row("1.batch", "xai", S, S + 1, "gres/gpu=1", "n")), 2, "JobID", "job step"),
        (sacct(row("1", "xai", "yesterday", S, "gres/gpu=1", "n")), 2, "Start", "not a time"),
        (sacct(row("1", "xai", "2026-12-01T00:00:00", S, "gres/gpu=1", "n")), 2, "Start",
         "has no zone"),
        (sacct(row("1", "xai", S, S - 1, "gres/gpu=1", "n")), 2, "End", "before Start"),
        (sacct(row("1", "xai", S, S + 1, "gres/gpu=x", "n")), 2, "AllocTRES", "not a number"),
        (sacct(row("1", "xai", S, S + 1, "gres/gpu", "n")), 2, "AllocTRES", "has no '='"),
        (sacct(row("1", "xai", S, S + 1, "gres/gpu=1.5", "n")), 2, "AllocTRES", "1.5 GPUs"),
        (sacct(row("1", "xai", S, S + 1, "gres/gpu=1", "gf-[a-b]")), 2, "line 2: NodeList",
         "host range"),
        (sacct(row("1", "xai", S, S + 1, "gres/gpu=1", "")), 2, "NodeList", "is empty"),
        (sacct(row("1", "x", S, S + 1, f"gres/gpu:{'h' * 101}=1", "n")), 2, "AllocTRES",
         "too long"),
        (sacct(row("1", "a" * 101, S, S + 1, "gres/gpu=1", "n")), 2, "Account",
         "is 101 characters long"),
        (sacct(row("1", "xai", S, S + 1, "gres/gpu=1", "n"), "2|xai|u|h|R|x"), 3, "<row>",
         "6 cells"),
    ],
)  # fmt: skip
def test_bad_sacct_output_is_refused_naming_the_line_and_the_field(
    lines: list[str], line: int, field: str, says: str
) -> None:
    with pytest.raises(SourceError) as e:
        list(read_jobs("sacct -a -X -P", lines))
    assert (e.value.field, says in str(e.value)) == (field, True), str(e.value)
    assert e.value.line == line or field.startswith("line")
    assert "sacct -a -X -P" in str(e.value)


def test_a_month_is_its_calendar_days_in_utc_and_bad_periods_name_the_flag() -> None:
    dec = month("2026-12")
    assert dec.key() == ("2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z")
    assert dec.seconds == 31 * 24 * H
    assert month("2027-02").end - month("2027-02").start == timedelta(days=28)
    assert period_of(None, "2026-12-06", "2026-12-07").seconds == 24 * H
    for args, flag in (
        (("2026-13", None, None), "--period"),
        ((None, "x", "2026-12-07"), "--since"),
        ((None, "2026-12-07", "2026-12-06"), "--until"),
        (("2026-12", "2026-12-01", None), "--period and --since"),
        ((None, None, None), "a period is needed"),
    ):
        with pytest.raises(Exception, match=flag):
            period_of(*args)


def test_a_recorded_sacct_answer_of_the_dev_cluster_meters_as_an_independent_count() -> None:
    """sacct as the dev cluster answered it (``SLURM_TIME_FORMAT=%s sacct -a -X -P -S
    2026-12-06T21:30:00 -E 2026-12-06T21:50:00 --format=...``), metered over those 20
    minutes, against a plain count over the same lines: per account and node, the
    ``gres/gpu=N`` entry times the seconds of [Start, End) inside the window."""
    path = Path(__file__).parents[1] / "samples/sacct/meter-2026-12-06.txt"
    lines = path.read_text().splitlines()
    window = period_of(None, "2026-12-06T21:30:00Z", "2026-12-06T21:50:00Z")
    records, _, _ = meter_jobs(read_jobs(str(path), lines), window, AS_OF, account_of, place_of)
    got: dict[tuple[str, str], float] = {}
    for r in records:
        got[(r.key.account, r.key.owner)] = got.get((r.key.account, r.key.owner), 0) + r.gpu_seconds
    expected: dict[tuple[str, str], float] = {}
    owner = {"gf-h100-1": "tesla", "gf-h100-2": "xai"}
    for line in lines[1:]:
        _, account, _, _, _, start, end, tres, nodes = line.split("|")
        gpus = int(dict(x.split("=") for x in tres.split(",") if x).get("gres/gpu", 0))
        if not gpus or not start.isdigit():
            continue
        seconds = min(int(end), window.end_epoch) - max(int(start), window.start_epoch)
        names = ["gf-h100-1", "gf-h100-2"] if nodes == "gf-h100-[1-2]" else [nodes]
        for node in names:
            k = (account, owner.get(node, ""))
            expected[k] = expected.get(k, 0) + gpus * max(0, seconds) / len(names)
    assert got == {k: v for k, v in expected.items() if v > 0}
    assert got[("xai", "tesla")] > 0  # the live test's job on tesla's node is among them


def _sample(at: datetime, span_s: float, busy: float | None) -> Sample:
    usage = UsagePoint("xai", "grok", "tesla", "memphis", "H100-SXM", 4.0, busy, None, None)
    return Sample(at, "hour", span_s, 60, 10.0, (), (usage,), (), (), (), (), ())


def test_busy_gpu_seconds_are_each_samples_busy_gpus_times_its_span_inside_the_period() -> None:
    start = DEC.start
    samples = [
        _sample(start - timedelta(minutes=30), 3600, 2.0),  # half inside: 2 x 1,800 = 3,600
        _sample(start + timedelta(hours=5), 3600, 3.0),  # whole: 3 x 3,600 = 10,800
        _sample(start + timedelta(hours=6), 3600, None),  # unmeasured: nothing
        _sample(DEC.end - timedelta(minutes=15), 3600, 4.0),  # 4 x 900 = 3,600
        _sample(DEC.end, 3600, 8.0),  # January: nothing
    ]
    (record,) = meter_busy(samples, DEC)
    assert record.key == MeterKey("dcgm", "", "xai", "grok", "tesla", "", "memphis", "H100-SXM")
    assert (record.gpu_seconds, record.jobs) == (3600.0 + 10_800.0 + 3600.0, 3)
