"""Slurm's configuration read from its own text (issue 18, item 5): slurm.conf, ``scontrol
show config``, ``sacctmgr -P show assoc`` and ``sshare -P -a -l``, into the setup the Slurm
policies follow; and the policies built from files a scenario names.

The texts below are excerpts of the dev cluster's outputs (tests/live/samples/slurm/,
recorded from Slurm 22.05.8) and of its slurm.conf (scripts/devcluster/write_config.sh)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpufleet.errors import InputError
from gpufleet.policies.registry import make_policy
from gpufleet.policies.slurm import Account, AssocLimits, SlurmSetup
from gpufleet.policies.slurm.conftext import (
    read_associations,
    read_config,
    read_setup_files,
    read_sshare,
    setup_from_texts,
)
from gpufleet.policies.slurm.plan import SlurmBackfill

SCONTROL = """Configuration data as of 2026-12-06T18:11:38
AccountingStorageEnforce = associations,limits,qos
PriorityDecayHalfLife   = 1-00:00:00
PriorityCalcPeriod      = 00:01:00
PriorityFavorSmall      = No
PriorityMaxAge          = 1-00:00:00
PriorityType            = priority/multifactor
PriorityWeightAge       = 1000
PriorityWeightAssoc     = 0
PriorityWeightFairShare = 10000
PriorityWeightJobSize   = 0
PriorityWeightPartition = 0
PriorityWeightQOS       = 1000
PriorityWeightTRES      = (null)
SchedulerParameters     = sched_interval=2,bf_interval=5,bf_max_job_test=500,bf_continue
"""

SLURM_CONF = """# written by scripts/devcluster/write_config.sh
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=5,bf_max_job_test=400,bf_resolution=30
PriorityType=priority/multifactor
PriorityWeightFairshare=10000
PriorityWeightAge=1000
PriorityWeightQOS=1000
PriorityDecayHalfLife=1-00:00:00
PriorityCalcPeriod=1
PriorityMaxAge=7-0
NodeName=gf-h100-1 Gres=gpu:h100:8 CPUs=16
PartitionName=h100 Nodes=gf-h100-1 Default=YES TRESBillingWeights=CPU=1.0,GRES/gpu=10.0
"""

SACCTMGR = (
    "Cluster|Account|User|Partition|ParentName|Share|GrpJobs|GrpTRES|MaxJobs|MaxTRES|QOS|Def QOS\n"
    """gfdev|root||||1|||||normal|
gfdev|root|gfslurmrest|||1|||||normal|
gfdev|root|root|||1|||||normal|
gfdev|tesla|||root|60|||||normal|
gfdev|tesla|tesla1|||1|||||normal|
gfdev|tesla|tesla2|||1|||||normal|
gfdev|xai|||root|40||gres/gpu=4|||normal|
gfdev|xai|xai1|||1|||||normal|
gfdev|xai|xai2|||1|||||normal|
"""
)

SSHARE = """Account|User|RawShares|NormShares|RawUsage|NormUsage|EffectvUsage|FairShare|LevelFS
root|||0.000000|3493||1.000000||
 root|root|1|0.009804|0|0.000000|0.000000|1.000000|inf
 tesla||60|0.588235|2317|0.662442|0.662442||0.887980
  tesla|tesla1|1|0.500000|2317|0.662442|1.000000|0.166667|0.500000
  tesla|tesla2|1|0.500000|0|0.000000|0.000000|0.333333|inf
 xai||40|0.392157|1175|0.337558|0.337558||1.161746
  xai|xai1|1|0.500000|1175|0.337558|1.000000|0.500000|0.500000
  xai|xai2|1|0.500000|0|0.000000|0.000000|0.666667|inf
