"""The simulator's Observer: turns engine events into per-job rows and exact integrals.

Everything is integrated from piecewise-constant levels (see :mod:`levels`), so GPU-hours,
stranded GPU-hours and milestone dates are exact for the simulated history, not sampled.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence

from gpufleet.domain.reasons import Reason
from gpufleet.sim.costs import CostRates
from gpufleet.sim.levels import Level, ProgramMeter
from gpufleet.state.cluster import ClusterState
from gpufleet.state.jobs import Job


class Recorder:
    def __init__(
        self,
        state: ClusterState,
        horizon_s: float,
        bucket_s: float,
        targets_gpu_s: dict[str, float | None],
        speed: dict[str, float],
        costs: CostRates | None = None,
    ) -> None:
        n_b = max(1, int(-(-horizon_s // bucket_s)))
        self.bucket_s = bucket_s
        self.state = state
        self.speed = speed  # GPU type -> throughput
        ents = state.entities
        self.costs = costs or CostRates()
        # $ per second, per entity: capex of owned GPUs, of stranded ones, idle and busy power
        self.entity_capex = [Level() for _ in ents]
        self.entity_stranded_capex = [Level() for _ in ents]
        self.entity_idle_power = [Level() for _ in ents]
        self.entity_busy_power = [Level() for _ in ents]
        self._busy_rate: dict[int, float] = {}
        self._best_speed: dict[tuple[str, ...], float] = {}  # allowed types -> fastest speed
        self.fleet_ready = Level(bucket_s, n_b)
        self.fleet_stranded = Level(bucket_s, n_b)
        self.fleet_delivered = Level()
        self.fleet_down = Level()
        self.entity_used = [Level(bucket_s, n_b) for _ in ents]
        self.entity_delivered = [Level() for _ in ents]
        self.entity_ready = [Level() for _ in ents]
        self.entity_stranded = [Level(bucket_s, n_b) for _ in ents]
        self.entity_lent = [Level() for _ in ents]
        self.entity_borrowed = [Level() for _ in ents]
        progs = state.programs
        self.program = [ProgramMeter(targets_gpu_s.get(p.name), bucket_s, n_b) for p in progs]
        self.program_entitled = [Level() for _ in progs]
        self.program_lost = [0.0 for _ in progs]
        for p in progs:
            self.program_entitled[p.index].value = float(
                sum(q.nominal_gpus for q in p.quotas.values())
            )
        # per finished job columns
        self.j_id = array("i")  # a run numbers its jobs from 0: 4 bytes a job, not 8
        self.j_program = array("i")
        self.j_gpus = array("i")
        self.j_submit = array("d")
        self.j_start = array("d")
        self.j_finish = array("d")
        self.j_ideal = array("d")
        self.j_preempt = array("i")
        self.preemptions = 0
        self.lost_gpu_s = 0.0
        self.restore_gpu_s = 0.0  # GPU-seconds spent reloading checkpoints
        # (used, ready) GPU-seconds from the start to the last submit and to the last finish
        self.to_last_submit: tuple[float, float] = (0.0, 0.0)
        self.to_last_finish: tuple[float, float] = (0.0, 0.0)
        # per program: reason code -> job-seconds of closed pending intervals
        self.program_reason_s: list[dict[str, float]] = [{} for _ in progs]

    # --- Observer ---------------------------------------------------------------------
    def on_start(self, job: Job, now_s: float) -> None:
        if job.reason:  # the wait under its last reason closes
            d = self.program_reason_s[job.program.index]
            d[job.reason] = d.get(job.reason, 0.0) + now_s - job.reason_since_s
        g = job.spec.gpus
        p = job.program
        me = p.entity_index
        self.entity_used[me].add(now_s, g)
        self.program[p.index].change(now_s, g, g * job.speed)
        owners = job.owners
        power = self.costs.itemized  # busy power is a line of the itemized model only
        if not power and len(owners) == 1 and owners[0][0] == me:
            return  # on its own entity's GPUs, flat costs: nothing more changes
        rate = self._busy_rate_of(job) if power else 0.0
        for owner, n in owners:
            if power:
                self.entity_busy_power[owner].add(now_s, n * rate)
            if owner != me:
                self.entity_lent[owner].add(now_s, n)
                self.entity_borrowed[me].add(now_s, n)

    def on_stop(
        self, job: Job, now_s: float, progress_s: float, lost_s: float, finished: bool
    ) -> None:
        g = job.spec.gpus
        p = job.program
        me = p.entity_index
        self.entity_used[me].add(now_s, -g)
        w = self.program[p.index]
        w.change(now_s, -g, -g * job.speed)
        owners = job.owners
        power = self.costs.itemized  # busy power is a line of the itemized model only
        if power or len(owners) != 1 or owners[0][0] != me:
            rate = self._busy_rate_of(job) if power else 0.0
            for owner, n in owners:
                if power:
                    self.entity_busy_power[owner].add(now_s, -n * rate)
                if owner != me:
                    self.entity_lent[owner].add(now_s, -n)
                    self.entity_borrowed[me].add(now_s, -n)
        if job.restoring_s:
            self.restore_gpu_s += min(now_s - job.start_s, job.restoring_s) * g
        if lost_s:
            w.lose(lost_s * g, now_s)
            self.program_lost[p.index] += lost_s * g
            self.lost_gpu_s += lost_s * g
        if not finished:
            self.preemptions += 1
            return
        self.to_last_finish = self.used_ready_until(now_s)
        s = job.spec
        self.j_id.append(s.id)
        self.j_program.append(p.index)
        self.j_gpus.append(g)
        self.j_submit.append(s.submit_s)
        self.j_start.append(job.first_start_s)
        self.j_finish.append(now_s)
        best = self._best_speed.get(s.gpu_types)
        if best is None:
            best = max(self.speed.get(t, 1.0) for t in s.gpu_types)
            self._best_speed[s.gpu_types] = best
        self.j_ideal.append(s.work_s / best)
        self.j_preempt.append(job.preemptions)

    def _busy_rate_of(self, job: Job) -> float:
        """$ per second per GPU of the busy part of power where the job runs."""
        g = job.group
        rate = self._busy_rate.get(g)
        if rate is None:
            grp = self.state.capacity.groups[g]
            rate = self.costs.busy_usd_s(grp.site, grp.gpu_type)
            self._busy_rate[g] = rate
        return rate

    def on_capacity(self, state: ClusterState, now_s: float) -> None:
        capex, stranded_capex, idle = self.costs.owner_rates(state)
        for e in range(len(state.entities)):
            self.entity_capex[e].set(now_s, capex[e])
            self.entity_stranded_capex[e].set(now_s, stranded_capex[e])
            self.entity_idle_power[e].set(now_s, idle[e])
        self.fleet_down.set(
            now_s,
            float(sum(state.capacity.node_gpus[n] for n, d in enumerate(state.node_down) if d)),
        )
        delivered, ready = state.gpus_by_owner()
        for e in range(len(state.entities)):
            self.entity_delivered[e].set(now_s, delivered[e])
            self.entity_ready[e].set(now_s, ready[e])
            self.entity_stranded[e].set(now_s, delivered[e] - ready[e])
        self.fleet_delivered.set(now_s, sum(delivered))
        self.fleet_ready.set(now_s, sum(ready))
        self.fleet_stranded.set(now_s, sum(delivered) - sum(ready))

    def on_quota(self, program: str, gpu_type: str, nominal: int, now_s: float) -> None:
        p = self.state.program_by_name[program]
        self.program_entitled[p.index].set(
            now_s, float(sum(q.nominal_gpus for q in p.quotas.values()))
        )

    def on_reasons(self, jobs_and_reasons: Sequence[tuple[Job, Reason]], now_s: float) -> None:
        """Time-weighted: the time since a job's last change goes to its previous reason."""
        totals = self.program_reason_s
        for job, _ in jobs_and_reasons:
            old = job.reason
            if old:
                d = totals[job.program.index]
                d[old] = d.get(old, 0.0) + now_s - job.reason_since_s

    def pending_reasons_s(self, now_s: float) -> list[dict[str, float]]:
        """Per program, job-seconds pending under each reason up to ``now_s``: the closed
        intervals plus the open ones of jobs pending now (a scan of the queues; for reports)."""
        out = [dict(d) for d in self.program_reason_s]
        for p in self.state.programs:
            d = out[p.index]
            for job in p.pending.values():
                if job.reason:
                    d[job.reason] = d.get(job.reason, 0.0) + now_s - job.reason_since_s
        return out

    def on_submit(self, now_s: float) -> None:
        """A job arrived (the simulator calls this; arrivals are in time order)."""
        self.to_last_submit = self.used_ready_until(now_s)

    def used_ready_until(self, t: float) -> tuple[float, float]:
        """Used and ready fleet GPU-seconds from the start to ``t`` (not before the levels'
        last change): each level's integral so far plus its value since."""
        used = 0.0  # the sum of a loop, as sum() would (0 + x is x): twice per job
        for lv in self.entity_used:
            used += lv.total + lv.value * (t - lv.last_t)
        r = self.fleet_ready
        return used, r.total + r.value * (t - r.last_t)

    # --- end --------------------------------------------------------------------------
    def close(self, end_s: float) -> None:
        for lv in self._levels():
            lv.advance(end_s)
        for m in self.program:
            m.change(end_s, 0.0, 0.0)

    def _levels(self) -> list[Level]:
        out: list[Level] = [
            self.fleet_ready,
            self.fleet_stranded,
            self.fleet_delivered,
            self.fleet_down,
        ]
        for group in (
            self.entity_used,
            self.entity_delivered,
            self.entity_ready,
            self.entity_stranded,
            self.entity_lent,
            self.entity_borrowed,
            self.program_entitled,
            self.entity_capex,
            self.entity_stranded_capex,
            self.entity_idle_power,
            self.entity_busy_power,
        ):
            out.extend(group)
        return out

    @property
    def fleet_used_gpu_s(self) -> float:
        return sum(lv.total for lv in self.entity_used)

    def fleet_used_series(self) -> list[float]:
        series = [lv.series() for lv in self.entity_used]
        return [sum(xs) for xs in zip(*series, strict=True)] if series else []
