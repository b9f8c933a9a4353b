"""The diff of a desired state with a cluster's state, both built by hand: which changes,
in which order, and the exact commands (and inverses) that make them."""

from __future__ import annotations

from datetime import UTC, datetime

from gpufleet.live.enact.commands import forward_and_inverse
from gpufleet.live.enact.current import AccountNow, ClusterNow, from_associations
from gpufleet.live.enact.desired import desired_state
from gpufleet.live.enact.diff import Kind, diff
from gpufleet.live.enact.model import ClusterSettings, DesiredState, LeaseStyle
from gpufleet.live.enact.register import TransferRec
from gpufleet.live.slurm.accounting import parse_associations
from gpufleet.live.slurm.reservations import parse_reservations
from tests.live.enact.builders import NODES, lease, mapping, rows

AT = datetime(2026, 7, 15)
DEV = ClusterNow(  # the dev cluster as scripts/devcluster/accounts.sh makes it
    "gfdev",
    {
        "root": AccountNow("root", "", 1, {}),
        "tesla": AccountNow("tesla", "root", 60, {}),
        "xai": AccountNow("xai", "root", 40, {"gres/gpu": 4}),
    },
)


TOTAL = ClusterSettings("gfdev")


def _desired(settings: ClusterSettings, *transfers: TransferRec) -> DesiredState:
    return desired_state(rows(*transfers), mapping(), settings, AT, NODES)


def test_a_lease_on_the_dev_cluster_caps_tesla_first_then_raises_xai() -> None:
    changes = diff(_desired(TOTAL, lease()), DEV)
    # tesla: no cap -> 12 (12 - 4 H100 + 4 A100), a lowering, so first; xai: 4 -> 8 (4 + 4)
    assert [(c.target, c.attribute, c.before, c.after) for c in changes] == [
        ("tesla", "gres/gpu", None, 12),
        ("xai", "gres/gpu", 4, 8),
    ]
    fwd, inv = forward_and_inverse(changes[1], "gfdev", AT)
    where = ("sacctmgr", "-i", "modify", "account", "where", "name=xai", "cluster=gfdev", "set")
    assert fwd == (*where, "GrpTRES=gres/gpu=8")
    assert inv == (*where, "GrpTRES=gres/gpu=4")
    _, undo_tesla = forward_and_inverse(changes[0], "gfdev", AT)
    assert undo_tesla[-1] == "GrpTRES=gres/gpu=-1"  # -1 clears a TRES limit


def test_a_cluster_that_holds_the_desired_state_has_nothing_to_change() -> None:
    held = ClusterNow(
        "gfdev",
        {
            "tesla": AccountNow("tesla", "root", 60, {"gres/gpu": 12}),
            "xai": AccountNow("xai", "root", 40, {"gres/gpu": 8}),
        },
    )
    assert diff(_desired(TOTAL, lease()), held) == ()


def test_the_current_state_is_read_from_sacctmgrs_own_text() -> None:
    text = (
        "Cluster|Account|User|Partition|ParentName|Share|GrpJobs|GrpTRES|MaxJobs|MaxTRES|"
        "QOS|Def QOS\n"
        "gfdev|root|||||||||normal|\n"
        "gfdev|tesla|||root|60||||||\n"
        "gfdev|xai|||root|40||gres/gpu=4|||normal|\n"
        "gfdev|xai|xai1|||1||||||\n"
    )
    now = from_associations("gfdev", parse_associations("sacctmgr", text), ())
    assert now.accounts["xai"] == AccountNow("xai", "root", 40, {"gres/gpu": 4})
    assert "xai1" not in now.accounts  # a user's association is not an account's


def test_missing_accounts_are_added_parent_first_with_default_shares_before() -> None:
    text = """
slurm:
  accounts:
    grok-a: {entity: xai, program: grok}
  nodes:
    - {nodes: "gf-h100-*", site: memphis, pool: memphis-h100, entity: tesla}
gpu_types: {h100: H100-SXM}
"""
    d = desired_state(rows(), mapping(text), ClusterSettings("gfdev"), AT)
    changes = diff(d, ClusterNow("gfdev", {"root": AccountNow("root", "", 1, {})}))
    assert [(c.kind, c.target) for c in changes[:2]] == [
        (Kind.ADD_ACCOUNT, "xai"),
        (Kind.ADD_ACCOUNT, "grok-a"),
    ]
    shares = [(c.target, c.before, c.after) for c in changes if c.attribute == "fairshare"]
    assert shares == [("grok-a", 1, 40), ("xai", 1, 40)]  # sacctmgr's default 1 -> 0.4 * 100
    fwd, inv = forward_and_inverse(changes[1], "gfdev", AT)
    assert fwd == ("sacctmgr", "-i", "add", "account", "grok-a", "parent=xai", "cluster=gfdev")
    assert inv == ("sacctmgr", "-i", "delete", "account", "where", "name=grok-a", "cluster=gfdev")


def test_a_reservation_is_created_once_and_a_stale_one_of_gpufleets_is_deleted() -> None:
    settings = ClusterSettings("gfdev", leases=LeaseStyle.RESERVATION)
    stale = parse_reservations(
        "scontrol",
        "ReservationName=gpufleet-transfer-3 StartTime=2026-06-01T00:00:00 "
        "EndTime=2026-07-01T00:00:00 Duration=30-00:00:00 Nodes=gf-h100-2 NodeCnt=1 "
        "Flags=IGNORE_JOBS,SPEC_NODES Accounts=tesla State=INACTIVE\n"
        "ReservationName=maintenance StartTime=2026-07-20T00:00:00 "
        "EndTime=2026-07-21T00:00:00 Nodes=gf-a100-1 Accounts=root\n",
    )
    mine = {r.name: r for r in stale if r.name.startswith("gpufleet-")}
    now = ClusterNow("gfdev", DEV.accounts, mine)
    changes = [c for c in diff(_desired(settings, lease(gpus=8)), now) if "reservation" in c.kind]
    assert [(c.kind, c.target) for c in changes] == [
        (Kind.DELETE_RESERVATION, "gpufleet-transfer-3"),
        (Kind.CREATE_RESERVATION, "gpufleet-transfer-7"),
    ]
    fwd, inv = forward_and_inverse(changes[1], "gfdev", AT)
    # the window began before AT: Slurm refuses a start in the past, so "now"
    assert fwd == (
        "scontrol", "create", "reservation", "ReservationName=gpufleet-transfer-7",
        "Accounts=xai", "Nodes=gf-h100-1", "StartTime=now", "Flags=IGNORE_JOBS",
        "EndTime=2026-08-01T00:00:00",
    )  # fmt: skip
    assert inv == ("scontrol", "delete", "ReservationName=gpufleet-transfer-7")
    assert stale[0].start == datetime(2026, 6, 1, tzinfo=UTC)  # this machine runs in UTC
