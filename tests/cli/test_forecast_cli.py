"""``gpufleet forecast`` on the outputs recorded from the real dev cluster (tests/live/
samples/slurm, read at READ_AT = 18:12:00 through the package's ReplayRunner) with the dev
cluster's configuration (tests/live/register/live.yaml), and its bad inputs through
``main(argv)``.

The recorded scene (tests/live/test_forecast.py): every H100 is held by jobs 9, 11, 12
(gf-h100-1) and 14 (gf-h100-2), all started at 18:11:37 with a 600 s limit; gf-a100-1 is
down; tesla's job 10 (4 H100) pends on Resources, xai's job 13 (2 H100) on AssocGrpGRES
(xai's GrpTRES gres/gpu=4 is full with jobs 11 and 12)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gpufleet.cli.forecast import run_forecast
from gpufleet.cli.main import main, parser
from gpufleet.errors import ExitCode, InputError
from gpufleet.live.clock import FixedClock
from gpufleet.live.config import load_settings
from gpufleet.live.runner import ReplayRunner
from tests.live.replay import READ_AT, cli_client, replay

Capture = pytest.CaptureFixture[str]
LIVE = Path(__file__).parents[1] / "live"
CONFIG = LIVE / "register" / "live.yaml"
MAPPING = LIVE / "samples" / "mapping" / "devcluster.yaml"
REGISTER = LIVE / "register" / "devcluster.yaml"
GOVERNANCE = Path(__file__).parents[2] / "src" / "gpufleet" / "data" / "article-governance.yaml"
ENDS = "2026-12-06T18:21:37+00:00"  # started 18:11:37 + the 600 s limit


def forecast(capsys: Capture, *flags: str, runner: ReplayRunner | None = None) -> str:
    """The command with the recorded cluster as its Slurm and READ_AT as now."""
    args = parser().parse_args(["forecast", "--config", str(CONFIG), *flags])
    code = run_forecast(args, load_settings(CONFIG), cli_client(runner), FixedClock(READ_AT))
    assert code == ExitCode.OK
    return capsys.readouterr().out


def forecast_json(capsys: Capture, *flags: str, runner: ReplayRunner | None = None) -> Any:
    return json.loads(forecast(capsys, "--json", *flags, runner=runner))


def completing_14() -> ReplayRunner:
    """The recording with job 14 (8 H100 of gf-h100-2) in its epilog: free at now."""
    runner = replay()
    doc = json.loads(runner.outputs["squeue --json"])
    for j in doc["jobs"]:
        if j["job_id"] == 14:
            j["job_state"] = "COMPLETING"
    runner.outputs["squeue --json"] = json.dumps(doc)
    return runner


def test_each_pending_job_starts_when_the_running_jobs_reach_their_time_limit(
    capsys: Capture,
) -> None:
    doc = forecast_json(capsys)
    # all 16 H100 are held until 18:11:37 + 600 s = 18:21:37; then job 10 (4) and job 13
    # (2, within xai's cap of 4 once 11 and 12 end) start, each ending 600 s later
    assert [(j["job_id"], j["start"], j["end"]) for j in doc["pending"]] == [
        (10, ENDS, "2026-12-06T18:31:37+00:00"),
        (13, ENDS, "2026-12-06T18:31:37+00:00"),
    ]
    assert [(j["job_id"], j["end"]) for j in doc["running"]] == [
        (9, ENDS),
        (11, ENDS),
        (12, ENDS),
        (14, ENDS),
    ]
    assert doc["now"] == "2026-12-06T18:12:00+00:00"
    assert doc["until"] == "2027-01-05T18:12:00+00:00"  # the default horizon: 30 days
    assert doc["policy"]["name"] == "slurm-backfill" and doc["milestones"] == []


def test_the_text_is_a_table_of_predicted_starts(capsys: Capture) -> None:
    rows = [" ".join(line.split()) for line in forecast(capsys).splitlines()]
    assert "10 tesla fsd-training 4 H100-SXM 2026-12-06T18:21:37Z 2026-12-06T18:31:37Z" in rows
    assert "13 xai grok 2 H100-SXM 2026-12-06T18:21:37Z 2026-12-06T18:31:37Z" in rows
    assert "milestones: none (give --db for the register's)" in rows


def test_the_horizon_and_another_policy_are_taken(capsys: Capture) -> None:
    doc = forecast_json(capsys, "--horizon", "1h", "--policy", "fifo")
    assert doc["until"] == "2026-12-06T19:12:00+00:00"  # 18:12:00 + 1 h
    assert doc["policy"]["name"] == "fifo"


def test_the_registers_milestone_is_dated_from_the_programs_work(
    tmp_path: Path, capsys: Capture
) -> None:
    scenario = tmp_path / "register.yaml"
    text = REGISTER.read_text().replace(
        "          A100-80GB: {nominal: 4}\n",
        "          A100-80GB: {nominal: 4}\n"
        "        milestone: {name: m1, gpu_hours: 2, due: 2026-12-07}\n",
        1,
    )
    scenario.write_text(text)
    db = f"sqlite:///{tmp_path / 'fleet.db'}"
    assert main(["db", "seed", str(scenario), "--governance", str(GOVERNANCE), "--db", db]) == 0
    capsys.readouterr()
    (m,) = forecast_json(capsys, "--db", db)["milestones"]
    # fsd-training from 18:12:00: jobs 9 and 14, 12 H100 for 577 s = 6,924 GPU-s; then
    # job 10, 4 H100: the last 7,200 - 6,924 = 276 GPU-s take 69 s -> 18:22:46;
    # due 2026-12-07 00:00: 5 h 37 min 14 s early = -20,234 s = -0.234 days
    assert (m["program"], m["milestone"], m["gpu_hours_left"]) == ("fsd-training", "m1", 2.0)
    assert m["reached"] == "2026-12-06T18:22:46+00:00"
    assert m["due"] == datetime(2026, 12, 7, tzinfo=UTC).isoformat()
    assert m["late_days"] == -0.234


def test_a_lease_to_xai_starts_its_capped_job_when_gpus_free(capsys: Capture) -> None:
    doc = forecast_json(capsys, "--lease", "4 H100 tesla->xai", runner=completing_14())
    by = {p["program"]: p for p in doc["programs"]}
    # base: job 14's 8 GPUs are free at 18:12:00; tesla's job 10 (4) starts there, xai's
    # job 13 (2) fits the other 4 but xai's cap of 4 is full until jobs 11 and 12 end at
    # 18:21:37. With the lease xai's cap is 4 + 4 = 8: job 13 starts at 18:12:00 too,
    # 18:12:00 - 18:21:37 = -577 s
    assert by["grok"]["base"]["mean_start"] == ENDS
    assert by["grok"]["lease"]["mean_start"] == "2026-12-06T18:12:00+00:00"
    assert by["grok"]["start_change_s"] == -577.0
    # tesla has no cap: its job 10 starts at now in both arms
    assert by["fsd-training"]["start_change_s"] == 0.0
    assert by["fsd-training"]["lease"]["mean_start"] == "2026-12-06T18:12:00+00:00"
    assert doc["notes"] == ["account tesla has no GPU cap: lending takes nothing from it"]
    assert [j["start"] for j in doc["leased"]["pending"]] == ["2026-12-06T18:12:00+00:00"] * 2


def test_a_lease_is_shown_per_program_with_its_change(capsys: Capture) -> None:
    out = forecast(capsys, "--lease", "4 H100 tesla->xai/grok", runner=completing_14())
    rows = [" ".join(line.split()) for line in out.splitlines()]
    assert "grok 1 2026-12-06T18:21:37Z 2026-12-06T18:12:00Z -577 s - - -" in rows
    assert "fsd-training 1 2026-12-06T18:12:00Z 2026-12-06T18:12:00Z +0 s - - -" in rows


def config(folder: Path, slurm: str) -> Path:
    path = folder / "live.yaml"
    path.write_text(f"mapping: {MAPPING}\nsources:\n{slurm}")
    return path


def fails(capsys: Capture, *argv: str) -> str:
    assert main(["forecast", *argv]) == ExitCode.BAD_INPUT == 2
    out, err = capsys.readouterr()
    assert out == ""
    return err.strip()


def test_a_configuration_without_slurms_commands_is_bad_input(
    tmp_path: Path, capsys: Capture
) -> None:
    none = config(tmp_path, "  prometheus: {url: 'http://127.0.0.1:1'}\n")
    assert fails(capsys, "--config", str(none)) == (
        f"gpufleet: {none}: sources.slurm: not configured (expected a Slurm source to "
        "forecast, e.g. 'slurm: {mode: commands}')"
    )
    rest = config(tmp_path, "  slurm: {mode: rest}\n")
    assert fails(capsys, "--config", str(rest)) == (
        f"gpufleet: {rest}: sources.slurm.mode: 'rest' reads only jobs and nodes (expected "
        "mode: commands: the forecast also reads sacctmgr, sshare and scontrol show config)"
    )


@pytest.mark.skipif(shutil.which("scontrol") is None, reason="Slurm's commands not installed")
def test_an_unreachable_slurm_is_bad_input_naming_the_command(
    tmp_path: Path, capsys: Capture
) -> None:
    # a controller on port 1 (nothing listens): scontrol retries for about 10 s, past the
    # configured 1 s timeout
    conf = tmp_path / "slurm.conf"
    conf.write_text("ClusterName=gone\nSlurmctldHost=localhost(127.0.0.1)\nSlurmctldPort=1\n")
    gone = config(tmp_path, f"  slurm: {{env: {{SLURM_CONF: {conf}}}, timeout: 1s}}\n")
    assert fails(capsys, "--config", str(gone)) == (
        "gpufleet: scontrol show config: no answer within 1 s (expected a running cluster)"
    )


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        pytest.param(
            ["--horizon", "soon"],
            "--horizon 'soon': not a duration (expected a number and a unit s, m, h or d, "
            "e.g. 60s or 1h)",
            id="a horizon that is not a duration",
        ),
        pytest.param(
            ["--horizon", "0d"],
            "--horizon '0d': not a duration (expected a number and a unit s, m, h or d, "
            "e.g. 60s or 1h)",
            id="a horizon of nothing",
        ),
        pytest.param(
            ["--lease", "four H100 tesla->xai"],
            "--lease 'four H100 tesla->xai': GPU count 'four' is not a whole number > 0 "
            "(expected N TYPE FROM->TO, FROM and TO an entity or entity/program, e.g. "
            "'4 H100 tesla->xai')",
            id="a lease of no number",
        ),
        pytest.param(
            ["--lease", "4 H100 tesla->nobody"],
            "--lease '4 H100 tesla->nobody': TO 'nobody': no Slurm account of the mapping's "
            "slurm.accounts is theirs (entities there: tesla, xai) (expected N TYPE FROM->TO, "
            "FROM and TO an entity or entity/program, e.g. '4 H100 tesla->xai')",
            id="a lease to an entity the mapping lacks",
        ),
        pytest.param(
            ["--lease", "4 Z9 tesla->xai"],
            "--lease '4 Z9 tesla->xai': GPU type 'Z9' is not a catalog name or unique prefix "
            "(expected N TYPE FROM->TO, FROM and TO an entity or entity/program, e.g. "
            "'4 H100 tesla->xai')",
            id="a lease of an unknown GPU type",
        ),
    ],
)
def test_bad_flags_are_bad_input_before_slurm_is_asked(
    capsys: Capture, flags: list[str], message: str
) -> None:
    # the configured Slurm is never asked: these fail on the flags alone, with or without
    # a running dev cluster
    args = parser().parse_args(["forecast", "--config", str(CONFIG), *flags])
    runner = replay()
    with pytest.raises(InputError) as caught:
        run_forecast(args, load_settings(CONFIG), cli_client(runner), FixedClock(READ_AT))
    assert caught.value.render() == message
    assert runner.asked == []
    assert fails(capsys, "--config", str(CONFIG), *flags) == f"gpufleet: {message}"


def test_an_unknown_policy_lists_the_valid_ones(capsys: Capture) -> None:
    err = fails(capsys, "--config", str(CONFIG), "--policy", "nope")
    assert err.startswith("gpufleet: unknown policy 'nope'; valid names: drf, fifo,")
    assert "slurm-backfill" in err
