"""Slurm's QOS preemption with requeue: ``PreemptType=preempt/qos``, ``PreemptMode=REQUEUE``.

Sources: slurm.schedmd.com/preempt.html ("Preemption", "Preemption Design and
Operation"), slurm.conf.html (``PreemptType``, ``PreemptMode``, ``PreemptExemptTime``,
``PreemptParameters``), qos.html ("Job Preemption") and scontrol.html (``SubmitTime``).

Model. ``JobSpec.priority`` is the job's QOS priority. Each QOS's ``Preempt=`` list
(sacctmgr) is given by one number, the gap ``g >= 1`` (policy option ``preempt_qos_gap``;
0, the default, is Slurm's default ``PreemptType=preempt/none``): a QOS may preempt every
QOS whose priority is at least ``g`` below its own. With ``g = 1`` each QOS preempts all
lower ones, the usual tiered set-up. Rules:

1. **Who.** A pending job A may preempt a running job B of its cohort (Slurm's partition)
   iff ``qos(B) <= qos(A) - g``, B is preemptible, runs on a GPU type A allows, and has
   run at least ``PreemptExemptTime`` (``preempt_exempt_time_s``) in its current run
   (slurm.conf.html: "minimum run time for all jobs before they can be considered for
   preemption"). Never its own QOS or a higher one (``PreemptMode=WITHIN`` is not
   modelled), so QOS strictly falls along any chain of preemptions: no job is preempted
   by one it could preempt back, and there are no cycles.
2. **Order** (preempt.html, "Preemption Design and Operation": "The select plugin is
   passed an ordered list of preemptable jobs ... sorted by ... QOS priority"): lowest
   QOS first; the page leaves ties open, here the youngest goes first (latest start, then
   highest id), which loses the least work (``PreemptParameters=youngest_first``'s rule).
3. **Simulate, then reorder** (same section): victims are preempted one by one in that
   order until the job fits; if it never fits, none is. Then, once (``reorder_count``,
   default 1), the last victim is moved to the front and the others are ordered by how
   many of their nodes the chosen placement uses, and the one-by-one simulation is
   repeated: the victims are the shortest prefix of that list that lets the job start.
   The page's example: candidates of 2, 4 and 8 nodes for an 8-node job end with the
   8-node job alone.
4. **Requeue** (slurm.conf.html, ``PreemptMode=REQUEUE``: "Preempts jobs by requeuing
   them"): a victim goes back to the queue and restarts from its last checkpoint (the
   engine's preemption: work since the checkpoint is lost). Its submit time is reset
   (scontrol.html, ``SubmitTime``: "If a job is requeued, the submit time is reset"), so
   its age factor and submit-time tie-break count from the requeue; this holds for every
   requeue, also those caused by node failures and transfers.
5. **Queue order** (priority_multifactor.html, "Introduction": jobs are evaluated in the
   order "Jobs that can preempt, ..., Job priority, Job submit time, Job ID"): a pending
   job that can preempt another goes ahead of it. For a total order each QOS value gets a
   level: 0 if no QOS value of the cohort (pending or running) lies ``g`` or more below
   it, else one more than the level of the highest such value; pending jobs sort by level
   first. With ``g = 1`` this is exactly Slurm's order (a higher QOS first); with ``g > 1``
   two QOS closer than ``g`` can still fall on different levels, where Slurm would
   compare their priorities.
6. **Wake-up.** A job that could not start only because candidates were still exempt asks
   for a cycle (``Decision.wake_at``) when the first of them becomes preemptable.

Cost: O(1) when nothing at or below ``qos - g`` runs (the cohort counts running jobs per
priority); otherwise a lazy merge of the programs' running jobs, as many steps as
candidates are looked at, and one placement try per victim (twice with the reorder).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator

from gpufleet.errors import InternalError
from gpufleet.policies.base import Admission, Decision, PlacementStrategy
from gpufleet.policies.basic.priority import evict_until_fits, newest_first
from gpufleet.state.capacity import Placement
from gpufleet.state.cluster import CohortState
from gpufleet.state.jobs import Job
from gpufleet.state.snapshot import Snapshot


def preempt_levels(cohort: CohortState, gap: int) -> dict[int, int]:
    """Rule 5: each QOS value of the cohort's pending and running jobs -> its level. A
    level is monotone in the QOS, and A can preempt B implies level(A) > level(B)."""
    present = sorted(
        set(cohort.running_priorities) | {j.spec.priority for j in cohort.queue.values()}
    )
    level: dict[int, int] = {}
    for q in present:
        below = bisect_right(present, q - gap) - 1  # the highest value at least gap lower
        level[q] = level[present[below]] + 1 if below >= 0 else 0
    return level


class QosPreemption:
    """Rules 1-3 and 6 of the module docstring, as the engine's
    :class:`~gpufleet.policies.base.Preemption` seam."""

    def __init__(
        self, admission: Admission, placement: PlacementStrategy, gap: int, exempt_s: float
    ) -> None:
        self.admission = admission
        self.placement = placement
        self.gap = gap
        self.exempt_s = exempt_s

    def may_preempt(self, preemptor_qos: int, victim_qos: int) -> bool:
        return victim_qos <= preemptor_qos - self.gap

    def make_room(self, snap: Snapshot, job: Job, decision: Decision) -> Placement | None:
        limit = job.spec.priority - self.gap
        cohort = snap.cohort(job.cohort)
        if not any(q <= limit for q in cohort.running_priorities):
            return None  # O(QOS levels): nothing preemptable runs
        bound = sum(p.used_gpus for p in cohort.programs)  # all running GPUs: an upper bound
        exempt_until: list[float] = []
        mark, first = snap.mark(), len(decision.preempt)
        victims = self._candidates(snap, job, cohort, limit, exempt_until)
        pl = self._evict(snap, job, victims, bound, decision)
        if pl is None:
            later = [t for t in exempt_until if t > snap.now_s]
            if later and (decision.wake_at is None or min(later) < decision.wake_at):
                decision.wake_at = min(later)
            return None
        return self._reorder(snap, job, pl, mark, first, bound, decision)

    def _evict(
        self, snap: Snapshot, job: Job, victims: Iterable[Job], bound: int, d: Decision
    ) -> Placement | None:
        return evict_until_fits(snap, job, victims, bound, self.admission, self.placement, d)

    def _candidates(
        self,
        snap: Snapshot,
        job: Job,
        cohort: CohortState,
        limit: int,
        exempt_until: list[float],
    ) -> Iterator[Job]:
        """Rules 1-2: lowest QOS first, then youngest; the exempt ones are noted."""
        now, exempt = snap.now_s, self.exempt_s
        allowed = set(job.spec.gpu_types)
        for v in newest_first(snap, cohort.programs, _any):
            if v.spec.priority > limit:
                return  # in QOS order: every later one is higher too
            pl = v.placement
            if not v.spec.preemptible or pl is None or snap.gpu_type_of(pl) not in allowed:
                continue
            if now - v.start_s < exempt:
                exempt_until.append(v.start_s + exempt)
                continue
            yield v

    def _reorder(
        self,
        snap: Snapshot,
        job: Job,
        pl: Placement,
        mark: int,
        first: int,
        bound: int,
        decision: Decision,
    ) -> Placement:
        """Rule 3: the last victim first, the others by overlap with ``pl``; again."""
        chosen = decision.preempt[first:]
        if len(chosen) < 2:
            return pl
        nodes = {n for n, _ in pl.slots}

        def overlap(v: Job) -> int:
            return -sum(1 for n, _ in v.placement.slots if n in nodes) if v.placement else 0

        order = [chosen[-1], *sorted(chosen[:-1], key=overlap)]
        snap.undo_to(mark)
        del decision.preempt[first:]
        again = self._evict(snap, job, order, bound, decision)
        if again is None:  # the same victims free the same GPUs: it must fit again
            raise InternalError(f"{job!r} no longer fits after reordering its victims")
        return again


def _any(_: Job) -> bool:
    return True
