"""The Slurm policies' configuration (:class:`~gpufleet.policies.slurm.setup.SlurmSetup`)
filled from what the live client read: the forecast hands the policy the cluster's own
association limits, fair-share factors and usage instead of letting it guess them
(issue 18, item 5: "configuration in, not guessed").

- **limits**, per account (the run's program of the same name): ``GrpTRES`` on
  ``gres/gpu`` (all types) or ``gres/gpu:TYPE`` (the mapping's catalog name for TYPE; a
  type the mapping does not name is dropped and noted), ``MaxTRES`` on ``gres/gpu`` (per
  job), ``GrpJobs``; the same of user rows as that user's limits in the account;
- **qos**, per QOS (``sacctmgr show qos``): ``GrpTRES``, ``GrpJobs``, ``MaxTRES`` (per
  job), ``MaxTRESPerUser``, ``MaxJobsPerUser``, GPU types mapped as above; the jobs carry
  their QOS and user from squeue (:mod:`gpufleet.live.forecast_jobs`);
- **fairshare**, per account: Slurm's own factor (``sshare``'s ``FairShare``). Under Fair
  Tree an account row has none and its users carry it; the account takes its users'
  highest (the run does not tell an account's users apart);
- **usage_gpu_s**, per account: ``sshare``'s ``RawUsage`` of the account row divided by
  Slurm's usage units per GPU-second (its billing weight of a GPU);
- weights, decay, calculation period, scheduler intervals from the configuration, for
  what the policy's options do not set;
- **timing** (:mod:`gpufleet.policies.slurm.timing`): the recalculations' phase from
  ``BOOT_TIME`` (Slurm's decay thread starts with slurmctld and wakes every
  ``PriorityCalcPeriod`` from then). The main scheduler runs at every job end, Slurm's
  documented path: on the dev cluster its starts fall on the periodic ``sched_interval``
  passes instead, but their phase cannot be read through Slurm's commands and drifts by
  milliseconds a pass, so which pass catches a job's end is a race; over four recorded
  runs, passes at those ticks agreed no better than passes at every end
  (docs/validation.md, "Forecast against a real Slurm").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from gpufleet.live.mapping import ClusterMapping
from gpufleet.live.slurm.model import Association, FairShare, SlurmConfig, TresLimit
from gpufleet.live.slurm.qos import SlurmQos
from gpufleet.policies.slurm.setup import AssocLimits, QosLimits, SlurmSetup


@dataclass(frozen=True)
class Limits:
    """The limits carried over: per account, per account and user, per QOS."""

    accounts: dict[str, AssocLimits]
    users: dict[str, dict[str, AssocLimits]]
    qos: dict[str, QosLimits]


def all_limits(
    associations: Sequence[Association], qos: Sequence[SlurmQos], mapping: ClusterMapping
) -> tuple[Limits, tuple[str, ...]]:
    """Accounts', users' and QOS limits (rules in the module docstring), and notes."""
    out = Limits({}, {}, {})
    notes: list[str] = []
    for a in associations:
        who = f"user {a.user} in account {a.account}" if a.user else f"account {a.account}"
        grp = _gpu_caps(who, a.grp_tres, mapping, notes)
        limits = AssocLimits(grp, _per_job(a.max_tres), a.grp_jobs)
        if limits.empty:
            continue
        if a.user:
            out.users.setdefault(a.account, {})[a.user] = limits
        else:
            out.accounts[a.account] = limits
    for q in qos:
        who = f"QOS {q.name}"
        got = QosLimits(
            grp_gpus=_gpu_caps(who, q.grp_tres, mapping, notes),
            grp_jobs=q.grp_jobs,
            max_gpus_per_job=_per_job(q.max_tres_per_job),
            max_gpus_per_user=_gpu_caps(who, q.max_tres_per_user, mapping, notes),
            max_jobs_per_user=q.max_jobs_per_user,
        )
        if not got.empty:
            out.qos[q.name] = got
    return out, tuple(notes)


def _per_job(tres: Sequence[TresLimit]) -> int | None:
    return next((t.count for t in tres if t.tres == "gres/gpu"), None)


def _gpu_caps(
    who: str, tres: Sequence[TresLimit], mapping: ClusterMapping, notes: list[str]
) -> dict[str | None, int]:
    caps: dict[str | None, int] = {}
    for t in tres:
        if t.tres == "gres/gpu":
            caps[None] = t.count
        elif t.tres.startswith("gres/gpu:"):
            gres_type = t.tres.removeprefix("gres/gpu:")
            named = mapping.gpu_type(gres_type)
            if named is None:
                notes.append(f"{who}: limit {t.tres} of an unmapped GPU type dropped")
            else:
                caps[named] = t.count
    return caps


def account_factors(fairshare: Sequence[FairShare]) -> dict[str, float]:
    """Slurm's fair-share factor per account (rules in the module docstring)."""
    out: dict[str, float] = {}
    for f in fairshare:
        if f.fairshare is None:
            continue
        out[f.account] = max(out.get(f.account, 0.0), f.fairshare)
    return out


