"""Slurm's multifactor job priority, with Fair Tree (or classic) fair-share.

Formula (slurm.schedmd.com/priority_multifactor.html, "Multifactor Job Priority Plugin"),
every factor normalized to [0, 1]::

    priority(j) = W_age * age(j) + W_fs * fairshare(program(j)) + W_size * size(j)
                + W_qos * qos(j) + W_part * partition(program(j))

- ``age(j) = min(1, (now - submit(j)) / PriorityMaxAge)`` ("Age Factor");
- ``size(j) = g / G`` for g GPUs of the G usable GPUs in its cohort, or with
  ``PriorityFavorSmall`` ``(G - g + 1) / G`` so that a 1-GPU job scores 1.0 ("Job Size
  Factor"); both capped to [0, 1];
- ``qos(j) = max(0, priority(j)) / max over the cohort's pending jobs`` (JobSpec.priority
  stands for the QOS priority; "Quality of Service (QOS) Factor");
- ``partition(p) = max(0, priority(p)) / max over the cohort's programs`` ("Partition
  Factor");
- ``fairshare`` over the tree root -> entity (account) -> program (user), a program's
  shares being its weight and an entity's the sum of its programs'. Usage is GPU-seconds,
  decayed with ``PriorityDecayHalfLife``: usage(t) = sum over past GPU-seconds s of
  2^-((t - s) / half-life).

  *Fair Tree* (slurm.schedmd.com/fair_tree.html, "Level Fairshare Calculation",
  "Algorithm", "Ties"): at each level ``LF = S / U`` with ``S = shares / shares of self and
  siblings`` and ``U = usage / usage of self and siblings`` (infinite when U = 0). Accounts
  are visited in descending LF (tied accounts have their children merged); programs are
  ranked in descending LF, the first getting rank n (n programs), tied programs sharing a
  rank, the rank dropping by the size of each tie group. ``fairshare = rank / n``: every
  program of a higher-LF entity outranks every program of a lower-LF one.

  *Classic* (slurm.schedmd.com/classic_fair_share.html): ``F = 2^(-U/S)`` with S the
  program's normalized share (product of the normalized shares down the tree) and U its
  normalized decayed usage; the parent-usage term of Slurm's "effective usage" is left out,
  so U is the program's own share of the cohort's usage.

Defaults: slurm.conf(5)'s. Every ``PriorityWeight*`` defaults to 0 ("The default value
is 0."), PriorityMaxAge and PriorityDecayHalfLife to 7 days; a setup read from a
``slurm.conf`` keeps what it sets. With every weight 0 all jobs have the same priority
(Slurm raises a sum below 1 to 1), so the order is submit time, then job id
(job_scheduler.c ``sort_job_queue2``): ``slurm-multifactor`` is then strict FIFO and the
backfill policies are FIFO with backfill. Ties go by submit time, then job id, under any
weights, as Slurm orders them. Weights as in priority_multifactor.html's "Configuration
Example" (Age 1000, FairShare 10000, JobSize 1000, Partition 1000) are options to give.

Preemption (off by default, as Slurm's ``PreemptType=preempt/none``): with
``preempt_qos_gap`` >= 1 a job may preempt running jobs of a QOS at least that much lower,
which are requeued; ``preempt_exempt_time_s`` is ``PreemptExemptTime``. The rules, and how
requeued jobs age and jobs that can preempt are ordered first, are in
:mod:`gpufleet.policies.slurm.preempt`. A requeued job's age counts from its requeue
(Slurm resets its submit time), with or without preemption.

Cost per cycle: with a calc period (and no QOS preemption) the order is kept
(:mod:`gpufleet.policies.slurm.order`): O(g) per recalculation for g groups of jobs alike
but for their age, then O(log g) per job the pass reads; else the queue is sorted, O(n log
n) in pending jobs. The fair-share ranking is O(p log p) in programs; usage is advanced in
O(programs seen).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from typing import ClassVar, NamedTuple

from gpufleet.domain.reasons import Reason
from gpufleet.errors import InputError
from gpufleet.policies.base import BasePolicy, Decision, NoQuota
from gpufleet.policies.options import FILE, FLAG, NON_NEGATIVE, WHOLE_NUMBER, Options
from gpufleet.policies.placement import BestFit
from gpufleet.policies.slurm.conftext import read_setup_files
from gpufleet.policies.slurm.fairtree import fair_tree_factors
from gpufleet.policies.slurm.limits import SlurmLimits
from gpufleet.policies.slurm.order import Key, Like, PassOver, SortedQueues, like
from gpufleet.policies.slurm.preempt import QosPreemption, preempt_levels
from gpufleet.policies.slurm.setup import SlurmSetup
from gpufleet.policies.slurm.timing import Ticks, main_passes, wake_for
from gpufleet.state.cluster import CohortState
from gpufleet.state.jobs import Job, ProgramState
from gpufleet.state.snapshot import Snapshot

_HOUR_S = 3600.0
_LN2 = math.log(2.0)


class Factors(NamedTuple):
    """One job's normalized factors, as ``sprio -n`` shows them."""

    age: float
    fairshare: float
    job_size: float
    qos: float
    partition: float


