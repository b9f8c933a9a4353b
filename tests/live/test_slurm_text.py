"""The job list from squeue's text fields (gpufleet.live.slurm.jobs_text) against the
JSON one, on the story recorded by record_text.py (samples/slurm-text/: both formats,
the per-job ``scontrol -d show job`` answers and Prometheus at one instant).

The recording, as it fell: the story's running jobs 2937 (tesla, gf-h100-1 GPUs 4-7),
2938 (tesla, gf-h100-2 GPUs 0-3), 2939 and 2940 (xai, gf-h100-1 GPUs 0-1 and 2-3);
pending 2941 (xai, AssocGrpGRES), 2942 (tesla, Resources) and 2943 (tesla's A100 job,
whose reason squeue prints as the description "Nodes required for job are DOWN, ..."
where the JSON says Resources); ten jobs cancelled minutes before, still listed.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from gpufleet.live.errors import SourceError
from gpufleet.live.mapping import load_mapping
from gpufleet.live.observation import Observation
from gpufleet.live.observe import observe
from gpufleet.live.prometheus import PrometheusSource, ReplayTransport
from gpufleet.live.reading import read_prometheus, read_slurm
from gpufleet.live.runner import ReplayRunner, command_text
from gpufleet.live.slurm import JobDetails, SlurmCliSource, SlurmJob
from gpufleet.live.slurm.cli import SACCTMGR_ASSOC
from gpufleet.live.slurm.jobs_text import (
    COLD_LIMIT,
    SQUEUE_JSON,
    SQUEUE_TEXT,
    lookup_allocations,
    parse_squeue_text,
    read_text_jobs,
    reason_code,
    scontrol_detail,
)
from tests.live.test_observe import REGISTERED

SAMPLES = Path(__file__).parent / "samples"
FOLDER = SAMPLES / "slurm-text"
READ_AT = datetime.fromisoformat(json.loads((FOLDER / "recorded.json").read_text())["recorded_at"])
TEXT = command_text(SQUEUE_TEXT)
RUNNING = (2937, 2938, 2939, 2940)


def runner() -> ReplayRunner:
    """The recording, with the associations (the accounts' GPU caps, which the recorder
    does not ask) from samples/slurm/, as story_samples.story_runner takes them: the same
    cluster's accounts (scripts/devcluster/accounts.sh), unchanged since."""
    replay = ReplayRunner.from_directory(FOLDER / "slurm")
    assoc = command_text(SACCTMGR_ASSOC)
    replay.outputs[assoc] = ReplayRunner.from_directory(SAMPLES / "slurm").outputs[assoc]
    return replay


def source(jobs_format: str, replay: ReplayRunner | None = None) -> SlurmCliSource:
    return SlurmCliSource(replay or runner(), clock=lambda: READ_AT, jobs_format=jobs_format)


def observed(slurm: SlurmCliSource) -> Observation:
    prometheus = PrometheusSource(
        "http://127.0.0.1:19090", ReplayTransport.from_directory(FOLDER / "prometheus")
    )
    return observe(
        READ_AT,
        load_mapping(SAMPLES / "mapping" / "devcluster.yaml"),
        REGISTERED,
        slurm=read_slurm(slurm),
        gpus=read_prometheus(prometheus, READ_AT),
    )


def without_free_text(job: SlurmJob) -> SlurmJob:
    """What the text does not ask: the name and the comment."""
    return replace(job, name="", comment="")


def by_id(jobs: tuple[SlurmJob, ...]) -> dict[int, SlurmJob]:
    return {j.job_id: without_free_text(j) for j in jobs}


def test_the_text_list_reads_every_job_as_the_json_does_but_name_and_comment() -> None:
    text, json_jobs = source("text").jobs(), source("json").jobs()
    assert len(text) == len(json_jobs) == 16  # 4 running, 3 pending, 9 cancelled
    assert by_id(text) == by_id(json_jobs)


def test_the_observation_from_the_text_list_is_the_json_ones() -> None:
    text, json_obs = observed(source("text")), observed(source("json"))
    assert text == json_obs
    assert text.failures == ()
    # the running jobs' GPUs: tesla 4 + 4, xai 2 + 2 = 12, each with its DCGM sample
    assert sum(u.allocated for u in text.usage) == 12
    assert sum(u.unmeasured or 0 for u in text.usage) == 0


