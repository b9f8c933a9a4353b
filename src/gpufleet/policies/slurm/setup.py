"""What a Slurm cluster is configured to do, as the Slurm policies take it: a pure model.

Filled from text by :mod:`gpufleet.policies.slurm.conftext` (``slurm.conf`` or ``scontrol
show config``, ``sacctmgr -P show assoc``, ``sshare -P -a -l``) or by a caller that has
parsed them already (the live forecast); the policies never read Slurm themselves.

Names. Slurm's accounts stand for gpufleet's programs: a limit or a fair-share leaf named
``xai`` applies to the program named ``xai`` (:meth:`SlurmSetup.renamed` maps accounts to
program names where they differ). A job's Slurm user and QOS (``JobSpec.user``,
``JobSpec.qos``) select the per-user association limits and the QOS limits that apply to
it; the fair-share tree still ends at accounts (an account's users are one leaf: its
program).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from gpufleet.errors import InputError


@dataclass(frozen=True)
class AssocLimits:
    """An association's limits on GPUs and jobs (sacctmgr's ``GrpTRES``, ``MaxTRES``,
    ``GrpJobs``; slurm.schedmd.com/resource_limits.html).

    ``grp_gpus``: GPU type -> the most GPUs of that type the association's running jobs
    may hold together; the key ``None`` is ``gres/gpu`` (all types together),
    ``"h100"`` is ``gres/gpu:h100``. ``max_gpus_per_job``: ``MaxTRES=gres/gpu=N``, the most
    GPUs one job may ask for. ``grp_jobs``: the most running jobs."""

    grp_gpus: Mapping[str | None, int] = field(default_factory=dict)
    max_gpus_per_job: int | None = None
    grp_jobs: int | None = None

    @property
    def empty(self) -> bool:
        return not self.grp_gpus and self.max_gpus_per_job is None and self.grp_jobs is None


@dataclass(frozen=True)
class QosLimits:
    """A QOS's limits on GPUs and jobs (``sacctmgr show qos``'s ``GrpTRES``, ``GrpJobs``,
    ``MaxTRES`` (per job), ``MaxTRESPU``, ``MaxJobsPU``; resource_limits.html, "QOS
    specific limits").

    ``grp_gpus``: GPU type (None: ``gres/gpu``) -> the most GPUs the QOS's running jobs,
    all accounts together, may hold; ``max_gpus_per_user``: the same per user;
    ``max_gpus_per_job``: ``MaxTRES=gres/gpu=N``; ``grp_jobs``, ``max_jobs_per_user``:
    running jobs in the QOS, in all and per user."""

    grp_gpus: Mapping[str | None, int] = field(default_factory=dict)
    grp_jobs: int | None = None
    max_gpus_per_job: int | None = None
    max_gpus_per_user: Mapping[str | None, int] = field(default_factory=dict)
    max_jobs_per_user: int | None = None

    @property
    def empty(self) -> bool:
        numbers = (self.grp_jobs, self.max_gpus_per_job, self.max_jobs_per_user)
        return not (self.grp_gpus or self.max_gpus_per_user) and numbers == (None, None, None)


@dataclass(frozen=True)
class Account:
    """A node of the fair-share tree (``sacctmgr show assoc``'s account rows): its raw
    ``Share`` and its children by name (accounts of the tree, or leaves: programs)."""

    name: str
    shares: float
    children: tuple[str, ...] = ()


@dataclass(frozen=True)
class SlurmSetup:
    """The configuration the Slurm policies follow; every field has Slurm's default.

    Weights, ``max_age_s``, ``decay_half_life_s``, ``calc_period_s``, ``favor_small`` are
    priority/multifactor's (``PriorityWeight*``, ``PriorityMaxAge``,
    ``PriorityDecayHalfLife``, ``PriorityCalcPeriod``, ``PriorityFavorSmall``);
    ``bf_*`` and ``sched_interval_s`` are ``SchedulerParameters``; ``sched_at_events``,
    ``sched_min_interval_s`` and the phases (``sched_phase_s``, ``calc_phase_s``,
    ``bf_phase_s``: the instant of one periodic main pass, recalculation or backfill pass
    in the run's seconds; None for the run's first cycle) are the timing of
    :mod:`gpufleet.policies.slurm.timing`. ``limits`` are per account (program),
    ``user_limits`` per account and user (a user's own association: its ``GrpTRES``
    counts that user's jobs in that account), ``qos`` per QOS name; ``tree``
    is the fair-share tree below ``root`` (None: gpufleet's own, root -> entity ->
    program); ``fairshare`` is Slurm's own factor per program
    (sshare's ``FairShare``), used instead of computing it until the first recalculation
    when the policy is asked to (``use_slurm_fairshare``); ``usage_gpu_s`` is each
    program's decayed usage at the start (sshare's ``RawUsage`` in GPU-seconds), from
    which the recalculations go on."""

    weight_age: float = 0.0
    weight_fairshare: float = 0.0
    weight_job_size: float = 0.0
    weight_qos: float = 0.0
    weight_partition: float = 0.0
    max_age_s: float = 7 * 86_400.0
    decay_half_life_s: float = 7 * 86_400.0
    calc_period_s: float = 300.0
    favor_small: bool = False
    sched_interval_s: float = 60.0
    sched_at_events: bool = True
    sched_min_interval_s: float = 2e-6  # 22.05: sched_min_interval in microseconds, 2
    sched_phase_s: float = 0.0
    sched_delay_s: float = 0.0
    calc_phase_s: float | None = None
    bf_phase_s: float | None = None
    bf_interval_s: float = 30.0
    bf_max_job_test: int = 500
    bf_resolution_s: float = 60.0
    bf_window_s: float = 1440 * 60.0
    limits: Mapping[str, AssocLimits] = field(default_factory=dict)
    user_limits: Mapping[str, Mapping[str, AssocLimits]] = field(default_factory=dict)
    qos: Mapping[str, QosLimits] = field(default_factory=dict)
    tree: Mapping[str, Account] | None = None
    fairshare: Mapping[str, float] | None = None
    usage_gpu_s: Mapping[str, float] = field(default_factory=dict)

    def renamed(
        self, programs: Mapping[str, str], gpu_types: Mapping[str, str] | None = None
    ) -> SlurmSetup:
        """The same setup with accounts named as gpufleet's programs (``programs``:
        account -> program name) and Slurm's gres types as gpufleet's GPU types
        (``gpu_types``: ``h100`` -> ``H100``); a name not in a mapping is kept."""
        types = gpu_types or {}

        def n(a: str) -> str:
            return programs.get(a, a)

        def caps(by_type: Mapping[str | None, int]) -> dict[str | None, int]:
            return {t if t is None else types.get(t, t): c for t, c in by_type.items()}

        def typed(lim: AssocLimits) -> AssocLimits:
            return replace(lim, grp_gpus=caps(lim.grp_gpus))

        def typed_qos(q: QosLimits) -> QosLimits:
            return replace(
                q, grp_gpus=caps(q.grp_gpus), max_gpus_per_user=caps(q.max_gpus_per_user)
            )

        tree = None
        if self.tree is not None:
            tree = {
                n(k): replace(a, name=n(a.name), children=tuple(n(c) for c in a.children))
                for k, a in self.tree.items()
            }
        return replace(
            self,
            limits={n(a): typed(lim) for a, lim in self.limits.items()},
            user_limits={
                n(a): {u: typed(lim) for u, lim in users.items()}
                for a, users in self.user_limits.items()
            },
            qos={name: typed_qos(q) for name, q in self.qos.items()},
            tree=tree,
            fairshare=None
            if self.fairshare is None
            else {n(a): f for a, f in self.fairshare.items()},
            usage_gpu_s={n(a): u for a, u in self.usage_gpu_s.items()},
        )

    def check(self, source: str) -> None:
        """Refuse numbers Slurm would refuse, naming ``source`` and the field."""
        for name in ("bf_interval_s", "bf_resolution_s", "calc_period_s", "sched_interval_s"):
            if getattr(self, name) <= 0:
                raise InputError(f"{source}: {name} must be > 0, got {getattr(self, name)}")
        if self.bf_max_job_test < 1:
            raise InputError(f"{source}: bf_max_job_test must be >= 1")
        if self.tree is not None and "root" not in self.tree:
            raise InputError(f"{source}: the fair-share tree has no account 'root'")


ROOT = "root"
