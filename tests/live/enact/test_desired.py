"""The desired state: table-driven, every expected value computed by hand from
tests/live/enact/builders.py's register (the formula in each case's comment)."""

from __future__ import annotations

from datetime import datetime

import pytest

from gpufleet.live.enact.desired import EnactInputError, desired_state
from gpufleet.live.enact.model import (
    ClusterSettings,
    GpuLimitStyle,
    LeaseStyle,
    QuotaCause,
    TransferCause,
)
from tests.live.enact.builders import NODES, lease, mapping, rows

TOTAL = ClusterSettings("gfdev")
TYPED = ClusterSettings("gfdev", GpuLimitStyle.TYPED)

CAPS = [
    # (id, transfers, settings, instant, account, attribute, expected)
    ("before-the-lease-tesla-has-its-h100-and-a100", [lease()], TOTAL, "2026-06-15",
     "tesla", "gres/gpu", 16),  # 12 H100 + 4 A100
    ("before-the-lease-xai-has-its-four", [lease()], TOTAL, "2026-06-15",
     "xai", "gres/gpu", 4),  # 4 H100 + 0 A100 (no row)
    ("during-the-lease-tesla-gives-four", [lease()], TOTAL, "2026-07-15",
     "tesla", "gres/gpu", 12),  # (12 - 4) + 4
    ("during-the-lease-xai-takes-four", [lease()], TOTAL, "2026-07-15",
     "xai", "gres/gpu", 8),  # 4 + 4
    ("the-lease-ends-at-its-end-instant", [lease()], TOTAL, "2026-08-01",
     "xai", "gres/gpu", 4),  # [start, end): not in force at the end
    ("a-later-quota-row-replaces-the-first", [lease()], TOTAL, "2026-09-15",
     "xai", "gres/gpu", 6),  # the 2026-09-01 row
    ("the-giver-is-clamped-at-zero", [lease(gpus=16, giver="grok", taker="fsd-training")],
     TOTAL, "2026-07-15", "xai", "gres/gpu", 0),  # max(0, 4 - 16)
    ("typed-h100-during-the-lease", [lease()], TYPED, "2026-07-15",
     "tesla", "gres/gpu:h100", 8),  # 12 - 4
    ("typed-a100-untouched-by-an-h100-lease", [lease()], TYPED, "2026-07-15",
     "tesla", "gres/gpu:a100", 4),
    ("typed-no-row-is-a-zero-cap", [lease()], TYPED, "2026-07-15",
     "xai", "gres/gpu:a100", 0),
    ("typed-clears-the-untyped-cap", [lease()], TYPED, "2026-07-15",
     "xai", "gres/gpu", None),
    ("total-clears-the-typed-caps", [lease()], TOTAL, "2026-07-15",
     "xai", "gres/gpu:h100", None),
    ("shares-are-weight-times-100", [], TOTAL, "2026-06-15", "tesla", "fairshare", 60),
    ("an-account-named-as-its-entity-hangs-under-root", [], TOTAL, "2026-06-15",
     "xai", "parent", "root"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("transfers", "settings", "at", "account", "attribute", "expected"),
    [c[1:] for c in CAPS],
    ids=[c[0] for c in CAPS],
)
def test_the_desired_value_of_each_setting(
    transfers, settings, at, account, attribute, expected
) -> None:  # type: ignore[no-untyped-def]
    d = desired_state(rows(*transfers), mapping(), settings, datetime.fromisoformat(at))
    found = d.setting(account, attribute)
    assert found is not None
    assert found.value == expected


def test_a_moved_cap_names_the_quota_row_and_the_transfer_with_its_approvals() -> None:
    d = desired_state(rows(lease()), mapping(), TOTAL, datetime(2026, 7, 15))
    xai = d.setting("xai", "gres/gpu")
    assert xai is not None
    # the total cap is H100 + A100: each type's quota row, the H100's transfer between
    quota, transfer, a100 = xai.causes
    assert quota == QuotaCause("grok", "H100-SXM", 4, "plan start")
    assert a100 == QuotaCause("grok", "A100-80GB", 0, "no quota row")
    assert isinstance(transfer, TransferCause)
    assert (transfer.transfer_id, transfer.gpus, transfer.giver, transfer.taker) == (
        7, 4, "fsd-training", "grok",
    )  # fmt: skip
    assert [a.person for a in transfer.approvals] == ["dana", "eli"]


def test_a_program_account_under_its_entity_gets_the_entity_account_above_it() -> None:
    text = """
slurm:
  accounts:
    tesla: {entity: tesla, program: fsd-training}
    grok-a: {entity: xai, program: grok}
  nodes:
    - {nodes: "gf-h100-*", site: memphis, pool: memphis-h100, entity: tesla}
gpu_types: {h100: H100-SXM}
"""
    d = desired_state(rows(), mapping(text), TOTAL, datetime(2026, 6, 15))
    assert d.setting("grok-a", "parent").value == "xai"  # type: ignore[union-attr]
    assert d.setting("xai", "parent").value == "root"  # type: ignore[union-attr]
    # grok's shares 0.4 * 100 = 40, and its entity's the sum of its programs': 40
    assert d.setting("grok-a", "fairshare").value == 40  # type: ignore[union-attr]
    assert d.setting("xai", "fairshare").value == 40  # type: ignore[union-attr]
    # only the H100 pool is on this cluster: tesla's cap is its 12 H100, not 16
    assert d.setting("tesla", "gres/gpu").value == 12  # type: ignore[union-attr]


def test_a_lease_of_whole_nodes_reserves_the_givers_first_nodes_for_the_window() -> None:
    settings = ClusterSettings("gfdev", leases=LeaseStyle.RESERVATION)
    d = desired_state(rows(lease(gpus=8)), mapping(), settings, datetime(2026, 7, 15), NODES)
    (r,) = d.reservations
    # memphis-h100 is gf-h100-1 only (the mapping's first rule); 8 GPUs = 1 node of 8
    assert (r.name, r.accounts, r.nodes) == ("gpufleet-transfer-7", ("xai",), ("gf-h100-1",))
    assert (r.start, r.end) == (datetime(2026, 7, 1), datetime(2026, 8, 1))


def test_a_lease_of_part_of_a_node_cannot_be_a_reservation_and_says_why() -> None:
    settings = ClusterSettings("gfdev", leases=LeaseStyle.RESERVATION)
    with pytest.raises(EnactInputError, match=r"4 GPUs of memphis-h100 cannot be reserved"):
        desired_state(rows(lease(gpus=4)), mapping(), settings, datetime(2026, 7, 15), NODES)


def test_a_mapped_account_of_a_program_the_register_lacks_is_bad_input() -> None:
    text = "slurm:\n  accounts:\n    nope: {entity: xai, program: nope}\n"
    with pytest.raises(EnactInputError, match=r"slurm.accounts.nope: xai/nope is not a program"):
        desired_state(rows(), mapping(text), TOTAL, datetime(2026, 6, 15))


def test_an_account_name_with_a_space_is_refused_before_any_command() -> None:
    text = 'slurm:\n  accounts:\n    "x set GrpTRES": {entity: xai, program: grok}\n'
    with pytest.raises(EnactInputError, match=r"is not an account name gpufleet will write"):
        desired_state(rows(), mapping(text), TOTAL, datetime(2026, 6, 15))