def test_a_description_instead_of_a_reason_code_is_resolved_by_one_json_read() -> None:
    replay = runner()
    cold = source("text", replay)
    jobs = {j.job_id: j for j in cold.jobs()}
    assert jobs[2943].reason == "Resources"  # squeue said "Nodes required for job are ..."
    assert replay.asked == [TEXT, command_text(SQUEUE_JSON)]
    assert cold.details.json_reads == 1 and cold.details.lookups == 0


def test_a_second_read_asks_only_squeue_text_its_lookups_remembered() -> None:
    replay = runner()
    warm = source("text", replay)
    first = warm.jobs()
    replay.asked.clear()
    assert warm.jobs() == first
    assert replay.asked == [TEXT]


def test_running_jobs_gpu_indices_from_scontrol_are_the_json_ones() -> None:
    replay = runner()
    lines = {x.job_id: x for x in parse_squeue_text("squeue", replay.run(SQUEUE_TEXT))}
    json_jobs = by_id(source("json").jobs())
    for job_id in RUNNING:
        assert lookup_allocations(replay, lines[job_id]) == json_jobs[job_id].allocations
    # 2937 holds gf-h100-1's GPUs 4-7 (scontrol: GRES=gpu:h100:4(IDX:4-7))
    assert [a.indices for a in lookup_allocations(replay, lines[2937])] == [(4, 5, 6, 7)]


def test_few_new_running_jobs_are_looked_up_one_by_one() -> None:
    """With the descriptions already resolved (a warm cache), the four running jobs
    (four, not over COLD_LIMIT) are asked of scontrol, each once."""
    replay = runner()
    details = JobDetails(reasons=warm_reasons(replay))
    read = read_text_jobs(replay, READ_AT, details)
    assert len(RUNNING) <= COLD_LIMIT
    assert replay.asked[0] == TEXT  # then each running job once, in squeue's order
    assert sorted(replay.asked[1:]) == [command_text(scontrol_detail(j)) for j in RUNNING]
    assert read.problems == () and details.lookups == 4 and details.json_reads == 0
    assert by_id(read.jobs) == by_id(source("json").jobs())


def warm_reasons(replay: ReplayRunner) -> dict[tuple[int, str], str]:
    """The reasons an earlier cycle resolved: the two jobs squeue describes (2934,
    cancelled, and 2943) are Resources in the JSON."""
    lines = parse_squeue_text("squeue", replay.outputs[TEXT])
    described = {(x.job_id, x.reason_text) for x in lines if reason_code(x.reason_text) is None}
    assert {job_id for job_id, _ in described} == {2934, 2943}
    return dict.fromkeys(described, "Resources")


def test_a_job_name_that_mimics_a_detail_line_cannot_claim_other_gpus() -> None:
    """Job 2937's name made to read as a line giving it all of gf-h100-1's GPUs: its
    own detail line still follows, so gf-h100-1 is named twice and 8 + 4 != 4 GPUs."""
    replay = runner()
    key = command_text(scontrol_detail(2937))
    fake = "x\n     Nodes=gf-h100-1 CPU_IDs=0 Mem=0 GRES=gpu:h100:8(IDX:0-7)"
    replay.outputs[key] = replay.outputs[key].replace("JobName=wrap", f"JobName={fake}", 1)
    details = JobDetails(reasons=warm_reasons(replay))
    read = read_text_jobs(replay, READ_AT, details)
    jobs = {j.job_id: j for j in read.jobs}
    assert jobs[2937].allocations == ()  # unmeasured, never gf-h100-1's 0-7
    (problem,) = read.problems
    # the fake is line 2 (after "JobId=2937 JobName=x"); Slurm's own detail line, 21,
    # then names gf-h100-1 a second time
    assert problem.render() == (
        "scontrol -d show job 2937:21: Nodes: gf-h100-1 named twice "
        "(expected each of gf-h100-1 once)"
    )
    assert (2937, 1796637483) not in details.allocations  # asked again next cycle


