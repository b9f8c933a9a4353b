"""Refusals: within a cycle, a refusal is remembered by key until something starts.

The policies that use it (fifo-backfill, srtf, tiresias, themis, kueue without preemption)
are checked for identical decisions by tests/sim/test_policy_digests.py; these cases pin
the bookkeeping itself: a known refusal is answered without the search and with the same
reason, in the same place in ``d.blocked``; a start forgets every refusal.
"""

from __future__ import annotations

from typing import cast

from gpufleet.domain.reasons import Reason
from gpufleet.policies.base import Decision, Refusals
from gpufleet.state.jobs import Job


class Search:
    """A stand-in for a placement and victim search: answers from a script, counts calls,
    and blocks the job with its reason as BasePolicy.try_start does."""

    def __init__(self, d: Decision, answers: list[Reason | None]) -> None:
        self.d, self.answers, self.calls = d, answers, 0

    def start(self, job: Job) -> bool:
        self.calls += 1
        why = self.answers.pop(0)
        if why is not None:
            self.d.blocked.append((job, why))
            return False
        return True


def _jobs(n: int) -> list[Job]:
    return [cast(Job, f"job-{i}") for i in range(n)]


def test_a_second_job_of_a_refused_kind_is_blocked_with_the_same_reason_without_a_search() -> None:
    d = Decision()
    search = Search(d, [Reason.FRAGMENTED])
    a, b = _jobs(2)
    refused = Refusals()
    assert not refused.attempt(a, d, (8, ("H100",)), lambda: search.start(a))
    assert not refused.attempt(b, d, (8, ("H100",)), lambda: search.start(b))
    assert search.calls == 1
    assert d.blocked == [(a, Reason.FRAGMENTED), (b, Reason.FRAGMENTED)]


def test_another_kind_is_still_searched() -> None:
    d = Decision()
    search = Search(d, [Reason.CAPACITY, Reason.CAPACITY])
    a, b = _jobs(2)
    refused = Refusals()
    refused.attempt(a, d, (64, ("H100",)), lambda: search.start(a))
    refused.attempt(b, d, (8, ("H100",)), lambda: search.start(b))
    assert search.calls == 2


def test_a_start_forgets_every_refusal() -> None:
    """After c starts, the snapshot has changed: b, of a's kind, is searched again (and
    here refused for another reason, which is the one recorded)."""
    d = Decision()
    search = Search(d, [Reason.CAPACITY, None, Reason.FRAGMENTED])
    a, c, b = _jobs(3)
    refused = Refusals()
    assert not refused.attempt(a, d, "big", lambda: search.start(a))
    assert refused.attempt(c, d, "small", lambda: search.start(c))
    assert not refused.attempt(b, d, "big", lambda: search.start(b))
    assert search.calls == 3
    assert d.blocked == [(a, Reason.CAPACITY), (b, Reason.FRAGMENTED)]


def test_known_tells_the_reason_of_a_refused_kind_until_something_starts() -> None:
    # what kueue's queue loop reads to record a refusal without a search or a closure
    d = Decision()
    search = Search(d, [Reason.QUOTA, None])
    a, c = _jobs(2)
    refused = Refusals()
    assert refused.known("big") is None
    refused.attempt(a, d, "big", lambda: search.start(a))
    assert refused.known("big") is Reason.QUOTA
    assert refused.known("small") is None
    refused.attempt(c, d, "small", lambda: search.start(c))
    assert refused.known("big") is None