# --- fair share --------------------------------------------------------------------------
def level_fairness(shares: float, sib_shares: float, usage: float, sib_usage: float) -> float:
    """Fair Tree's ``LF = S / U``, infinite for an association with no usage."""
    s = shares / sib_shares if sib_shares > 0 else 0.0
    u = usage / sib_usage if sib_usage > 0 else 0.0
    return math.inf if u == 0 else s / u


def _tie_groups(items: list[tuple[float, int]]) -> list[list[int]]:
    """(LF, key) pairs grouped by equal LF, highest LF first (a stable sort: equal LFs in
    their given order; there is no NaN, so descending LF is ascending -LF)."""
    if len(items) == 1:
        return [[items[0][1]]]
    items.sort(key=_first, reverse=True)
    groups: list[list[int]] = []
    last = math.nan
    for lf, key in items:
        if groups and (lf == last or math.isclose(lf, last, rel_tol=1e-12)):
            groups[-1].append(key)
        else:
            groups.append([key])
        last = lf
    return groups


_first = operator.itemgetter(0)


def fair_tree(tree: Mapping[str, Mapping[int, tuple[float, float]]]) -> dict[int, float]:
    """Fair Tree fair-share factors. ``tree``: entity -> program key -> (shares, usage)."""
    n = sum([len(progs) for progs in tree.values()])
    if n == 0:
        return {}
    names = list(tree)
    # per entity the sums of its programs' shares and usage (in the programs' order: the
    # same floats as summing them again below would give)
    ent = [
        (sum([s for s, _ in progs.values()]), sum([u for _, u in progs.values()]))
        for progs in tree.values()
    ]
    all_s, all_u = sum([s for s, _ in ent]), sum([u for _, u in ent])
    ent_lf = [(level_fairness(s, all_s, u, all_u), i) for i, (s, u) in enumerate(ent)]
    out: dict[int, float] = {}
    rank = n
    for group in _tie_groups(ent_lf):
        merged: list[tuple[float, int]] = []
        for i in group:
            ps, pu = ent[i]
            merged += [(level_fairness(s, ps, u, pu), k) for k, (s, u) in tree[names[i]].items()]
        for tied in _tie_groups(merged):
            for k in tied:
                out[k] = rank / n
            rank -= len(tied)
    return out


def classic_fairshare(shares: float, usage: float) -> float:
    """``F = 2^(-U/S)`` for normalized shares S and normalized usage U (0 when S = 0)."""
    return 2.0 ** (-usage / shares) if shares > 0 else 0.0


