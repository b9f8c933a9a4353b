"""The explicit registry of policies by name."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from gpufleet.errors import InputError, UnknownNameError
from gpufleet.policies.base import Policy
from gpufleet.policies.basic.drf import WeightedDrf
from gpufleet.policies.basic.fifo import FifoBackfill, StrictFifo
from gpufleet.policies.basic.priority import PriorityPreempt
from gpufleet.policies.basic.quota import QuotaBorrowing
from gpufleet.policies.basic.topology import DOMAIN_CHOICES, FifoTopology
from gpufleet.policies.kai.policy import KaiScheduler
from gpufleet.policies.kueue.policy import KueuePolicy
from gpufleet.policies.research.srtf import Srtf
from gpufleet.policies.research.themis import Themis
from gpufleet.policies.research.tiresias import Tiresias
from gpufleet.policies.slurm import SlurmBackfill, SlurmMultifactor

Option = float | int | str | bool


class AnyInt:
    """Option type: any whole number, negative included (a priority threshold)."""


_SLURM_OPTIONS: dict[str, type] = {
    "weight_age": float,
    "weight_fairshare": float,
    "weight_job_size": float,
    "weight_qos": float,
    "weight_partition": float,
    "max_age_hours": float,
    "decay_half_life_hours": float,
    "favor_small": bool,
    "classic_fairshare": bool,
    "preempt_qos_gap": AnyInt,  # 0: no preemption; checked >= 0 by the policy
    "preempt_exempt_time_s": float,
}

_FACTORIES: dict[str, tuple[type, dict[str, type | tuple[str, ...]]]] = {
    StrictFifo.name: (StrictFifo, {}),
    FifoBackfill.name: (FifoBackfill, {"backfill_depth": int}),
    PriorityPreempt.name: (PriorityPreempt, {}),
    WeightedDrf.name: (WeightedDrf, {}),
    QuotaBorrowing.name: (QuotaBorrowing, {}),
    Srtf.name: (Srtf, {"depth": int}),
    SlurmMultifactor.name: (SlurmMultifactor, dict(_SLURM_OPTIONS)),
    SlurmBackfill.name: (SlurmBackfill, {"bf_max_job_test": int, **_SLURM_OPTIONS}),
    FifoTopology.name: (FifoTopology, {"domain_choice": DOMAIN_CHOICES}),
    KueuePolicy.name: (
        KueuePolicy,
        {
            "when_can_borrow": ("Borrow", "TryNextFlavor"),
            "when_can_preempt": ("Preempt", "TryNextFlavor"),
            "queueing_strategy": ("StrictFIFO", "BestEffortFIFO"),
            "within_cluster_queue": ("Never", "LowerPriority", "LowerOrNewerEqualPriority"),
            "reclaim_within_cohort": ("Never", "LowerPriority", "Any"),
            "borrow_within_cohort": ("Never", "LowerPriority"),
            "max_priority_threshold": AnyInt,
            "fair_sharing": bool,
            "fair_sharing_strategies": (
                "LessThanOrEqualToFinalShare,LessThanInitialShare",
                "LessThanOrEqualToFinalShare",
                "LessThanInitialShare",
            ),
        },
    ),
    Tiresias.name: (
        Tiresias,
        {
            "threshold_gpu_hours": float,
            "queues": int,
            "threshold_growth": float,
            "starve_limit": float,
            "depth": int,
        },
    ),
    Themis.name: (Themis, {"f": float, "depth": int}),
    KaiScheduler.name: (
        KaiScheduler,
        {
            "hierarchy": ("entity", "flat"),
            "reclaim": bool,
            "reclaim_multiplier": float,
            "half_life_hours": float,
            "k_value": float,
        },
    ),
}


def available_policies() -> list[tuple[str, str, list[str]]]:
    """(name, summary, option names) for every registered policy."""
    return [
        (n, str(getattr(cls, "summary", "")), sorted(opts)) for n, (cls, opts) in _FACTORIES.items()
    ]


def _check_option(policy: str, key: str, value: Option, want: type | tuple[str, ...]) -> None:
    if isinstance(want, tuple):  # one of several words
        ok, what = value in want, "one of " + ", ".join(map(str, want))
    elif want is AnyInt:
        ok, what = isinstance(value, int) and not isinstance(value, bool), "a whole number"
    elif want is str:
        ok, what = isinstance(value, str) and bool(value), "a word"
    elif want is bool:
        ok, what = isinstance(value, bool), "true or false"
    elif want is int:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
        what = "a positive integer"
    else:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
        what = "a number >= 0"
    if not ok:
        raise InputError(f"policy {policy!r} option {key!r} must be {what}, got {value!r}")


def make_policy(name: str, options: Mapping[str, Option] | None = None) -> Policy:
    if name not in _FACTORIES:
        raise UnknownNameError("policy", name, list(_FACTORIES))
    cls, allowed = _FACTORIES[name]
    kwargs: dict[str, Option] = {}
    for key, value in (options or {}).items():
        if key not in allowed:
            ok = ", ".join(sorted(allowed)) or "none"
            raise InputError(f"policy {name!r} has no option {key!r}; its options: {ok}")
        want = allowed[key]
        _check_option(name, key, value, want)
        kwargs[key] = value
    factory: Callable[..., Policy] = cls
    return factory(**kwargs)
