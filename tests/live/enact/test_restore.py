"""The accounts' record that rehearsals restore (gpufleet.live.enact.restore): parsed from
sacctmgr's own text (tests/live/samples), exact on every field the apply may change. The
restoration itself runs on the real dev cluster after every enact and metering test
(tests/support/enact_cluster.py asserts the state equal again)."""

from __future__ import annotations

from gpufleet.live.enact.restore import Account, accounts

# sacctmgr -P -n show assoc format=Account,User,ParentName,Share,GrpTRES, as the dev
# cluster printed it with tesla capped at 8 H100 and xai at 4 (user rows have no parent)
ASSOC = """root||||
root|root||1|
tesla||root|60|gres/gpu:h100=8,cpu=64
tesla|tesla1||1|
xai||root|40|gres/gpu=4
xai|xai1||1|
spacex||root|parent|
"""


def test_only_account_rows_are_kept_with_their_gpu_caps_and_not_their_cpu_caps() -> None:
    assert accounts(ASSOC) == {
        "root": Account("", "", ()),
        "tesla": Account("root", "60", (("gres/gpu:h100", "8"),)),
        "xai": Account("root", "40", (("gres/gpu", "4"),)),
        "spacex": Account("root", "parent", ()),
    }


def test_caps_compare_equal_whatever_order_sacctmgr_prints_them_in() -> None:
    a = accounts("t||root|1|gres/gpu:a100=2,gres/gpu:h100=8\n")
    b = accounts("t||root|1|gres/gpu:h100=8,gres/gpu:a100=2\n")
    assert a == b
