"""Quotas, fair-share and the scheduler's configuration, from Slurm's text outputs:
``sacctmgr -P show assoc``, ``sshare -P -a -l`` and ``scontrol show config``."""

from __future__ import annotations

from gpufleet.live.errors import SourceError
from gpufleet.live.jsonread import At
from gpufleet.live.slurm.gres import tres_list
from gpufleet.live.slurm.model import (
    Association,
    FairShare,
    PriorityWeights,
    SchedulerConfig,
    SlurmConfig,
    TresLimit,
)
from gpufleet.live.slurm.text import Row, config_pairs, duration_s, pipe_table

ASSOC_FORMAT = (
    "Cluster,Account,User,Partition,ParentName,Share,GrpJobs,GrpTRES,MaxJobs,MaxTRES,QOS,DefaultQOS"
)
_ASSOC_COLUMNS = (
    "Cluster", "Account", "User", "Partition", "ParentName", "Share", "GrpJobs", "GrpTRES",
    "MaxJobs", "MaxTRES", "QOS", "Def QOS",
)  # fmt: skip
_SSHARE_COLUMNS = (
    "Account", "User", "RawShares", "NormShares", "RawUsage", "NormUsage", "EffectvUsage",
    "FairShare", "LevelFS",
)  # fmt: skip


def _tres(row: Row, column: str) -> tuple[TresLimit, ...]:
    where = At(row.source, f"line {row.line}: {column}", row.text(column))
    return tres_list(where, row.text(column))


def _shares(row: Row, column: str) -> int | None:
    return None if row.text(column).lower() in ("parent", "") else row.whole(column)


def parse_associations(source: str, text: str) -> tuple[Association, ...]:
    """Every association row of ``sacctmgr -P show assoc format=ASSOC_FORMAT``."""
    return tuple(
        Association(
            cluster=row.text("Cluster"),
            account=row.text("Account"),
            user=row.text("User"),
            partition=row.text("Partition"),
            parent=row.text("ParentName"),
            shares=_shares(row, "Share"),
            grp_tres=_tres(row, "GrpTRES"),
            max_tres=_tres(row, "MaxTRES"),
            grp_jobs=row.opt_whole("GrpJobs"),
            max_jobs=row.opt_whole("MaxJobs"),
            qos=tuple(q for q in row.text("QOS").split(",") if q),
            default_qos=row.text("Def QOS"),
        )
        for row in pipe_table(source, text, _ASSOC_COLUMNS)
    )


def parse_fairshare(source: str, text: str) -> tuple[FairShare, ...]:
    """Every row of ``sshare -P -a -l``: Slurm's own fair-share factors."""
    return tuple(
        FairShare(
            account=row.text("Account"),
            user=row.text("User"),
            raw_shares=_shares(row, "RawShares"),
            norm_shares=row.number("NormShares"),
            raw_usage=row.whole("RawUsage"),
            norm_usage=row.opt_number("NormUsage"),
            effective_usage=row.number("EffectvUsage"),
            fairshare=row.opt_number("FairShare"),
            level_fs=row.opt_number("LevelFS"),
        )
        for row in pipe_table(source, text, _SSHARE_COLUMNS)
    )


class _Config:
    """Typed reads of ``scontrol show config``'s pairs, each naming its key on error."""

    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self.pairs = config_pairs(source, text)

    def text(self, key: str) -> str:
        if key not in self.pairs:
            raise SourceError(self.source, key, "missing", f"a line '{key} = ...'")
        value = self.pairs[key]
        return "" if value == "(null)" else value

    def whole(self, key: str) -> int:
        value = self.text(key)
        if not value.isdigit():
            raise SourceError(self.source, key, f"{value!r} is not a whole number", "digits")
        return int(value)

    def seconds(self, key: str) -> int | None:
        return duration_s(self.source, key, self.text(key))


def _scheduler(config: _Config) -> SchedulerConfig:
    params: dict[str, str] = {}
    for item in config.text("SchedulerParameters").split(","):
        if item:
            key, _, value = item.partition("=")
            params[key] = value

    def whole(key: str, default: int) -> int:
        value = params.get(key, str(default))
        if not value.isdigit():
            raise SourceError(
                config.source, f"SchedulerParameters.{key}", f"{value!r}", "a whole number"
            )
        return int(value)

    return SchedulerConfig(
        scheduler_type=config.text("SchedulerType"),
        parameters=params,
        sched_interval_s=whole("sched_interval", 60),
        bf_interval_s=whole("bf_interval", 30),
        bf_max_job_test=whole("bf_max_job_test", 500),
        bf_resolution_s=whole("bf_resolution", 60),
        bf_window_min=whole("bf_window", 1440),
    )


def parse_config(source: str, text: str) -> SlurmConfig:
    """The priority weights, decay and scheduler parameters a forecast needs."""
    config = _Config(source, text)
    weight_tres = At(source, "PriorityWeightTRES", config.text("PriorityWeightTRES"))
    half_life = config.seconds("PriorityDecayHalfLife")
    return SlurmConfig(
        cluster=config.text("ClusterName"),
        version=config.text("SLURM_VERSION"),
        priority_type=config.text("PriorityType"),
        weights=PriorityWeights(
            age=config.whole("PriorityWeightAge"),
            assoc=config.whole("PriorityWeightAssoc"),
            fairshare=config.whole("PriorityWeightFairShare"),
            job_size=config.whole("PriorityWeightJobSize"),
            partition=config.whole("PriorityWeightPartition"),
            qos=config.whole("PriorityWeightQOS"),
            tres=tres_list(weight_tres, str(weight_tres.value)),
        ),
        decay_half_life_s=half_life or None,
        calc_period_s=config.seconds("PriorityCalcPeriod") or 300,
        max_age_s=config.seconds("PriorityMaxAge") or 0,
        favor_small=config.text("PriorityFavorSmall").lower() == "yes",
        priority_flags=tuple(f for f in config.text("PriorityFlags").split(",") if f),
        scheduler=_scheduler(config),
        select_type=config.text("SelectType"),
        enforce=tuple(e for e in config.text("AccountingStorageEnforce").split(",") if e),
        raw=dict(config.pairs),
    )