class DecayedUsage:
    """GPU-seconds per program, decayed with a half-life, accumulated between cycles.

    Each cycle it first decays what it holds by ``2^(-dt/h)`` and adds the GPUs each
    program held since the last cycle, integrated with the same decay:
    ``g * h/ln2 * (1 - 2^(-dt/h))``. Every change to what runs dirties a cohort and so
    triggers a cycle, so a program's GPU count is constant between two cycles. Half-life
    0 means no decay. Time comes only from the snapshot."""

    def __init__(self, half_life_s: float, initial: Mapping[str, float] | None = None) -> None:
        self.half_life_s = half_life_s
        self.initial = dict(initial or {})  # program name -> GPU-seconds at the start
        self.gpu_s: dict[int, float] = {}
        self._gpus: dict[int, int] = {}
        self._programs: dict[int, ProgramState] = {}
        self._last_s: float | None = None

    def advance(self, now_s: float) -> None:
        last, self._last_s = self._last_s, now_s
        if last is None or now_s <= last:
            return
        dt, h = now_s - last, self.half_life_s
        if h > 0:
            keep = 2.0 ** (-dt / h)
            run = h / _LN2 * (1.0 - keep)
        else:
            keep, run = 1.0, dt
        for idx in self._programs:
            self.gpu_s[idx] = self.gpu_s.get(idx, 0.0) * keep + self._gpus.get(idx, 0) * run

    def watch(self, programs: Iterable[ProgramState]) -> None:
        for p in programs:
            if p.index not in self._programs:
                self._programs[p.index] = p
                if p.name in self.initial:
                    self.gpu_s[p.index] = self.initial[p.name]

    def settle(self) -> None:
        """Remember what each program holds once this cycle's decision is taken."""
        for idx, p in self._programs.items():
            self._gpus[idx] = p.used_gpus

    def of(self, p: ProgramState) -> float:
        return self.gpu_s.get(p.index, 0.0)


class Recalculation:
    """``PriorityCalcPeriod``: Slurm's decay thread wakes every period, applies the usage
    accrued since its last pass, recomputes the fair-share factors and sets every pending
    job's priority anew (src/plugins/priority/multifactor/priority_multifactor.c,
    ``_decay_thread``; fair_tree.c, ``fair_tree_decay``); between passes the order stays.
    Passes fall at ``first cycle + k * period``, or with ``phase_s`` at ``phase_s + k *
    period`` (Slurm's own rhythm, :mod:`gpufleet.policies.slurm.timing`; the first cycle
    then takes the last pass before it as the one Slurm's priorities come from); period 0
    recalculates at every cycle.

    ``usage`` is each program's decayed usage at the last pass, ``fairshare`` the factors
    per cohort computed from it (lazily, once per pass), ``priority`` each job's priority
    with the preemption count it was set for."""

    def __init__(self, period_s: float, phase_s: float | None = None) -> None:
        self.period_s = period_s
        self.phase_s = phase_s
        self.at_s: float | None = None
        self.count = 0
        self.usage: dict[int, float] = {}
        self.fairshare: dict[str, dict[int, float]] = {}
        self.priority: dict[int, tuple[int, float]] = {}
        # cohort -> the QOS scale of this pass: the highest pending QOS priority when the
        # cohort was first ordered in it (Slurm divides by the highest QOS priority
        # configured, one number; jobs arriving later with a higher one count as 1)
        self.qos_max: dict[str, int] = {}

    def due(self, now_s: float) -> float | None:
        """The instant of the pass due by ``now_s``, None if none is."""
        if self.period_s == 0:
            return now_s
        if self.at_s is None:
            if self.phase_s is None:
                return now_s
            return Ticks(self.period_s, self.phase_s).at_or_before(now_s)
        if now_s < self.at_s + self.period_s:
            return None
        return self.at_s + math.floor((now_s - self.at_s) / self.period_s) * self.period_s

    def done(self, at_s: float, usage: DecayedUsage) -> None:
        self.at_s = at_s
        self.count += 1
        self.usage = dict(usage.gpu_s)
        self.fairshare.clear()
        self.priority.clear()
        self.qos_max.clear()

    def next_s(self) -> float | None:
        """The instant of the next pass, None if every cycle recalculates."""
        return None if self.at_s is None or self.period_s == 0 else self.at_s + self.period_s


def slurm_int(priority: float) -> float:
    """A job's priority as Slurm keeps it: a whole number, at least 1.

    priority_multifactor.c (slurm-22-05-9-1) ``_get_priority_internal`` sums the weighted
    factors as a double, raises it to 1 ("Priority 0 is reserved for held jobs") and
    returns ``(uint32_t)priority``: the fraction is dropped. So jobs whose sums differ by
    less than one (an age weight of 1000 over a day's ``PriorityMaxAge`` adds 0.01 a
    second) tie, and job_scheduler.c ``sort_job_queue2`` orders ties by submit time, then
    job id; a float priority would rank a job queued later, whose age was taken at a later
    instant, above one queued earlier."""
    return float(int(priority)) if priority >= 1.0 else 1.0


