"""The journal's reading of a run cut short, and the apply lock, on real parts: a SQLite
register's audit log and a real ``flock``."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from gpufleet.errors import BusyError
from gpufleet.governance.store.audit import iter_records, verify
from gpufleet.governance.store.db import Store
from gpufleet.governance.store.models import AuditRecord
from gpufleet.governance.store.replay import check_rows
from gpufleet.live.enact.commands import forward_and_inverse
from gpufleet.live.enact.current import AccountNow, ClusterNow
from gpufleet.live.enact.desired import desired_state
from gpufleet.live.enact.diff import diff
from gpufleet.live.enact.journal import Journal, assess, change_dict, unfinished
from gpufleet.live.enact.lock import apply_lock
from gpufleet.live.enact.model import ClusterSettings
from gpufleet.live.errors import SourceError
from tests.live.enact.builders import lease, mapping, rows

AT = datetime(2026, 7, 15)
NO_RESERVATIONS = "No reservations in the system\n"  # scontrol's exact answer (22.05)
OLD = ClusterNow(
    "gfdev",
    {
        "tesla": AccountNow("tesla", "root", 60, {}),
        "xai": AccountNow("xai", "root", 40, {"gres/gpu": 4}),
    },
)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(f"sqlite:///{tmp_path / 'r.db'}")
    s.upgrade()
    return s


def _begun(store: Store) -> Journal:
    """A run journalled ahead and cut short before any change was recorded."""
    d = desired_state(rows(lease()), mapping(), ClusterSettings("gfdev"), AT)
    steps = [
        change_dict(n, c, *forward_and_inverse(c, "gfdev", AT))
        for n, c in enumerate(diff(d, OLD), start=1)
    ]
    journal = Journal(store, "test:enact", "gfdev")
    journal.begin(AT, steps, ())
    return journal


@pytest.mark.parametrize(
    ("tesla", "xai", "expected"),
    [
        ({}, {"gres/gpu": 4}, "old state: none of its changes is on the cluster"),
        ({"gres/gpu": 12}, {"gres/gpu": 4}, "partly: changes 1 applied"),
        ({"gres/gpu": 12}, {"gres/gpu": 8}, "new state: all of its changes are on the cluster"),
        ({"gres/gpu": 12}, {"gres/gpu": 6}, "partly: changes 1 applied; changes 2 at neither"),
    ],
    ids=["nothing-ran", "the-first-ran", "both-ran", "someone-else-changed-the-second"],
)
def test_a_run_cut_short_is_read_as_old_new_or_partly(
    store: Store, tesla: dict[str, int], xai: dict[str, int], expected: str
) -> None:
    _begun(store)
    run = unfinished(store, "gfdev")
    assert run is not None
    now = ClusterNow(
        "gfdev",
        {
            "tesla": AccountNow("tesla", "root", 60, tesla),
            "xai": AccountNow("xai", "root", 40, xai),
        },
    )
    assert assess(run, now).text().startswith(expected)


def test_a_run_with_its_end_recorded_is_not_unfinished_and_the_chain_verifies(store: Store) -> None:
    journal = _begun(store)
    journal.end("applied", changes=2)
    assert unfinished(store, "gfdev") is None
    assert unfinished(store, "another-cluster") is None
    with store.read() as s:
        assert verify(s).ok
        # the records name a Slurm cluster, not a row: the replay of the rows skips them
        assert check_rows(s, iter_records(s)).ok


def test_a_second_applier_is_refused_at_once_while_the_first_holds_the_lock(
    tmp_path: Path,
) -> None:
    path = tmp_path / "apply.lock"
    with apply_lock(path), pytest.raises(BusyError, match="another apply holds"), apply_lock(path):
        pass
    with apply_lock(path):  # released: the next one gets it
        pass


def test_the_lock_does_not_follow_a_planted_symbolic_link(tmp_path: Path) -> None:
    target = tmp_path / "precious"
    target.write_text("keep")
    (tmp_path / "apply.lock").symlink_to(target)
    with (
        pytest.raises(BusyError, match="cannot open the apply lock"),
        apply_lock(tmp_path / "apply.lock"),
    ):
        pass
    assert target.read_text() == "keep"


def test_an_audit_log_that_cannot_be_written_stops_the_apply_before_any_command(
    store: Store, tmp_path: Path
) -> None:
    """Write-ahead: the run's first record is written before the cluster is touched. A
    register opened read-only (SQLite's mode=ro, which binds root too) refuses it."""
    from gpufleet.live.enact.journal import JournalError
    from gpufleet.live.enact.slurm_apply import RecordingExecutor, apply
    from gpufleet.live.runner import ReplayRunner

    recorded = ReplayRunner.from_directory(Path(__file__).parents[1] / "samples/slurm")
    runner = ReplayRunner({**recorded.outputs, "scontrol -o show reservation": NO_RESERVATIONS})
    read_only = Store(f"sqlite:///file:{tmp_path / 'r.db'}?mode=ro&uri=true")
    d = desired_state(rows(lease()), mapping(), ClusterSettings("gfdev"), AT)
    executor = RecordingExecutor()
    with pytest.raises(JournalError, match=r"audit log could not be written \(enact-begin\)"):
        apply(d, runner, executor, read_only, "test:enact")
    assert executor.calls == []


def test_a_refused_change_runs_the_inverses_of_those_before_it_newest_first(
    store: Store,
) -> None:
    from gpufleet.live.enact.slurm_apply import EnactFailedError, RecordingExecutor, apply
    from gpufleet.live.runner import ReplayRunner

    recorded = ReplayRunner.from_directory(Path(__file__).parents[1] / "samples/slurm")
    runner = ReplayRunner({**recorded.outputs, "scontrol -o show reservation": NO_RESERVATIONS})
    d = desired_state(rows(lease()), mapping(), ClusterSettings("gfdev"), AT)
    executor = RecordingExecutor({2: (1, " Nothing modified\n")})
    with pytest.raises(EnactFailedError, match="exit 1: Nothing modified; the changes made"):
        apply(d, runner, executor, store, "test:enact")
    # the recorded cluster: tesla uncapped, xai at 4; tesla 12 - 4 + 4 = 12 first (lowering)
    first, refused, undo = executor.calls
    assert (first[-1], refused[-1]) == ("GrpTRES=gres/gpu=12", "GrpTRES=gres/gpu=8")
    assert undo == (*first[:-1], "GrpTRES=gres/gpu=-1")  # tesla's cap cleared again
    assert unfinished(store, "gfdev") is None  # the run ended: rolled-back


def test_an_apply_after_a_run_cut_short_finishes_it_and_closes_it_by_name(store: Store) -> None:
    from gpufleet.live.enact.slurm_apply import RecordingExecutor, apply
    from gpufleet.live.runner import ReplayRunner

    cut = _begun(store)  # cut short before its first change: the cluster is in the old state
    recorded = ReplayRunner.from_directory(Path(__file__).parents[1] / "samples/slurm")
    runner = ReplayRunner({**recorded.outputs, "scontrol -o show reservation": NO_RESERVATIONS})
    d = desired_state(rows(lease()), mapping(), ClusterSettings("gfdev"), AT)
    executor = RecordingExecutor()
    with pytest.raises(SourceError, match="read back, 2 change"):
        # the replayed cluster never changes, so the read-back finds both changes missing:
        # the verify phase at work
        apply(d, runner, executor, store, "test:enact")
    assert len(executor.calls) == 2
    with store.read() as s:
        ends = [
            json.loads(r.after)
            for r in s.scalars(select(AuditRecord).where(AuditRecord.action == "enact-end"))
        ]
    assert (ends[0]["run"], ends[0]["outcome"]) == (cut.run, "finished-by")
    assert ends[1]["outcome"] == "verify-failed"
    assert unfinished(store, "gfdev") is None
