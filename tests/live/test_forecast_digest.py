"""Each pending job's predicted start on a seeded synthetic live state (the benchmark's
state, :mod:`gpufleet.live.synthetic`, at a size a test can run), pinned as a digest.

The speed-ups of the Slurm backfill policies must not move a single start: the digests were
taken before them (commit 0a57903) and every later change keeps them. One change of
semantics moved slurm-backfill's (issue 18: a planned job holds its nodes whole, a window
reaches its end instant, priorities are whole numbers, as Slurm 22.05 does): re-pinned
from the code of that change alone (branch i18, before the speed-ups), which the sped-up
code matches at 200/100 and at 500/250. A digest is the
SHA-256 of the sorted ``(job id, start, end)`` of every pending job, ISO instants, "" for
none; its first 16 hex digits are kept. A failure means some job's predicted start or end
moved: compare the two runs' job lists to find the first one that did.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from gpufleet.domain.scenario import PolicySpec
from gpufleet.live.forecast import forecast_from_state
from gpufleet.live.forecast_policy import choose_policy
from gpufleet.live.mapping import parse_mapping
from gpufleet.live.synthetic import MAPPING, NOW, synthetic_state
from gpufleet.policies.registry import POLICIES


def _digest(pending: int, running: int, policy: str) -> tuple[str, int]:
    state = synthetic_state(pending, running)
    spec = choose_policy(state.config, slurm_fairshare=True).spec  # the cluster's options
    declared = POLICIES.get(policy).options
    spec = PolicySpec(policy, tuple((k, v) for k, v in spec.options if k in declared))
    mapping = parse_mapping(MAPPING, "<synthetic mapping>")
    f = forecast_from_state(state, mapping, NOW, horizon=timedelta(days=365), policy=spec)
    rows = sorted(
        (j.job_id, j.start.isoformat() if j.start else "", j.end.isoformat() if j.end else "")
        for j in f.pending
    )
    started = sum(1 for r in rows if r[1])
    return hashlib.sha256(repr(rows).encode()).hexdigest()[:16], started


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("slurm-backfill", "d0d1b585943a8cc2"),
        ("slurm-backfill-easy", "2719486e7b9c22c1"),
    ],
)
def test_every_pending_job_of_a_seeded_live_state_starts_when_it_did_before_the_speedups(
    policy: str, expected: str
) -> None:
    digest, started = _digest(200, 100, policy)
    assert started == 200  # a year's horizon: every pending job starts
    assert digest == expected
