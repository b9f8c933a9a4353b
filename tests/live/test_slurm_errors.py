"""Bad answers from Slurm: each is a SourceError (an InputError: CLI exit 2, HTTP 422)
naming the command, the field or line, what was wrong and what was expected. The bad
answers are the recorded real ones with one thing broken."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import pytest

from gpufleet.errors import exit_code, http_status
from gpufleet.live.errors import SourceError, SourceUnavailableError
from gpufleet.live.runner import ReplayRunner, SubprocessRunner
from gpufleet.live.slurm.cli import SACCTMGR_ASSOC, SCONTROL_CONFIG, SSHARE
from tests.live.replay import SAMPLES, cli_client, replay

SQUEUE_TEXT = (SAMPLES / "squeue-json.json").read_text()
SINFO_TEXT = (SAMPLES / "sinfo-json.json").read_text()


def with_output(command: str, text: str) -> ReplayRunner:
    runner = replay()
    runner.outputs[command] = text
    return runner


def broken_json(text: str, edit: Callable[[dict[str, Any]], None]) -> str:
    doc = json.loads(text)
    edit(doc)
    return json.dumps(doc)


def squeue_error(edit: Callable[[dict[str, Any]], None]) -> SourceError:
    runner = with_output("squeue --json", broken_json(SQUEUE_TEXT, edit))
    with pytest.raises(SourceError) as err:
        cli_client(runner).jobs()
    return err.value


def test_output_that_is_not_json_names_the_command() -> None:
    runner = with_output("squeue --json", "squeue: error: Invalid user\n")
    with pytest.raises(SourceError) as err:
        cli_client(runner).jobs()
    assert err.value.source == "squeue --json"
    assert str(err.value).startswith("squeue --json: not JSON (")
    assert str(err.value).endswith("(expected a JSON document)")
    assert (exit_code(err.value), http_status(err.value)) == (2, 422)


def test_an_unknown_job_state_names_the_job_and_lists_the_known_ones() -> None:
    err = squeue_error(lambda d: d["jobs"][3].update(job_state="WAITING"))
    assert err.field == "jobs[3].job_state"
    assert "unknown job state ('WAITING',)" in str(err)
    assert "one of PENDING, RUNNING, SUSPENDED" in err.expected


def test_a_missing_field_is_named_with_its_path() -> None:
    err = squeue_error(lambda d: d["jobs"][0].pop("tres_req_str"))
    assert str(err) == "squeue --json: jobs[0].tres_req_str: missing (expected the field present)"


def test_a_fractional_time_limit_is_not_a_whole_number() -> None:
    err = squeue_error(lambda d: d["jobs"][2].update(time_limit=5.5))
    assert str(err) == "squeue --json: jobs[2].time_limit: is 5.5 (expected a whole number)"


def test_errors_slurm_reports_inside_the_answer_stop_the_read() -> None:
    err = squeue_error(lambda d: d["errors"].append({"error": "Unable to contact slurmctld"}))
    assert err.field == "errors[0]"
    assert "Slurm reported an error: Unable to contact slurmctld" in str(err)


def test_a_gres_count_that_is_not_a_number_names_the_node_field() -> None:
    bad = broken_json(SINFO_TEXT, lambda d: d["nodes"][1].update(gres="gpu:h100:eight"))
    with pytest.raises(SourceError) as err:
        cli_client(with_output("sinfo --json", bad)).nodes()
    assert str(err.value) == (
        "sinfo --json: nodes[1].gres: GRES item 'gpu:h100:eight' is not understood "
        "(expected gpu[:TYPE]:COUNT)"
    )


def test_sacctmgr_without_parsable_output_is_refused_at_the_header() -> None:
    command = " ".join(SACCTMGR_ASSOC)
    text = "   Cluster    Account       User\n---------- ---------- ----------\n"
    with pytest.raises(SourceError) as err:
        cli_client(with_output(command, text)).associations()
    assert err.value.line == 1
    assert "no header line (expected NAME|NAME|... (run with -P))" in str(err.value)


def test_a_bad_limit_in_sacctmgr_names_its_line_and_column() -> None:
    command = " ".join(SACCTMGR_ASSOC)
    lines = SAMPLES / "sacctmgr-P-show-assoc-format-Cluster-Account-User-Partition-.txt"
    text = lines.read_text().replace("gres/gpu=4", "gres/gpu=four")
    with pytest.raises(SourceError) as err:
        cli_client(with_output(command, text)).associations()
    # the xai row is the 8th line: header, root, 2 root users, tesla, 2 tesla users, xai
    assert str(err.value) == (
        f"{command}: line 8: GrpTRES: TRES gres/gpu count 'four' is not whole "
        "(expected a whole number)"
    )


def test_an_sshare_row_with_a_missing_cell_names_its_line() -> None:
    command = " ".join(SSHARE)
    text = (SAMPLES / "sshare-P-a-l.txt").read_text().splitlines()
    text[3] = text[3].rsplit("|", 1)[0]
    with pytest.raises(SourceError) as err:
        cli_client(with_output(command, "\n".join(text))).fairshare()
    assert (err.value.line, err.value.field) == (4, "<row>")
    assert "10 cells (expected 11 as in the header)" in str(err.value)


def test_a_config_without_a_priority_weight_names_the_key() -> None:
    command = " ".join(SCONTROL_CONFIG)
    text = (SAMPLES / "scontrol-show-config.txt").read_text()
    text = "\n".join(ln for ln in text.splitlines() if not ln.startswith("PriorityWeightAge"))
    with pytest.raises(SourceError) as err:
        cli_client(with_output(command, text)).config()
    assert str(err.value) == (
        "scontrol show config: PriorityWeightAge: missing (expected a line "
        "'PriorityWeightAge = ...')"
    )


def test_a_config_duration_slurm_never_writes_is_refused() -> None:
    command = " ".join(SCONTROL_CONFIG)
    text = (SAMPLES / "scontrol-show-config.txt").read_text()
    text = text.replace("PriorityCalcPeriod      = 00:01:00", "PriorityCalcPeriod      = soon")
    with pytest.raises(SourceError) as err:
        cli_client(with_output(command, text)).config()
    assert err.value.field == "PriorityCalcPeriod"
    assert "'soon' is not a duration" in str(err.value)


def test_replay_of_a_command_never_recorded_lists_the_recorded_ones() -> None:
    with pytest.raises(SourceUnavailableError) as err:
        replay().run(["sprio", "-l"])
    assert err.value.source == "sprio -l"
    assert "not recorded" in str(err.value)
    assert "squeue --json" in err.value.expected


def test_a_command_not_installed_is_unavailable() -> None:
    with pytest.raises(SourceUnavailableError) as err:
        SubprocessRunner().run(["gpufleet-no-such-squeue", "--json"])
    assert str(err.value) == (
        "gpufleet-no-such-squeue --json: gpufleet-no-such-squeue is not installed here "
        "(expected the command on PATH)"
    )


def test_a_failing_command_reports_its_exit_status_and_last_error_line() -> None:
    script = "import sys; print('x', file=sys.stderr); sys.exit('squeue: error: no controller')"
    with pytest.raises(SourceUnavailableError) as err:
        SubprocessRunner().run([sys.executable, "-c", script])
    assert "exit 1: squeue: error: no controller" in str(err.value)


def test_a_command_that_hangs_is_cut_at_the_timeout() -> None:
    with pytest.raises(SourceUnavailableError) as err:
        SubprocessRunner(timeout_s=0.2).run([sys.executable, "-c", "import time; time.sleep(5)"])
    assert "no answer within 0.2 s" in str(err.value)
