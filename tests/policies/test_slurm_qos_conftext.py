"""QOS limits and users' association limits read from Slurm's own text (issue 18, item 1):
``sacctmgr -P show qos`` (recorded on the dev cluster, Slurm 22.05.8, with a QOS
``gfcap2`` added for the recording: ``sacctmgr -i add qos gfcap2 GrpTRES=gres/gpu=2
MaxTRESPerUser=gres/gpu=1 MaxJobsPerUser=3 Priority=10 Flags=OverPartQOS``, then deleted)
and the user rows of ``sacctmgr -P show assoc``."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpufleet.errors import InputError
from gpufleet.policies.slurm import AssocLimits, QosLimits
from gpufleet.policies.slurm.conftext import (
    read_associations,
    read_qos,
    read_setup_files,
    setup_from_texts,
)
from gpufleet.policies.slurm.limits import SlurmLimits
from gpufleet.policies.slurm.priority import SlurmMultifactor
from tests.policies.test_slurm_conftext import SACCTMGR

SAMPLES = Path(__file__).parents[1] / "live" / "samples" / "slurm"
GFCAP2 = QosLimits(grp_gpus={None: 2}, max_gpus_per_user={None: 1}, max_jobs_per_user=3)


@pytest.mark.parametrize(
    "name",
    [
        "sacctmgr-P-show-qos-format-with-gfcap2.txt",  # format=Name,...,MaxJobsPerUser
        "sacctmgr-P-show-qos-with-gfcap2.txt",  # plain `sacctmgr -P show qos`: 26 columns
    ],
)
def test_show_qos_gives_each_qos_limits_and_drops_a_qos_without(name: str) -> None:
    setup = read_qos(name, (SAMPLES / name).read_text())
    # "normal" has no limit: left out; gfcap2's GrpTRES, MaxTRESPU, MaxJobsPU are read
    assert setup.qos == {"gfcap2": GFCAP2}


def test_user_rows_limits_are_the_users_own_in_their_account() -> None:
    text = SACCTMGR.replace(
        "gfdev|xai|xai1|||1|||||normal|", "gfdev|xai|xai1|||1|2|gres/gpu:h100=2||gres/gpu=1|normal|"
    )
    setup = read_associations("assoc", text)
    assert setup.user_limits == {
        "xai": {"xai1": AssocLimits(grp_gpus={"h100": 2}, max_gpus_per_job=1, grp_jobs=2)}
    }
    assert setup.limits == {"xai": AssocLimits(grp_gpus={None: 4})}  # the account's, as before
    named = setup.renamed({"xai": "grok"}, {"h100": "H100-SXM"})
    assert named.user_limits["grok"]["xai1"].grp_gpus == {"H100-SXM": 2}


def test_a_bad_qos_value_names_the_file_line_and_column() -> None:
    text = (SAMPLES / "sacctmgr-P-show-qos-format-with-gfcap2.txt").read_text()
    with pytest.raises(InputError, match=r"qos.txt:3: MaxJobsPU: 'many' is not whole"):
        read_qos("qos.txt", text.replace("|gres/gpu=1|3", "|gres/gpu=1|many"))
    with pytest.raises(InputError, match=r"qos.txt:1: header lacks MaxTRESPerUser"):
        read_qos("qos.txt", "Name|GrpTRES|GrpJobs|MaxTRES\nnormal||||\n")


def test_a_scenario_option_names_the_qos_file_and_the_policy_holds_by_it() -> None:
    path = str(SAMPLES / "sacctmgr-P-show-qos-format-with-gfcap2.txt")
    setup = read_setup_files(qos=path)
    assert setup is not None and setup.qos == {"gfcap2": GFCAP2}
    pol = SlurmMultifactor(slurm_qos=path)
    assert isinstance(pol.admission, SlurmLimits) and pol.admission.qos == {"gfcap2": GFCAP2}
    live = setup_from_texts(qos=(SAMPLES / "sacctmgr-P-show-qos-with-gfcap2.txt").read_text())
    assert live.qos == {"gfcap2": GFCAP2}
