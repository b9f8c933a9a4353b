"""QOS limits through the live client and the forecast (issue 18, item 1): the reader of
``sacctmgr -P show qos`` on outputs recorded from the dev cluster, jobs that carry
squeue's user and QOS, and a forecast that holds a job by its QOS's per-user cap.

The recorded scene is tests/live/test_forecast.py's: tesla1's job 9 (4 H100) and tesla2's
job 14 (8 H100) run until ENDS (18:21:37); tesla1's job 10 (4 H100) pends; every job is
in QOS ``normal``."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gpufleet.errors import InputError
from gpufleet.live.forecast import SlurmState, forecast_from_state, read_slurm_state
from gpufleet.live.forecast_setup import all_limits
from gpufleet.live.mapping import ClusterMapping, load_mapping
from gpufleet.live.slurm.model import TresLimit
from gpufleet.live.slurm.qos import SlurmQos, parse_qos, read_qos
from gpufleet.policies.slurm.setup import QosLimits
from tests.live.replay import READ_AT, cli_client

SAMPLES = Path(__file__).parent / "samples" / "slurm"
MAPPING = Path(__file__).parent / "samples" / "mapping" / "devcluster.yaml"
ENDS = datetime(2026, 12, 6, 18, 21, 37, tzinfo=UTC)


@pytest.fixture(scope="module")
def mapping() -> ClusterMapping:
    return load_mapping(MAPPING)


@pytest.fixture(scope="module")
def state() -> SlurmState:
    return read_slurm_state(cli_client())


def test_the_recorded_qos_list_reads_with_its_limits() -> None:
    text = (SAMPLES / "sacctmgr-P-show-qos-with-gfcap2.txt").read_text()
    normal, gfcap2 = parse_qos("sacctmgr -P show qos", text)
    assert normal == SlurmQos("normal", 0, (), (), None, (), (), None)
    assert gfcap2 == SlurmQos(
        "gfcap2", 10, ("OverPartQOS",), (TresLimit("gres/gpu", 2),), None, (),
        (TresLimit("gres/gpu", 1),), 3,
    )  # fmt: skip
    assert read_qos(cli_client().runner) == (normal,)  # the replayed scene: only normal


def test_a_bad_cell_is_a_source_error_naming_the_line() -> None:
    text = (SAMPLES / "sacctmgr-P-show-qos-format-with-gfcap2.txt").read_text()
    with pytest.raises(InputError, match=r"show qos:3: MaxJobsPU: .x. is not a whole number"):
        parse_qos("sacctmgr -P show qos", text.replace("|gres/gpu=1|3", "|gres/gpu=1|x"))


def test_qos_gpu_types_are_mapped_and_an_unmapped_type_is_noted(
    mapping: ClusterMapping,
) -> None:
    q = SlurmQos(
        "typed", 0, (), (TresLimit("gres/gpu:h100", 6), TresLimit("gres/gpu:mi300x", 2)), 5,
        (TresLimit("gres/gpu", 8),), (TresLimit("gres/gpu", 4),), 2,
    )  # fmt: skip
    got, notes = all_limits((), (q,), mapping)
    assert got.qos == {
        "typed": QosLimits(
            grp_gpus={"H100-SXM": 6},
            grp_jobs=5,
            max_gpus_per_job=8,
            max_gpus_per_user={None: 4},
            max_jobs_per_user=2,
        )
    }
    assert notes == ("QOS typed: limit gres/gpu:mi300x of an unmapped GPU type dropped",)


def test_jobs_carry_squeue_user_and_qos_into_the_run(state: SlurmState) -> None:
    assert {(j.job_id, j.user, j.qos) for j in state.jobs if j.job_id in (10, 13)} == {
        (10, "tesla1", "normal"),
        (13, "xai1", "normal"),
    }


def test_the_forecast_holds_a_job_by_its_qos_per_user_cap(
    state: SlurmState, mapping: ClusterMapping
) -> None:
    # Job 14 told to run 100 s ends at 18:13:17; without a QOS limit tesla1's job 10
    # (4 GPUs) starts there (test_forecast.py). With QOS normal MaxTRESPerUser=
    # gres/gpu=4, tesla1 already holds 4 in job 9: 4 + 4 = 8 > 4, so job 10 waits for
    # job 9's end at ENDS (then 0 + 4 <= 4).
    early = datetime(2026, 12, 6, 18, 13, 17, tzinfo=UTC)
    free = forecast_from_state(state, mapping, READ_AT, run_time_s={14: 100.0})
    assert {j.job_id: j.start for j in free.pending}[10] == early
    cap = SlurmQos("normal", 0, (), (), None, (), (TresLimit("gres/gpu", 4),), None)
    held = forecast_from_state(replace(state, qos=(cap,)), mapping, READ_AT, run_time_s={14: 100.0})
    assert {j.job_id: j.start for j in held.pending}[10] == ENDS


def test_a_qos_list_that_cannot_be_read_is_said_in_the_notes(
    state: SlurmState, mapping: ClusterMapping
) -> None:
    f = forecast_from_state(replace(state, qos_error="sacctmgr: not recorded"), mapping, READ_AT)
    assert "QOS limits not read: sacctmgr: not recorded" in f.notes