"""


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        # scontrol's durations: 1-00:00:00 = 86400 s, 00:01:00 = 60 s.
        pytest.param(
            SCONTROL,
            dict(
                weight_age=1000.0,
                weight_fairshare=10000.0,
                weight_qos=1000.0,
                weight_job_size=0.0,
                decay_half_life_s=86400.0,
                calc_period_s=60.0,
                max_age_s=86400.0,
                sched_interval_s=2.0,
                bf_interval_s=5.0,
                bf_max_job_test=500,
                bf_resolution_s=60.0,  # unset: Slurm's default
            ),
            id="scontrol-show-config",
        ),
        # slurm.conf(5): PriorityCalcPeriod in minutes (1 -> 60 s), PriorityMaxAge 7-0 =
        # 7 days 0 hours = 604800 s; keys case-insensitive (PriorityWeightFairshare).
        pytest.param(
            SLURM_CONF,
            dict(
                weight_fairshare=10000.0,
                calc_period_s=60.0,
                max_age_s=604800.0,
                bf_max_job_test=400,
                bf_resolution_s=30.0,
                weight_partition=0.0,  # unset: slurm.conf's default 0
            ),
            id="slurm.conf",
        ),
        # job_scheduler.c _schedule: sched_min_interval is in microseconds in 22.05
        # (1500000 us = 1.5 s); unset it is 2 us, and 0 is allowed (no spacing)
        pytest.param(
            "SchedulerParameters=sched_min_interval=1500000\n",
            dict(sched_min_interval_s=1.5, sched_interval_s=60.0),
            id="sched_min_interval-in-microseconds",
        ),
        pytest.param(
            "SchedulerParameters=sched_min_interval=0\n",
            dict(sched_min_interval_s=0.0),
            id="sched_min_interval-0",
        ),
        pytest.param("PriorityWeightAge=1\n", dict(sched_min_interval_s=2e-6), id="defaults"),
    ],
)
def test_the_configuration_sets_weights_times_and_scheduler_parameters(
    text: str, expect: dict[str, float]
) -> None:
    setup = read_config("cfg", text)
    for field, value in expect.items():
        assert getattr(setup, field) == value, field


def test_associations_give_the_tree_and_the_limits() -> None:
    setup = read_associations("assoc", SACCTMGR)
    assert setup.limits == {"xai": AssocLimits(grp_gpus={None: 4})}
    assert setup.tree is not None
    # root has accounts and users: its users stay leaves; tesla and xai only have users,
    # so they are leaves (gpufleet's programs).
    assert setup.tree["root"] == Account(
        "root", 1.0, ("tesla", "xai", "root/gfslurmrest", "root/root")
    )
    assert setup.tree["tesla"] == Account("tesla", 60.0)
    assert setup.tree["xai"] == Account("xai", 40.0)


def test_sshare_gives_slurm_own_factors_and_usage_in_gpu_seconds() -> None:
    # Per account, the highest of its users' FairShare (tesla: max(0.166667, 0.333333));
    # RawUsage / 10 billing per GPU: tesla 2317 / 10 = 231.7 GPU-s.
    setup = read_sshare("sshare", SSHARE, billing_per_gpu=10.0)
    assert setup.fairshare == {"root": 1.0, "tesla": 0.333333, "xai": 0.666667}
    assert setup.usage_gpu_s == {"tesla": 231.7, "xai": 117.5}


def test_renamed_maps_accounts_to_programs_and_gres_types_to_gpu_types() -> None:
    setup = read_associations("assoc", SACCTMGR.replace("gres/gpu=4", "gres/gpu:h100=4"))
    named = setup.renamed({"xai": "xAI-training"}, {"h100": "H100-SXM"})
    assert named.limits == {"xAI-training": AssocLimits(grp_gpus={"H100-SXM": 4})}
    assert named.tree is not None and "xAI-training" in named.tree["root"].children


@pytest.mark.parametrize(
    ("reader", "text", "message"),
    [
        pytest.param(
            read_config,
            "PriorityMaxAge=seven days\n",
            r"cfg:1: 'seven days' is not a Slurm time \(expected MM, MM:SS",
            id="bad-time",
        ),
        pytest.param(
            read_config,
            "\nPriorityWeightAge=-3\n",
            r"cfg:2: priorityweightage: '-3' is not a number >= 0",
            id="negative-weight",
        ),
        pytest.param(
            read_config,
            "SchedulerParameters=bf_interval=0\n",
            r"cfg:1: SchedulerParameters bf_interval='0' \(expected a whole number >= 1\)",
            id="zero-interval",
        ),
        pytest.param(
            read_config,
            "SchedulerParameters=sched_min_interval=-1\n",
            r"cfg:1: SchedulerParameters sched_min_interval='-1' \(expected a whole number >= 0\)",
            id="negative-sched_min_interval",
        ),
        pytest.param(
            read_associations,
            SACCTMGR.replace("gres/gpu=4", "gres/gpu=four"),
            r"cfg:8: GrpTRES: 'gres/gpu=four' count is not whole \(expected gres/gpu\[:TYPE\]=N\)",
            id="tres-not-whole",
        ),
        pytest.param(
            read_associations,
            "Account|User|Share\nroot||1\n",
            r"cfg:1: header lacks ParentName, GrpJobs, GrpTRES, MaxTRES",
            id="missing-columns",
        ),
        pytest.param(
            read_associations,
            SACCTMGR.replace("gfdev|root||||1|||||normal|\n", ""),
            r"cfg: no association row for account 'root'",
            id="no-root",
        ),
    ],
)
def test_a_bad_line_is_an_error_naming_the_file_line_and_what_is_right(
    reader: object, text: str, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        reader("cfg", text)  # type: ignore[operator]


def test_a_scenario_names_the_files_and_the_policy_follows_them(tmp_path: Path) -> None:
    (tmp_path / "slurm.conf").write_text(SLURM_CONF)
    (tmp_path / "assoc.txt").write_text(SACCTMGR)
    pol = make_policy(
        "slurm-backfill",
        {"slurm_conf": str(tmp_path / "slurm.conf"), "slurm_assoc": str(tmp_path / "assoc.txt")},
    )
    assert isinstance(pol, SlurmBackfill)
    # slurm.conf: fair-share 10000, age 1000, QOS 1000, job size and partition unset (0);
    # bf_interval 5 s, bf_resolution 30 s, bf_max_job_test 400; calc period 60 s.
    assert tuple(pol.weights) == (1000.0, 10000.0, 0.0, 1000.0, 0.0)
    assert (pol.bf_interval_s, pol.bf_resolution_s, pol.depth) == (5.0, 30.0, 400)
    assert pol.recalc.period_s == 60.0 and pol.max_age_s == 604800.0
    assert pol.tree is not None and "xai" in pol.tree


def test_an_explicit_option_wins_over_the_file(tmp_path: Path) -> None:
    (tmp_path / "slurm.conf").write_text(SLURM_CONF)
    pol = make_policy(
        "slurm-multifactor",
        {"slurm_conf": str(tmp_path / "slurm.conf"), "weight_age": 5.0, "calc_period_s": 0.0},
    )
    assert pol.weights.age == 5.0 and pol.recalc.period_s == 0.0  # type: ignore[attr-defined]


def test_a_missing_file_is_an_input_error_naming_it(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.conf")
    with pytest.raises(InputError, match=r"Slurm file '.*nope.conf': cannot be read"):
        read_setup_files(conf=missing)


def test_no_file_named_means_no_setup() -> None:
    assert read_setup_files() is None
    assert SlurmSetup().calc_period_s == 300.0  # slurm.conf(5): PriorityCalcPeriod 5 min


def test_the_live_forecast_builds_the_setup_from_the_outputs_it_holds() -> None:
    # What gpufleet.live's forecast calls with the commands' outputs: the configuration's
    # numbers, the assoc tree and limits, Slurm's own factors (tesla: max of its users').
    setup = setup_from_texts(SCONTROL, SACCTMGR, SSHARE, billing_per_gpu=10.0)
    assert (setup.calc_period_s, setup.bf_interval_s, setup.weight_fairshare) == (
        60.0,
        5.0,
        10000.0,
    )
    assert setup.limits["xai"].grp_gpus == {None: 4}
    assert setup.fairshare is not None and setup.fairshare["tesla"] == 0.333333
    pol = SlurmBackfill(setup=setup, use_slurm_fairshare=True)
    assert pol.given_fs == setup.fairshare


def test_an_error_in_a_live_output_names_the_command() -> None:
    with pytest.raises(InputError, match=r"slurm: sacctmgr show assoc:8: GrpTRES"):
        setup_from_texts(associations=SACCTMGR.replace("gres/gpu=4", "gres/gpu=x"))
