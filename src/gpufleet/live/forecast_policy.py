"""The policy that matches a Slurm cluster, with its options read from the cluster's own
configuration (``scontrol show config``), taken from the policy registry by name.

- ``SchedulerType=sched/backfill`` -> ``slurm-backfill``; anything else (``sched/builtin``)
  -> ``slurm-multifactor``.
- ``PriorityType=priority/multifactor``: its weights (``PriorityWeightAge``,
  ``...FairShare``, ``...JobSize``, ``...QOS``, ``...Partition``), ``PriorityMaxAge``,
  ``PriorityDecayHalfLife`` (none: no decay) and ``PriorityFavorSmall``. Any other
  priority plugin (``priority/basic``) orders by submit time: every weight 0.
- ``bf_max_job_test`` from ``SchedulerParameters``.

Each option is passed only where the chosen policy declares it (``options`` of its class
in the registry), so a policy that learns a setting (the calculation period, the
intervals) gets it from here with no change to this module; every setting the cluster
has that the policy does not take is listed as not modelled. So are the settings no
policy option stands for: ``PriorityWeightAssoc`` and ``PriorityWeightTRES``.
"""

from __future__ import annotations

from dataclasses import dataclass

from gpufleet.domain.scenario import OptionValue, PolicySpec
from gpufleet.live.slurm.model import SlurmConfig
from gpufleet.policies.registry import POLICIES

_HOUR_S = 3600.0


@dataclass(frozen=True)
class PolicyChoice:
    spec: PolicySpec
    not_modelled: tuple[str, ...]  # "Setting=value" the policy was not given


def policy_name(config: SlurmConfig) -> str:
    return (
        "slurm-backfill"
        if config.scheduler.scheduler_type == "sched/backfill"
        else ("slurm-multifactor")
    )


def candidate_options(config: SlurmConfig) -> dict[str, tuple[str, OptionValue]]:
    """Policy option -> (the Slurm setting it comes from, its value in the option's unit)."""
    w = config.weights
    multifactor = config.priority_type == "priority/multifactor"

    def weight(setting: str, value: int) -> tuple[str, OptionValue]:
        return setting, float(value) if multifactor else 0.0

    sched = config.scheduler
    return {
        "weight_age": weight("PriorityWeightAge", w.age),
        "weight_fairshare": weight("PriorityWeightFairShare", w.fairshare),
        "weight_job_size": weight("PriorityWeightJobSize", w.job_size),
        "weight_qos": weight("PriorityWeightQOS", w.qos),
        "weight_partition": weight("PriorityWeightPartition", w.partition),
        "max_age_hours": ("PriorityMaxAge", config.max_age_s / _HOUR_S),
        "decay_half_life_hours": (
            "PriorityDecayHalfLife",
            (config.decay_half_life_s or 0) / _HOUR_S,
        ),
        "favor_small": ("PriorityFavorSmall", config.favor_small),
        "bf_max_job_test": ("bf_max_job_test", sched.bf_max_job_test),
        "calc_period_s": ("PriorityCalcPeriod", float(config.calc_period_s)),
        "sched_interval_s": ("sched_interval", float(sched.sched_interval_s)),
        "bf_interval_s": ("bf_interval", float(sched.bf_interval_s)),
        "bf_resolution_s": ("bf_resolution", float(sched.bf_resolution_s)),
    }


def choose_policy(config: SlurmConfig, slurm_fairshare: bool = False) -> PolicyChoice:
    """The policy and its options for ``config`` (rules in the module docstring); with
    ``slurm_fairshare``, ``use_slurm_fairshare`` where the policy declares it."""
    name = policy_name(config)
    declared = POLICIES.get(name).options
    options: dict[str, OptionValue] = {}
    missing: list[str] = []
    for option, (setting, value) in candidate_options(config).items():
        want = declared.get(option)
        if want is not None and want.accepts(value):
            options[option] = value
        elif want is None and option.startswith("bf_") and name != "slurm-backfill":
            continue  # a backfill setting means nothing to the main scheduler alone
        else:
            missing.append(f"{setting}={value}")
    if slurm_fairshare and "use_slurm_fairshare" in declared:
        options["use_slurm_fairshare"] = True
    if config.weights.assoc:
        missing.append(f"PriorityWeightAssoc={config.weights.assoc}")
    if config.weights.tres:
        missing.append(
            "PriorityWeightTRES=" + ",".join(f"{t.tres}={t.count}" for t in config.weights.tres)
        )
    return PolicyChoice(PolicySpec(name, tuple(sorted(options.items()))), tuple(missing))