def _hours(h: float | None) -> float | None:
    return None if h is None else h * _HOUR_S


class _Picker:
    """An option's value: given explicitly, else the setup's, else the built-in default."""

    def __init__(self, setup: SlurmSetup | None) -> None:
        self.setup = setup

    def __call__(self, given: float | bool | None, field: str, default: float) -> float:
        if given is not None:
            return float(given)
        if self.setup is not None:
            return float(getattr(self.setup, field))
        return default


# --- the policy --------------------------------------------------------------------------
class SlurmMultifactor(BasePolicy):
    """Slurm's ``priority/multifactor`` with its main scheduler: pending jobs sorted by the
    module docstring's priority each cycle and started in that order; the first that
    cannot start (even by QOS preemption, when it is on) blocks the rest of its cohort
    (``sched/builtin``: strict priority order within a partition, here a cohort)."""

    name: ClassVar[str] = "slurm-multifactor"
    summary: ClassVar[str] = "Slurm multifactor priority (age, Fair Tree, size, QOS, partition)"
    options: ClassVar[Options] = {
        "weight_age": NON_NEGATIVE,
        "weight_fairshare": NON_NEGATIVE,
        "weight_job_size": NON_NEGATIVE,
        "weight_qos": NON_NEGATIVE,
        "weight_partition": NON_NEGATIVE,
        "max_age_hours": NON_NEGATIVE,
        "decay_half_life_hours": NON_NEGATIVE,
        "favor_small": FLAG,
        "classic_fairshare": FLAG,
        "preempt_qos_gap": WHOLE_NUMBER,  # 0: no preemption; checked >= 0 below
        "preempt_exempt_time_s": NON_NEGATIVE,
        "calc_period_s": NON_NEGATIVE,  # 0: recalculate at every cycle
        "slurm_conf": FILE,
        "slurm_assoc": FILE,
        "slurm_sshare": FILE,
        "slurm_qos": FILE,
        "use_slurm_fairshare": FLAG,
        "calc_phase_s": NON_NEGATIVE,
        "sched_interval_s": NON_NEGATIVE,
        "sched_at_events": FLAG,
    }

    def __init__(
        self,
        weight_age: float | None = None,
        weight_fairshare: float | None = None,
        weight_job_size: float | None = None,
        weight_qos: float | None = None,
        weight_partition: float | None = None,
        max_age_hours: float | None = None,
        decay_half_life_hours: float | None = None,
        favor_small: bool | None = None,
        classic_fairshare: bool = False,
        preempt_qos_gap: int = 0,
        preempt_exempt_time_s: float = 0.0,
        calc_period_s: float | None = None,
        slurm_conf: str = "",
        slurm_assoc: str = "",
        slurm_sshare: str = "",
        slurm_qos: str = "",
        use_slurm_fairshare: bool = False,
        calc_phase_s: float | None = None,
        sched_interval_s: float | None = None,
        sched_at_events: bool | None = None,
        setup: SlurmSetup | None = None,
    ) -> None:
        cfg = setup or read_setup_files(slurm_conf, slurm_assoc, slurm_sshare, slurm_qos)
        self.setup = cfg
        super().__init__(SlurmLimits.of(cfg) or NoQuota(), BestFit())
        if preempt_qos_gap < 0:
            raise InputError(
                f"policy {self.name!r} option 'preempt_qos_gap' must be 0 (no preemption) "
                f"or a QOS priority difference >= 1, got {preempt_qos_gap}"
            )
        self.preempt_gap = preempt_qos_gap
        if preempt_qos_gap:
            self.preemption = QosPreemption(
                self.admission, self.placement, preempt_qos_gap, preempt_exempt_time_s
            )
        # job id -> (its preemption count, when it was requeued): a requeue resets its age
        self._requeued: dict[int, tuple[int, float]] = {}
        pick = _Picker(cfg)
        self.weights = Factors(
            pick(weight_age, "weight_age", 0.0),
            pick(weight_fairshare, "weight_fairshare", 0.0),
            pick(weight_job_size, "weight_job_size", 0.0),
            pick(weight_qos, "weight_qos", 0.0),
            pick(weight_partition, "weight_partition", 0.0),
        )
        self.shares_between_programs = self.weights.fairshare > 0
        self.max_age_s = pick(_hours(max_age_hours), "max_age_s", 168.0 * _HOUR_S)
        self.favor_small = bool(pick(favor_small, "favor_small", False))
        self.classic = classic_fairshare
        half_life = pick(_hours(decay_half_life_hours), "decay_half_life_s", 168.0 * _HOUR_S)
        self.usage = DecayedUsage(half_life, cfg.usage_gpu_s if cfg is not None else None)
        phase = cfg.calc_phase_s if calc_phase_s is None and cfg is not None else calc_phase_s
        self.recalc = Recalculation(pick(calc_period_s, "calc_period_s", 300.0), phase)
        # when the main scheduler runs (timing.py); main_now: whether it runs this cycle
        self.passes = main_passes(
            pick(sched_interval_s, "sched_interval_s", 60.0),
            bool(pick(sched_at_events, "sched_at_events", True)),
            cfg.sched_min_interval_s if cfg is not None else None,
            cfg.sched_phase_s if cfg is not None else 0.0,
            cfg.sched_delay_s if cfg is not None else 0.0,
        )
        self.main_now = True
        self.given_fs = cfg.fairshare if cfg is not None and use_slurm_fairshare else None
        if use_slurm_fairshare and self.given_fs is None:
            raise InputError(
                f"policy {self.name!r} option 'use_slurm_fairshare' needs Slurm's factors: "
                "name sshare's output in 'slurm_sshare' (or pass a setup with fairshare)"
            )
        self.tree = cfg.tree if cfg is not None else None
        # the queue kept sorted between recalculations and a limit's refusal reused within a
        # main pass (False: sorted anew at every cycle and every job asked, the
        # straightforward reference the tests compare it with)
        self.incremental_order = True
        self._sorted = SortedQueues()

    def decide(self, snap: Snapshot) -> Decision:
        now = snap.now_s
        dirty = snap.dirty_cohorts()
        for cohort in dirty:  # a program seen first gets its usage at the start (sshare's)
            self.usage.watch(cohort.programs)
        at = self.recalc.due(now)
        if at is not None:  # PriorityCalcPeriod: usage, fair-share and priorities anew
            self.usage.advance(at)
            self.recalc.done(at, self.usage)
        self.usage.advance(now)
        d = Decision()
        if isinstance(self.admission, SlurmLimits):
            self.admission.admitted = d.admit
        self.main_now = self.passes.due(now)
        for cohort in dirty:
            self.schedule_cohort(snap, cohort.name, d)
        self.usage.settle()
        if sum(len(c.queue) for c in dirty) > len(d.admit):  # jobs wait: Slurm's rhythm
            wake = wake_for(self.passes, self.main_now, now, self.recalc.next_s())
            if wake is not None and (d.wake_at is None or wake < d.wake_at):
                d.wake_at = wake
        for v in d.preempt:  # requeued now, by this decision
            self._requeued[v.spec.id] = (v.preemptions + 1, now)
        for job, _ in d.admit:
            self._requeued.pop(job.spec.id, None)
            self._sorted.forget(job.cohort, job.spec.id)
        return d

    def queued_since_s(self, job: Job, now_s: float) -> float:
        """When the job entered the queue: its submit time, or its last requeue (Slurm
        resets a requeued job's submit time). A requeue the policy did not cause (a node
        failure, a transfer) is noted when first seen, at the cycle of that instant."""
        n = job.preemptions
        if not n:
            return job.spec.submit_s
        seen = self._requeued.get(job.spec.id)
        if seen is None or seen[0] != n:
            seen = (n, now_s)
            self._requeued[job.spec.id] = seen
        return seen[1]

    def schedule_cohort(self, snap: Snapshot, cohort: str, d: Decision) -> None:
        """Strict priority order; a job held by an association limit is passed over
        (:mod:`gpufleet.policies.slurm.limits`), any other refusal ends the cohort's pass.
        Nothing starts at a cycle the main scheduler does not run at (``main_now``)."""
        if self.main_now:
            self.main_pass(snap, snap.cohort(cohort), d)

    def main_pass(
        self, snap: Snapshot, cohort: CohortState, d: Decision
    ) -> tuple[Job | None, Iterator[Job]]:
        """Start the cohort's jobs in order; a job held by an association limit is passed
        over; the first job refused otherwise ends the pass. Returns it (None: none was)
        and the order, to be read on past it.

        Without preemption a pass only takes GPUs and brings limits nearer, so a job
        :func:`~gpufleet.policies.slurm.order.like` one a limit held is held too: it is
        recorded as held (same reason, same place in ``d.blocked``) without being placed
        again."""
        alike: set[Like] = set()
        same = self.preemption is None and self.incremental_order  # else: ask each job
        queue = self.iter_ordered(snap, cohort, (alike, d.blocked) if same else None)
        try:
            for job in queue:
                if same and like(job) in alike:  # (the kept order passes them over itself)
                    d.blocked.append((job, Reason.QUOTA))
                    continue
                if self.try_start(snap, job, d):
                    continue
                if not self.held_by_limit(d):
                    return job, queue
                if same:
                    alike.add(like(job))
            return None, queue
        finally:
            alike.clear()  # read on past the pass, the order hands out every job

    @staticmethod
    def held_by_limit(d: Decision) -> bool:
        """Whether the job just refused was refused by a limit (Slurm skips it)."""
        return bool(d.blocked) and d.blocked[-1][1] is Reason.QUOTA

    # --- priority ----------------------------------------------------------------------
    def ordered(self, snap: Snapshot, cohort: CohortState) -> list[Job]:
        """The cohort's pending jobs by preemption level (jobs that can preempt first, when
        preemption is on), priority (highest first), submit time, id."""
        return list(self.iter_ordered(snap, cohort))

    def iter_ordered(
        self, snap: Snapshot, cohort: CohortState, pass_over: PassOver | None = None
    ) -> Iterator[Job]:
        """:meth:`ordered`, lazily: a pass that stops early reads only what it uses.
        ``pass_over``: as :meth:`~gpufleet.policies.slurm.order.SortedQueues.ordered`
        takes it, where the kept order serves (else every job is handed out)."""
        now = snap.now_s
        kept = self.recalc.period_s > 0 and self.recalc.at_s is not None  # a pass was made
        if self.incremental_order and kept and not self.preempt_gap:
            # priorities are kept between recalculations, and no level changes: the kept
            # order (module order) serves, re-weighed at each recalculation
            self._sorted.sync(cohort, lambda job: self.queued_since_s(job, now))
            if cohort.name not in self.recalc.qos_max:  # the pass's scale, without a scan
                self.recalc.qos_max[cohort.name] = self._sorted.top_qos(cohort.name)
            factors = self.factors_of(snap, cohort)
            keying = _Keying(self, factors, self._priorities(snap, factors), now)
            # with every weight 0 (slurm.conf's defaults) every job's priority is the same
            # number at every pass, so a pass changes no key: one generation, the order
            # and its keys kept across passes instead of re-weighed at each
            generation = self.recalc.count if any(self.weights) else 0
            return self._sorted.ordered(cohort, keying, generation, pass_over)
        prio = self.priorities(snap, cohort)
        level = preempt_levels(cohort, self.preempt_gap) if self.preempt_gap else {}

        def key(job: Job) -> Key:
            lv = level.get(job.spec.priority, 0)
            return (-lv, -prio(job), self.queued_since_s(job, now), job.spec.id)

        return iter(sorted(cohort.queue.values(), key=key))

    def priorities(self, snap: Snapshot, cohort: CohortState) -> Callable[[Job], float]:
        """Each pending job's priority as Slurm holds it: set when the job is first seen
        (``priority_p_set`` at submission) and again at every recalculation
        (``decay_apply_weighted_factors`` in the decay thread), from the fair-share of the
        last recalculation; with ``calc_period_s`` 0 every cycle recalculates."""
        return self._priorities(snap, self.factors_of(snap, cohort))

    def _priorities(self, snap: Snapshot, factors: _FactorFn) -> Callable[[Job], float]:
        w = self.weights
        if self.recalc.period_s == 0:
            return lambda job: slurm_int(
                sum(wi * fi for wi, fi in zip(w, factors(job), strict=True))
            )
        cache, at, now = self.recalc.priority, self.recalc.at_s, snap.now_s

        def prio(job: Job) -> float:
            held = cache.get(job.spec.id)
            if held is not None and held[0] == job.preemptions:
                return held[1]
            since = self.queued_since_s(job, now)
            when = at if at is not None and since <= at else now
            value = factors.weighted(job, since, when, w)
            cache[job.spec.id] = (job.preemptions, value)
            return value

        return prio

    def priority(self, snap: Snapshot, job: Job) -> float:
        f = self.factors_of(snap, snap.cohort(job.cohort))(job)
        return slurm_int(sum(wi * fi for wi, fi in zip(self.weights, f, strict=True)))

    def factors_of(self, snap: Snapshot, cohort: CohortState) -> _FactorFn:
        self.usage.watch(cohort.programs)
        cap = snap.capacity
        total = sum(
            cap.groups[g].usable_gpus
            for gs in cap.by_cohort_type.get(cohort.name, {}).values()
            for g in gs
        )
        held = self.recalc.qos_max.get(cohort.name) if self.recalc.period_s > 0 else None
        if held is None:
            qos_max = max((max(0, j.spec.priority) for j in cohort.queue.values()), default=0)
            if self.recalc.period_s > 0:  # one scale per pass, so kept priorities compare
                self.recalc.qos_max[cohort.name] = qos_max
        else:
            qos_max = held
        part_max = max((max(0, p.priority) for p in cohort.programs), default=0)
        fs = self.recalc.fairshare.get(cohort.name)
        if fs is None:
            fs = self.recalc.fairshare[cohort.name] = self.fairshare(cohort.programs)
        return _FactorFn(self, snap.now_s, fs, total, qos_max, part_max)

    def fairshare(self, programs: list[ProgramState]) -> dict[int, float]:
        """Fair-share factors from the usage of the last recalculation: Slurm's own
        (``given_fs``) before the first recalculation when asked, the configured account
        tree's Fair Tree when there is one, else Fair Tree (or classic) over
        root -> entity -> program."""
        usage = self.recalc.usage
        if self.given_fs is not None and self.recalc.count <= 1:
            return {p.index: self.given_fs.get(p.name, 0.0) for p in programs}
        if self.tree is not None:
            by_name = fair_tree_factors(
                self.tree, {p.name: usage.get(p.index, 0.0) for p in programs}
            )
            return {p.index: by_name.get(p.name, 0.0) for p in programs}
        if self.classic:
            total_w = sum(p.weight for p in programs)
            total_u = sum(usage.get(p.index, 0.0) for p in programs)
            return {
                p.index: classic_fairshare(
                    p.weight / total_w if total_w else 0.0,
                    usage.get(p.index, 0.0) / total_u if total_u else 0.0,
                )
                for p in programs
            }
        tree: dict[str, dict[int, tuple[float, float]]] = {}
        for p in programs:
            tree.setdefault(p.entity, {})[p.index] = (p.weight, usage.get(p.index, 0.0))
        return fair_tree(tree)