def test_a_detail_line_on_another_node_or_with_too_many_gpus_is_refused() -> None:
    replay = runner()
    lines = {x.job_id: x for x in parse_squeue_text("squeue", replay.run(SQUEUE_TEXT))}
    key = command_text(scontrol_detail(2938))
    real = replay.outputs[key]
    replay.outputs[key] = real.replace("Nodes=gf-h100-2 ", "Nodes=gf-h100-1 ")
    with pytest.raises(SourceError, match="gf-h100-1 not one of the job's nodes"):
        lookup_allocations(replay, lines[2938])
    replay.outputs[key] = real.replace("gpu:h100:4(IDX:0-3)", "gpu:h100:8(IDX:0-7)")
    with pytest.raises(SourceError, match="give 8 GPUs to job 2938"):
        lookup_allocations(replay, lines[2938])
    replay.outputs[key] = real.replace("JobId=2938 ", "JobId=2937 ")
    with pytest.raises(SourceError, match="not this job's answer"):
        lookup_allocations(replay, lines[2938])


def test_the_failed_lookup_is_a_recorded_failure_and_those_gpus_unmeasured() -> None:
    replay = runner()
    key = command_text(scontrol_detail(2938))
    replay.outputs[key] = replay.outputs[key].replace("Nodes=gf-h100-2 ", "Nodes=gf-h100-1 ")
    slurm = source("text", replay)
    slurm.details.reasons.update(warm_reasons(replay))
    obs, json_obs = observed(slurm), observed(source("json"))
    (failure,) = obs.failures
    assert failure.source == "slurm" and "scontrol -d show job 2938" in failure.error
    # job 2938's 4 GPUs (gf-h100-2, xai's colossus) move from measured to unmeasured
    text_use = {(u.holder, u.site): u for u in obs.usage}
    json_use = {(u.holder, u.site): u for u in json_obs.usage}
    key_2938 = next(k for k in json_use if k[1] == "colossus")
    assert text_use[key_2938].allocated == json_use[key_2938].allocated == 4
    assert text_use[key_2938].unmeasured == 4 and json_use[key_2938].unmeasured == 0


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        ("2937|RUNNING|u|a|p|q|n|1|2|3|5:00|1|gres/gpu=1|None", "<line>", "does not end with"),
        ("2937|RUNNING|u|a|p|q|n|1|2|3|5:00|1|gres/gpu=1|", "<line>", "13 fields"),
        ("2937|RUNNNG|u|a|p|q|n|1|2|3|5:00|1|gres/gpu=1|None|", "state", "unknown job state"),
        ("29x7|RUNNING|u|a|p|q|n|1|2|3|5:00|1|gres/gpu=1|None|", "jobid", "not a whole"),
        ("2937|RUNNING|u|a|p|q|n|09:58|2|3|5:00|1|gres/gpu=1|None|", "submittime", "seconds"),
        ("2937|RUNNING|u|a|p|q|n|1|2|3|5 min|1|gres/gpu=1|None|", "timelimit", "duration"),
        ("2937|RUNNING|u|a|p|q|n[1|1|2|3|5:00|1|gres/gpu=1|None|", "nodelist", "host list"),
        ("2937|RUNNING|u|a|p|q|n|1|2|3|5:00|1|gres/gpu=x|None|", "tres-alloc", "not whole"),
    ],
    ids=[
        "a line cut short",
        "a field missing",
        "a state slurm has not",
        "a job id with a letter",
        "a local time where seconds were asked",
        "a time limit in words",
        "an unclosed host range",
        "a gpu count that is not a number",
    ],
)
def test_a_malformed_line_names_the_command_the_line_and_the_field(
    line: str, field: str, message: str
) -> None:
    text = "2936|CANCELLED|u|a|p|q||1|N/A|N/A|UNLIMITED|1|cpu=1|None|\n" + line + "\n"
    with pytest.raises(SourceError) as caught:
        parse_squeue_text(TEXT, text)
    assert (caught.value.source, caught.value.line, caught.value.field) == (TEXT, 2, field)
    assert message in caught.value.render()


def test_a_bar_in_a_description_stays_in_the_reason_the_last_field() -> None:
    text = "7|PENDING|u|a|p|q||1|N/A|N/A|NOT_SET|1|gres/gpu=2|Job's QOS a|b (x)|\n"
    (line,) = parse_squeue_text(TEXT, text)
    assert (line.reason_text, line.limit_s, line.gpus) == ("Job's QOS a|b (x)", None, 2)


