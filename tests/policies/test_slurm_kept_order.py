"""gpufleet.policies.slurm.order.SortedQueues on its own: the kept order is the order
``sorted`` gives on the same keys, whatever happened to the queue between readings: jobs
submitted (at the back), requeued (at the front), started and reported (``forget``), or
gone without a word (found by the count check), and across a new pass."""

from __future__ import annotations

from collections.abc import Callable, Hashable

from gpufleet.policies.slurm.order import Key, SortedQueues
from gpufleet.state.jobs import Job
from tests.support.builders import Harness


class _Keys:
    """Priority = (1000 - since) * GPUs at the pass instant ``at_s`` for jobs queued by
    then (non-increasing in ``since`` within a group of equal GPUs, as the order asks);
    a job queued later gets 5000 - since, as a policy keys a job it sees first."""

    def __init__(self, at_s: float) -> None:
        self.at_s = at_s

    def since(self, job: Job) -> float:
        return job.spec.submit_s

    def group(self, job: Job) -> Hashable:
        return job.spec.gpus

    def weigh(self, job: Job) -> Callable[[float], float]:
        g = job.spec.gpus
        return lambda since: (1000.0 - since) * g

    def key(self, job: Job) -> Key:
        s = job.spec.submit_s
        p = (1000.0 - s) * job.spec.gpus if s <= self.at_s else 5000.0 - s
        return (0, -p, s, job.spec.id)


def _check(kept: SortedQueues, h: Harness, keys: _Keys, generation: int) -> list[int]:
    cohort = h.state.cohorts["c"]
    kept.sync(cohort, keys.since)
    got: list[int] = [j.spec.id for j in kept.ordered(cohort, keys, generation)]
    want = [j.spec.id for j in sorted(cohort.queue.values(), key=keys.key)]
    assert got == want
    return got


def test_the_kept_order_is_the_sorted_order_after_every_kind_of_change_to_the_queue() -> None:
    h = Harness("fifo", nodes=[8])
    for i, (gpus, at) in enumerate([(1, 10.0), (2, 20.0), (1, 30.0), (4, 5.0), (2, 40.0)]):
        h.submit("a", gpus, at=at, work_s=100.0 + i)
    kept, keys = SortedQueues(), _Keys(at_s=50.0)
    # (1000 - since) * gpus: 4 GPUs at 5 -> 3980, 2 at 20 -> 1960, 2 at 40 -> 1920,
    # 1 at 10 -> 990, 1 at 30 -> 970
    order = _check(kept, h, keys, 1)
    assert order == [3, 1, 4, 0, 2]
    h.submit("a", 1, at=60.0)  # after the pass instant: 5000 - 60 = 4940, first
    assert _check(kept, h, keys, 1)[0] == 5
    cohort = h.state.cohorts["c"]
    kept.forget("c", 3)  # started, reported
    del cohort.queue[3]
    del cohort.queue[1]  # gone without a word: the count check sees it
    assert _check(kept, h, keys, 1) == [5, 4, 0, 2]
    job = h.submit("a", 8, at=1.0)  # requeued at the front: 999 * 8 = 7992
    cohort.queue.move_to_end(job.spec.id, last=False)
    assert _check(kept, h, keys, 1)[0] == job.spec.id
    keys.at_s = 100.0  # a new pass: job 5 (since 60) now weighs (1000 - 60) * 1 = 940
    assert _check(kept, h, keys, 2) == [6, 4, 0, 2, 5]


def test_a_reading_stopped_early_and_taken_up_again_hands_out_the_rest_in_order() -> None:
    h = Harness("fifo", nodes=[8])
    for i in range(6):
        h.submit("a", 1 + i % 2, at=float(i), work_s=100.0)
    kept, keys = SortedQueues(), _Keys(at_s=50.0)
    cohort = h.state.cohorts["c"]
    kept.sync(cohort, keys.since)
    first = kept.ordered(cohort, keys, 1)
    head = [next(first).spec.id, next(first).spec.id]  # a pass that stopped at its second
    kept.sync(cohort, keys.since)
    again = [j.spec.id for j in kept.ordered(cohort, keys, 1)]
    want = [j.spec.id for j in sorted(cohort.queue.values(), key=keys.key)]
    assert again == want
    assert head == want[:2]


class _SubmitOrder(_Keys):
    """Every job's priority the same (Slurm's weights all 0): the order is submit time,
    then id, and a job submitted later sorts after every job read before it."""

    def weigh(self, job: Job) -> Callable[[float], float]:
        return lambda since: 0.0

    def key(self, job: Job) -> Key:
        return (0, -0.0, job.spec.submit_s, job.spec.id)


def test_arrivals_after_everything_read_join_the_order_without_it_being_read_anew() -> None:
    h = Harness("fifo", nodes=[8])
    for i in range(4):
        h.submit("a", 1, at=float(i), work_s=100.0)
    kept, keys = SortedQueues(), _SubmitOrder(at_s=0.5)  # job 0 in a group, 1-3 loose
    cohort = h.state.cohorts["c"]
    assert _check(kept, h, keys, 1) == [0, 1, 2, 3]  # read to the end: the merge is empty
    held = kept._cohorts["c"]
    merge = held.frontier
    h.submit("a", 2, at=10.0)  # after all read: appended, the loose run back in the merge
    assert _check(kept, h, keys, 1) == [0, 1, 2, 3, 4]
    assert held.frontier is merge  # the same merge went on (a compaction starts a new one)
    kept.sync(cohort, keys.since)
    reading = kept.ordered(cohort, keys, 1)
    assert [next(reading).spec.id for _ in range(2)] == [0, 1]  # a pass stopped early
    kept.forget("c", 1)  # job 1 started
    del cohort.queue[1]
    h.submit("a", 1, at=11.0)
    h.submit("a", 1, at=12.0)
    assert _check(kept, h, keys, 1) == [0, 2, 3, 4, 5, 6]
    job = h.submit("a", 1, at=0.25)  # before jobs already read: the order is read anew
    assert _check(kept, h, keys, 1) == [0, job.spec.id, 2, 3, 4, 5, 6]
    kept.forget("c", 2)  # job 2 started, then requeued at the back (its id was gone)
    back = cohort.queue.pop(2)
    _check(kept, h, keys, 1)
    cohort.queue[2] = back
    assert _check(kept, h, keys, 1)[-1] == 6  # keyed by its submit time: back in place
    assert 2 in _check(kept, h, keys, 1)