_Raw = tuple[float, float, float, float, float]  # Factors' fields, as a plain tuple


class _FactorFn:
    """A cohort's per-cycle constants; called on a job, its :class:`Factors`."""

    __slots__ = ("fs", "now_s", "part_max", "policy", "qos_max", "rest", "total")

    def __init__(
        self,
        policy: SlurmMultifactor,
        now_s: float,
        fs: dict[int, float],
        total: int,
        qos_max: int,
        part_max: int,
    ) -> None:
        self.policy, self.now_s, self.fs = policy, now_s, fs
        self.total, self.qos_max, self.part_max = total, qos_max, part_max
        # (GPUs, QOS, program index) -> the factors but the age, for this cycle
        self.rest: dict[tuple[int, int, int], tuple[float, float, float, float]] = {}

    def __call__(self, job: Job, at_s: float | None = None) -> Factors:
        """The job's factors, its age taken at ``at_s`` (default: now)."""
        when = self.now_s if at_s is None else at_s
        since = self.policy.queued_since_s(job, self.now_s)
        return Factors(*self.raw(job, since, when))

    def weighted(self, job: Job, since_s: float, when_s: float, w: Factors) -> float:
        """The job's priority, ``sum(w_i * f_i)`` as :meth:`SlurmMultifactor.priorities`
        adds it, for a job queued since ``since_s``, its age taken at ``when_s``: the same
        floats in the same order, without building the factors (a recalculation sets
        every pending job's priority)."""
        age, fs, size, qos, part = self.raw(job, since_s, when_s)
        return slurm_int(sum((w[0] * age, w[1] * fs, w[2] * size, w[3] * qos, w[4] * part)))

    def weigher(self, job: Job, when_s: float, w: Factors) -> Callable[[float], float]:
        """:meth:`weighted` for the jobs of ``job``'s (GPUs, QOS, program), as a function of
        when they were queued: the factors but the age and their products with the weights
        are taken once, the sum is the same tuple summed in the same order."""
        _, fs, size, qos, part = self.raw(job, when_s, when_s)
        w0, c1, c2, c3, c4 = w[0], w[1] * fs, w[2] * size, w[3] * qos, w[4] * part
        max_age = self.policy.max_age_s

        def weigh(since_s: float) -> float:
            waited = when_s - since_s
            waited = waited if waited > 0.0 else 0.0
            if max_age > 0:
                age = waited / max_age
                age = age if age < 1.0 else 1.0
            else:
                age = 1.0
            return slurm_int(sum((w0 * age, c1, c2, c3, c4)))

        return weigh

    def raw(self, job: Job, since_s: float, when_s: float) -> _Raw:
        """The factors as a plain tuple (module docstring's formula). All but the age
        depend only on the job's GPUs, QOS and program, so they are kept per such triple
        for the cycle (a recalculation evaluates every pending job)."""
        max_age = self.policy.max_age_s
        waited = when_s - since_s
        waited = waited if waited > 0.0 else 0.0  # max(0.0, waited)
        if max_age > 0:
            age = waited / max_age
            age = age if age < 1.0 else 1.0  # min(1.0, age)
        else:
            age = 1.0
        s = job.spec
        k = (s.gpus, s.priority, job.program.index)
        rest = self.rest.get(k)
        if rest is None:
            rest = self.rest[k] = self._rest(job)
        return (age, *rest)

    def _rest(self, job: Job) -> tuple[float, float, float, float]:
        pol, s = self.policy, job.spec
        size = 0.0
        if self.total > 0:
            g = s.gpus
            size = (self.total - g + 1) / self.total if pol.favor_small else g / self.total
            size = min(1.0, max(0.0, size))
        qos = min(1.0, max(0, s.priority) / self.qos_max) if self.qos_max > 0 else 0.0
        pp = job.program.priority
        part = max(0, pp) / self.part_max if self.part_max > 0 else 0.0
        return (self.fs.get(job.program.index, 0.0), size, qos, part)


