"""A replay's tenants (issue 14 item 6): a fairness policy on a one-queue trace is said to
have no one to be fair to, in the text and the JSON, and ``--queue-by user`` makes each
user a tenant (gpufleet.inputs.traces.tenants)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gpufleet.cli.main import main
from gpufleet.errors import InputError
from gpufleet.inputs.traces.registry import load_source
from gpufleet.inputs.traces.replay import to_scenario
from gpufleet.inputs.traces.rows import RowPolicy
from gpufleet.inputs.traces.tenants import queued_by
from gpufleet.inputs.traces.workload import COLUMNS, Workload, write_parquet
from gpufleet.sim.simulator import Simulation
from tests.support.traces import trace_folder


def one_queue(users: list[str] | None = None) -> Workload:
    """Four jobs, all in queue 'a', of two users (u1 the first two, u2 the last two)."""
    return Workload.build(
        "w",
        [0.0, 60.0, 120.0, 180.0],
        [3600.0, 3600.0, 1800.0, 600.0],
        [1, 2, 4, 8],
        source="test",
        queue=["a"] * 4,
        user=users if users is not None else ["u1", "u1", "u2", "u2"],
    )


WARNING = "one tenant (queue 'a'): drf reduces to fifo; use --queue-by user (2 users in this trace)"


def _replay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], w: Workload, *flags: str
) -> tuple[int, str, str]:
    src = tmp_path / "w.parquet"
    write_parquet(w, src)
    capsys.readouterr()
    rc = main(["replay", str(src), "--gpus", "16", *flags])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_drf_on_one_queue_is_warned_in_the_text_and_the_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, _ = _replay(tmp_path, capsys, one_queue(), "--policy", "drf")
    assert rc == 0 and f"warning: {WARNING}" in out.splitlines()
    rc, out, _ = _replay(tmp_path, capsys, one_queue(), "--policy", "drf", "--json")
    assert rc == 0 and json.loads(out)["warnings"] == [WARNING]


@pytest.mark.parametrize(
    ("flags", "why"),
    [
        pytest.param(("--policy", "fifo"), "fifo shares nothing", id="fifo"),
        pytest.param(("--policy", "drf", "--queue-by", "user"), "two users", id="drf-by-user"),
        # slurm.conf's default PriorityWeightFairshare is 0: no fair share to speak of
        pytest.param(("--policy", "slurm-multifactor"), "no fair share", id="slurm-defaults"),
    ],
)
def test_no_warning_where_there_is_no_one_to_share_between_or_someone_is(
    flags: tuple[str, ...], why: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, _ = _replay(tmp_path, capsys, one_queue(), *flags, "--json")
    assert rc == 0 and json.loads(out)["warnings"] == [], why


def test_slurm_with_a_fair_share_weight_on_one_queue_is_warned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ("--policy", "slurm-multifactor", "--policy-option", "weight_fairshare=10000")
    rc, out, _ = _replay(tmp_path, capsys, one_queue(), *flags, "--json")
    assert rc == 0
    assert json.loads(out)["warnings"] == [
        "one tenant (queue 'a'): slurm-multifactor has no one to share between; "
        "use --queue-by user (2 users in this trace)"
    ]


def test_queue_by_user_makes_each_user_a_program(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, _ = _replay(tmp_path, capsys, one_queue(), "--queue-by", "user", "--json")
    assert rc == 0 and sorted(json.loads(out)["programs"]) == ["u1", "u2"]


def test_queue_by_a_column_the_trace_leaves_empty_exits_2_naming_what_it_has(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, _, err = _replay(tmp_path, capsys, one_queue(users=[""] * 4), "--queue-by", "user")
    assert rc == 2
    assert (
        "--queue-by user: w has no user column (every job's user is empty); this trace has "
        "queue (1 distinct) (--queue-by queue|vc|account|user)"
    ) in err


def test_queue_by_an_unknown_value_names_the_valid_ones() -> None:
    with pytest.raises(InputError, match=r"'team' is not a column tenants can come from"):
        queued_by(one_queue(), "team")


def test_queue_by_vc_or_account_keeps_the_queue_column() -> None:
    w = one_queue()
    assert queued_by(w, "vc") is w and queued_by(w, "account") is w


# --- a real trace ------------------------------------------------------------------------
@pytest.mark.parametrize("trace", ["helios-2020", "philly-2017-dirlab15k"])
def test_on_a_real_trace_by_user_drf_differs_from_fifo_and_by_its_one_queue_it_does_not(
    trace: str,
) -> None:
    # the first 2,000 rows of the DIR-LAB extract (users, no VC), on 256 GPUs, seed 1
    folder = trace_folder(trace.split("-dirlab")[0])  # philly-2017-dirlab15k: philly-2017
    w = load_source(trace, RowPolicy(str(folder)))
    w = Workload.build(w.name, **{c: w.column(c)[:2000] for c in COLUMNS})

    def starts(wl: Workload, policy: str) -> np.ndarray:
        res = Simulation(to_scenario(wl, policy, gpus=256, seed=1)).run()
        order = np.argsort(res.jobs["id"])
        return np.asarray(res.jobs["start_s"][order])

    assert np.array_equal(starts(w, "drf"), starts(w, "fifo"))  # one queue: drf is fifo
    by_user = queued_by(w, "user")
    assert len(set(by_user.queue.tolist())) > 50
    assert not np.array_equal(starts(by_user, "drf"), starts(by_user, "fifo"))