def boot_time(config: SlurmConfig) -> datetime | None:
    """slurmctld's start (``scontrol show config``'s ``BOOT_TIME``, this machine's local
    time as Slurm prints it), None where it is missing or not a time."""
    text = config.raw.get("BOOT_TIME", "")
    try:
        return datetime.fromisoformat(text).astimezone()
    except ValueError:
        return None


def calc_phase_s(config: SlurmConfig, now: datetime | None) -> float | None:
    """Where Slurm's recalculations fall, as seconds after ``now`` of one of them in
    ``[0, PriorityCalcPeriod)``: ``BOOT_TIME`` plus whole periods; None without either."""
    boot = boot_time(config)
    if boot is None or now is None or config.calc_period_s <= 0:
        return None
    return (boot - now).total_seconds() % config.calc_period_s


def slurm_setup(
    config: SlurmConfig,
    associations: Sequence[Association],
    fairshare: Sequence[FairShare],
    mapping: ClusterMapping,
    usage_per_gpu_s: float,
    now: datetime | None = None,
    qos: Sequence[SlurmQos] = (),
) -> tuple[SlurmSetup, tuple[str, ...]]:
    """The setup, and notes on what was left out of it; ``now``, the forecast's start,
    places the recalculations (:func:`calc_phase_s`); ``qos``: every QOS's limits."""
    limits, notes = all_limits(associations, qos, mapping)
    w, sched = config.weights, config.scheduler
    multifactor = config.priority_type == "priority/multifactor"
    setup = SlurmSetup(
        weight_age=float(w.age) if multifactor else 0.0,
        weight_fairshare=float(w.fairshare) if multifactor else 0.0,
        weight_job_size=float(w.job_size) if multifactor else 0.0,
        weight_qos=float(w.qos) if multifactor else 0.0,
        weight_partition=float(w.partition) if multifactor else 0.0,
        max_age_s=float(config.max_age_s),
        decay_half_life_s=float(config.decay_half_life_s or 0),
        calc_period_s=float(config.calc_period_s),
        favor_small=config.favor_small,
        sched_interval_s=float(sched.sched_interval_s),
        calc_phase_s=calc_phase_s(config, now),
        bf_interval_s=float(sched.bf_interval_s),
        bf_max_job_test=sched.bf_max_job_test,
        bf_resolution_s=float(sched.bf_resolution_s),
        bf_window_s=sched.bf_window_min * 60.0,
        limits=limits.accounts,
        user_limits=limits.users,
        qos=limits.qos,
        fairshare=account_factors(fairshare),
        usage_gpu_s={
            f.account: f.raw_usage / usage_per_gpu_s
            for f in fairshare
            if not f.user and f.account != "root"
        },
    )
    return setup, notes
