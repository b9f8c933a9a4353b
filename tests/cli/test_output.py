"""What the CLI writes to stderr (cli/output.py): progress with its rate and time left on a
terminal only, nothing with -q or when stderr is not a terminal, and with --log-format json
one JSON object per line. The terminal is a real pseudo-terminal (python's pty module)
given to a child ``gpufleet`` as its stderr."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from gpufleet.cli import output
from gpufleet.cli.main import main
from gpufleet.cli.output import ProgressBar, Stages
from tests.support.servers import ROOT
from tests.support.small_scenario import SMALL
from tests.support.terminal import on_a_terminal as _on_a_terminal
from tests.support.terminal import piped as _piped

IMPORTS = ROOT / "examples" / "imports"
JOBS_MAP = "submit=created_at,duration=runtime_s,gpus=num_gpus"


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _default_output() -> Iterator[None]:
    """Tests that configure the output themselves leave it as main() leaves it: reset."""
    yield
    output.reset()


# --- not a terminal, -q -------------------------------------------------------------------
def test_whatif_writes_nothing_on_stderr_when_stderr_is_not_a_terminal(
    small: Path, tmp_path: Path
) -> None:
    done = _piped("whatif", str(small), "--seeds", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "base" in done.stdout


def test_whatif_on_a_terminal_shows_progress_with_its_rate_and_time_left(
    small: Path, tmp_path: Path
) -> None:
    code, out, err = _on_a_terminal("whatif", str(small), "--seeds", "2", cwd=tmp_path)
    assert code == 0, err
    # SMALL has a base and one variant: 2 arms x 2 seeds = 4 runs
    assert "whatif [" in err
    assert "100.0%" in err
    assert " runs/s, " in err and "s left" in err
    assert "base" in out  # the table itself stays on stdout


def test_quiet_silences_progress_on_a_terminal_given_before_or_after_the_command(
    small: Path, tmp_path: Path
) -> None:
    for args in (["-q", "whatif", str(small)], ["whatif", str(small), "--quiet"]):
        code, _, err = _on_a_terminal(*args, "--seeds", "2", cwd=tmp_path)
        assert (code, err) == (0, "")


def test_replay_on_a_terminal_names_its_reading_stage_and_simulated_days_per_second(
    tmp_path: Path,
) -> None:
    jobs = str(IMPORTS / "jobs.csv")
    code, _, err = _on_a_terminal("replay", jobs, "--map", JOBS_MAP, "--gpus", "512", cwd=tmp_path)
    assert code == 0, err
    assert f"replay: reading {jobs} ... " in err
    assert "replay [" in err and " sim-days/s, " in err


def test_trace_convert_on_a_terminal_shows_each_stage_and_its_time(tmp_path: Path) -> None:
    out = tmp_path / "jobs.parquet"
    jobs = str(IMPORTS / "jobs.csv")
    code, stdout, err = _on_a_terminal(
        "trace", "convert", jobs, str(out), "--map", JOBS_MAP, cwd=tmp_path
    )
    assert code == 0, err
    lines = err.splitlines()
    assert lines[0].startswith(f"trace convert: reading {jobs} ... ") and lines[0].endswith(" s")
    assert lines[1].startswith("trace convert: writing ") and lines[1].endswith(" s")
    assert stdout.startswith(f"wrote {out}")


# --- --log-format json ----------------------------------------------------------------------
def test_with_log_format_json_every_stderr_line_on_a_terminal_is_a_json_object(
    small: Path, tmp_path: Path
) -> None:
    code, _, err = _on_a_terminal(
        "--log-format", "json", "whatif", str(small), "--seeds", "2", cwd=tmp_path
    )
    assert code == 0, err
    records = [json.loads(line) for line in err.splitlines()]
    progress = [r for r in records if r.get("progress") == "whatif"]
    assert progress, err
    assert progress[-1]["fraction"] == 1.0 and progress[-1]["rate_unit"] == "runs/s"
    assert progress[-1]["seconds_left"] == 0.0  # elapsed x (1 - 1) / 1
    assert {r["level"] for r in records} == {"info"}


def test_with_log_format_json_an_error_is_a_json_line_and_still_exits_2(tmp_path: Path) -> None:
    done = _piped("--log-format", "json", "simulate", str(tmp_path / "nope.yaml"), cwd=tmp_path)
    assert done.returncode == 2
    [record] = [json.loads(line) for line in done.stderr.splitlines()]
    assert record["level"] == "error" and record["logger"] == "gpufleet.cli"
    assert "nope.yaml" in record["msg"] and "no such scenario file" in record["msg"]


def test_with_log_format_json_validate_s_problems_are_one_json_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n", encoding="utf-8")
    done = _piped("validate", str(bad), "--log-format", "json", cwd=tmp_path)
    assert done.returncode == 2
    [record] = [json.loads(line) for line in done.stderr.splitlines()]
    assert record["msg"].startswith(f"{bad}: ")


def test_a_log_record_with_fields_is_formatted_as_one_json_object() -> None:
    stream = io.StringIO()
    output.configure(1, "json", stream)  # -v: INFO and above
    output.LOG.getChild("test").info("loaded %d jobs", 12, extra={"source": "jobs.csv"})
    output.LOG.getChild("test").debug("not at -v")
    [line] = stream.getvalue().splitlines()
    record = json.loads(line)
    assert (record["msg"], record["source"], record["logger"]) == (
        "loaded 12 jobs",
        "jobs.csv",
        "gpufleet.test",
    )


def test_a_run_of_main_leaves_no_handler_level_or_setting_behind(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["-vv", "--log-format", "json", "policies", "--json"]) == 0
    capsys.readouterr()
    assert not [h for h in output.LOG.handlers if isinstance(h, output.StderrHandler)]
    assert (output.LOG.level, output.OUTPUT) == (0, output.Output(0, "text"))


def test_the_verbosity_sets_the_package_logger_s_level() -> None:
    levels = {}
    for v in (-1, 0, 1, 2):
        output.configure(v, "text", io.StringIO())
        levels[v] = output.LOG.level
    assert levels == {-1: 40, 0: 30, 1: 20, 2: 10}  # ERROR, WARNING, INFO, DEBUG


# --- the bar's figures ------------------------------------------------------------------------
def test_the_bar_counts_runs_per_second_and_the_time_left_from_the_rate_so_far() -> None:
    stream = io.StringIO()
    ticks = iter([0.0, 30.0])
    bar = ProgressBar(
        "sweep", stream, after_s=0, force=True, total=40, unit="runs", clock=ticks.__next__
    )
    bar(0.25)
    # 0.25 x 40 = 10 runs in 30 s: 0.333 runs/s; left 30 s x 0.75 / 0.25 = 90 s = 1m30s
    assert stream.getvalue() == (
        "\rsweep [#######.......................]  25.0% 0.333 runs/s, 1m30s left\x1b[K"
    )


def test_hours_left_and_an_unknown_time_left_read_as_such() -> None:
    stream = io.StringIO()
    ticks = iter([0.0, 100.0, 200.0])
    bar = ProgressBar("simulate", stream, after_s=0, force=True, clock=ticks.__next__)
    bar(0.0)  # nothing done yet: no rate to go by
    bar(0.04)  # 200 s for 4%: 200 x 0.96 / 0.04 = 4800 s = 1 h 20 min
    text = stream.getvalue()
    assert "0%/s, time left unknown" in text
    assert "0.02%/s, 1h20m left" in text  # 4% / 200 s


def test_stages_say_nothing_off_a_terminal_and_time_each_stage_on_one() -> None:
    quiet = io.StringIO()
    Stages("convert", quiet).start("reading")
    assert quiet.getvalue() == ""
    loud = io.StringIO()
    ticks = iter([0.0, 1.25, 1.5, 4.0])
    stages = Stages("convert", loud, force=True, clock=ticks.__next__)
    stages.start("reading x")
    stages.start("writing")
    stages.done()
    assert loud.getvalue() == "convert: reading x ... 1.2 s\nconvert: writing ... 2.5 s\n"


def test_a_progress_delay_that_is_not_a_number_is_bad_input(
    small: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GPUFLEET_PROGRESS_AFTER_S", "soon")
    assert main(["simulate", str(small)]) == 2
    assert "GPUFLEET_PROGRESS_AFTER_S='soon': not a number of seconds" in capsys.readouterr().err


# --- between the cycles of observe --every ----------------------------------------------------
class _Time:
    """A clock that only sleeping moves, and the sleeps asked of it."""

    def __init__(self, now: float) -> None:
        self.now, self.sleeps = now, []  # type: list[float]

    def clock(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_between_cycles_a_terminal_sees_the_count_the_last_cycle_s_time_and_a_countdown() -> None:
    t, tty = _Time(0.5), _Tty()  # the first cycle began at 0 and took 0.5 s
    output.Cycles("observe", 3.0, count=3, stream=tty, clock=t.clock, sleep=t.sleep).wait(1, 0.0)
    # due at 0 + 3 s: 2.5 s left shows as 3s, then 1.5 as 2s, 0.5 as 1s (rounded up)
    line = "\robserve: cycle 1 of 3 took 0.5 s; next in {}\x1b[K"
    assert tty.getvalue() == "".join(line.format(f"{n}s") for n in (3, 2, 1)) + "\r\x1b[K"
    assert t.sleeps == [1.0, 1.0, 0.5]  # in one-second steps, to the due time exactly


def test_between_cycles_quiet_or_off_a_terminal_shows_nothing_and_still_waits() -> None:
    t, piped = _Time(0.0), io.StringIO()
    output.Cycles("observe", 2.0, stream=piped, clock=t.clock, sleep=t.sleep).wait(4, 0.0)
    assert (piped.getvalue(), t.now) == ("", 2.0)
    output.configure(-1, "text")
    t, tty = _Time(0.0), _Tty()
    output.Cycles("observe", 2.0, stream=tty, clock=t.clock, sleep=t.sleep).wait(4, 0.0)
    assert (tty.getvalue(), t.now) == ("", 2.0)


def test_between_cycles_with_log_format_json_a_terminal_gets_one_json_line_per_wait() -> None:
    output.configure(0, "json")
    t, tty = _Time(10.25), _Tty()  # cycle 2 began at 10 and took 0.25 s; every 60 s
    output.Cycles("observe", 60.0, stream=tty, clock=t.clock, sleep=t.sleep).wait(2, 10.0)
    [line] = tty.getvalue().splitlines()
    doc = json.loads(line)
    assert (doc["msg"], doc["cycles"], doc["count"]) == ("observe: cycle 2 took 0.2 s", 2, None)
    assert (doc["last_cycle_s"], doc["next_in_s"]) == (0.25, 59.8)  # 10 + 60 - 10.25