def test_a_pending_arrays_tasks_expanded_by_r_are_its_one_record() -> None:
    text = "".join("9|PENDING|u|a|p|q||1|N/A|N/A|1:00|1|gres/gpu=1|Priority|\n" for _ in range(3))
    assert [x.job_id for x in parse_squeue_text(TEXT, text)] == [9]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("None", ""),
        ("AssocGrpGRES", "AssocGrpGRES"),
        ("ReqNodeNotAvail, UnavailableNodes:gf-a100-1", "ReqNodeNotAvail"),
        ("ReqNodeNotAvail, Reserved for maintenance", "ReqNodeNotAvail"),
        ("Nodes required for job are DOWN, DRAINED or reserved", None),
        ("Job's account not known, so it can't use this partition", None),
    ],
    ids=[
        "no reason",
        "a bare code",
        "code then unavailable nodes",
        "code then maintenance",
        "a sentence: looked up",
        "a sentence with a comma: looked up",
    ],
)
def test_reason_codes_are_read_only_where_squeue_prints_them(text: str, code: str | None) -> None:
    assert reason_code(text) == code


def test_a_running_job_gone_from_the_json_read_is_unmeasured_and_a_failure() -> None:
    """Job 2937 ended between the text list and the JSON read of a cold start."""
    replay = runner()
    key = command_text(SQUEUE_JSON)
    answer = json.loads(replay.outputs[key])
    answer["jobs"] = [j for j in answer["jobs"] if j["job_id"] != 2937]
    replay.outputs[key] = json.dumps(answer)
    read = read_text_jobs(replay, READ_AT, JobDetails())
    assert {j.job_id: j for j in read.jobs}[2937].allocations == ()
    (problem,) = read.problems
    assert problem.render().startswith("squeue --json: jobs[job_id=2937]: the job is not holding")


def test_a_job_list_format_slurm_has_not_is_refused_naming_the_file_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gpufleet.cli.main import main
    from gpufleet.live.config import LiveConfigError, load_settings

    (tmp_path / "mapping.yaml").write_text("slurm: {accounts: {}}\n")
    config = tmp_path / "live.yaml"
    config.write_text("mapping: mapping.yaml\nsources:\n  slurm:\n    jobs: xml\n")
    expected = f"{config}:4: sources.slurm.jobs: Input should be 'text' or 'json', got 'xml'"
    with pytest.raises(LiveConfigError) as bad:
        load_settings(config)
    assert expected in str(bad.value)
    assert main(["observe", "--config", str(config)]) == 2  # the input's fault, not 1
    assert expected in capsys.readouterr().err


def test_cells_shared_by_many_lines_are_read_once_and_each_line_gets_its_own_values() -> None:
    """The per-answer memo of TRES, host list and time limit gives every line what reading
    it alone gives (5,100 lines at the 10,000-GPU bench share a few dozen such texts)."""
    text = (
        "1|RUNNING|u|a|p|q|gf-h100-[1-2]|1|2|3|1:00:00|5|cpu=2,gres/gpu=16,gres/gpu:h100=16|None|\n"
        "2|PENDING|u|a|p|q||1|N/A|N/A|1:00:00|4|gres/gpu=2|Priority|\n"
        "3|PENDING|u|a|p|q||1|N/A|N/A|2-00:00:00|3|gres/gpu=2|Resources|\n"
        "4|RUNNING|u|a|p|q|gf-h100-[1-2]|1|2|3|1:00:00|2|cpu=2,gres/gpu=16,gres/gpu:h100=16|None|\n"
    )
    together = parse_squeue_text(TEXT, text)
    alone = [parse_squeue_text(TEXT, raw + "\n")[0] for raw in text.splitlines()]
    assert [replace(x, number=0) for x in together] == [replace(x, number=0) for x in alone]
    assert (together[0].nodes, together[0].gpus, together[0].gpu_type) == (
        ("gf-h100-1", "gf-h100-2"),
        16,
        "h100",
    )
    assert [x.limit_s for x in together] == [3600, 3600, 172800, 3600]  # 2 days = 172,800 s


def test_a_bad_cell_repeated_on_later_lines_is_named_on_its_first_line() -> None:
    ok = "1|PENDING|u|a|p|q||1|N/A|N/A|1:00|1|gres/gpu=1|Priority|\n"
    bad = "{}|PENDING|u|a|p|q||1|N/A|N/A|1:00|1|gres/gpu=x|Priority|\n"
    with pytest.raises(SourceError) as caught:
        parse_squeue_text(TEXT, ok + bad.format(2) + bad.format(3))
    assert (caught.value.line, caught.value.field) == (2, "tres-alloc")