class _Keying:
    """The keys of one cycle for :class:`~gpufleet.policies.slurm.order.SortedQueues`
    (its ``Keying``): a job queued since before the pass instant has the priority
    ``factors.weighted(job, since, at)``, whose factors but the age depend only on the
    job's (GPUs, QOS, program), its group; any other job is keyed as the full sort keys it
    (its priority kept in the recalculation's cache)."""

    __slots__ = ("at_s", "factors", "now_s", "policy", "prio")

    def __init__(
        self,
        policy: SlurmMultifactor,
        factors: _FactorFn,
        prio: Callable[[Job], float],
        now_s: float,
    ) -> None:
        assert policy.recalc.at_s is not None  # a pass precedes every ordering
        self.policy, self.factors, self.prio, self.now_s = policy, factors, prio, now_s
        self.at_s = policy.recalc.at_s

    def since(self, job: Job) -> float:
        return self.policy.queued_since_s(job, self.now_s)

    def group(self, job: Job) -> Hashable:
        return (job.spec.gpus, job.spec.priority, job.program.index)

    def weigh(self, job: Job) -> Callable[[float], float]:
        return self.factors.weigher(job, self.at_s, self.policy.weights)

    def key(self, job: Job) -> Key:
        return (0, -self.prio(job), self.since(job), job.spec.id)
