"""The worker's pure parts, hand-computed: when it wakes, how long it backs off, which
differences are scheduled and which are drift, the clock skew, and who made a drift
(from sacctmgr's transaction log as the dev cluster printed it)."""

from __future__ import annotations

from datetime import datetime

import pytest

from gpufleet.live.enact.current import AccountNow, ClusterNow
from gpufleet.live.enact.desired import desired_state
from gpufleet.live.enact.diff import Change, Kind, diff
from gpufleet.live.enact.drift import findings, parse_assoc_ids, parse_transactions
from gpufleet.live.enact.model import ClusterSettings, DesiredState
from gpufleet.live.enact.register import TransferRec
from gpufleet.live.enact.schedule import (
    as_rows,
    backoff_s,
    desired_values,
    from_rows,
    next_wake,
    skew_s,
    split,
)
from gpufleet.live.enact.worker import cluster_clock
from tests.live.enact.builders import lease, mapping, rows

T = datetime.fromisoformat
ACCOUNTS_AT_REST = ClusterNow(
    "gfdev",
    {
        "tesla": AccountNow("tesla", "root", 60, {"gres/gpu": 16}),
        "xai": AccountNow("xai", "root", 40, {"gres/gpu": 4}),
    },
)


@pytest.mark.parametrize(
    ("now", "every_s", "expected"),
    [
        # no transfer edge within the period: now + 60 s
        ("2026-06-30T23:00:00", 60, "2026-06-30T23:01:00"),
        # the lease starts 30 s from now (2026-07-01T00:00): wake at its start, not a tick later
        ("2026-06-30T23:59:30", 60, "2026-07-01T00:00:00"),
        # at its start exactly: the start is not after now; the next tick
        ("2026-07-01T00:00:00", 60, "2026-07-01T00:01:00"),
        # 10 s before its end (2026-08-01): wake at the end
        ("2026-07-31T23:59:50", 60, "2026-08-01T00:00:00"),
        # after the end: the period again
        ("2026-08-01T00:00:05", 3600, "2026-08-01T01:00:05"),
    ],
    ids=["plain-tick", "wakes-at-start", "at-start-next-tick", "wakes-at-end", "after-end"],
)
def test_the_worker_wakes_at_a_transfers_start_and_end_not_a_tick_later(
    now: str, every_s: float, expected: str
) -> None:
    assert next_wake([lease()], T(now), every_s) == T(expected)


@pytest.mark.parametrize(
    ("attempt", "u", "expected"),
    [
        (1, 0.0, 2.5),  # step min(300, 5*2^0)=5: 5/2 + 0
        (1, 0.999, 4.9975),  # 2.5 + 0.999*2.5
        (3, 0.5, 15.0),  # step 5*2^2=20: 10 + 0.5*10
        (7, 0.0, 150.0),  # step min(300, 5*2^6=320)=300: 150
        (30, 1.0, 300.0),  # capped: 150 + 150, never above the cap
    ],
)
def test_back_off_doubles_from_5s_is_capped_and_jittered_by_at_most_half(
    attempt: int, u: float, expected: float
) -> None:
    assert backoff_s(attempt, 5.0, 300.0, u) == pytest.approx(expected)


def _desired(at: str, *transfers: TransferRec) -> DesiredState:
    return desired_state(rows(*transfers), mapping(), ClusterSettings("gfdev"), T(at))


def test_a_lease_beginning_is_scheduled_and_a_hand_made_cap_is_drift() -> None:
    # before the lease (2026-06-30): tesla 12 H100 + 4 A100 = 16, xai 4; the cluster agrees
    before = desired_values(_desired("2026-06-30T12:00:00", lease()))
    assert before[("tesla", "gres/gpu")] == 16 and before[("xai", "gres/gpu")] == 4
    # the lease in force (4 H100 tesla -> xai): tesla 16 - 4 = 12, xai 4 + 4 = 8
    d = _desired("2026-07-01T00:00:00", lease())
    values = desired_values(d)
    assert values[("tesla", "gres/gpu")] == 12 and values[("xai", "gres/gpu")] == 8
    changes = diff(d, ACCOUNTS_AT_REST)
    parts = split(changes, values, before)
    assert [(c.target, c.before, c.after) for c in parts.scheduled] == [
        ("tesla", 16, 12),
        ("xai", 4, 8),
    ]
    assert parts.drift == ()
    # a tick later someone set xai to 7 by hand: the desired state did not move, so drift
    by_hand = ClusterNow(
        "gfdev",
        {
            "tesla": AccountNow("tesla", "root", 60, {"gres/gpu": 12}),
            "xai": AccountNow("xai", "root", 40, {"gres/gpu": 7}),
        },
    )
    later = split(diff(d, by_hand), values, values)
    assert later.scheduled == ()
    assert [(c.target, c.before, c.after) for c in later.drift] == [("xai", 7, 8)]


def test_on_the_first_tick_every_difference_is_scheduled() -> None:
    d = _desired("2026-07-01T00:00:00", lease())
    values = desired_values(d)
    parts = split(diff(d, ACCOUNTS_AT_REST), values, None)
    assert len(parts.scheduled) == 2 and parts.drift == ()


def test_the_journalled_baseline_reads_back_equal() -> None:
    values = desired_values(_desired("2026-07-01T00:00:00", lease()))
    assert from_rows(as_rows(values)) == values


@pytest.mark.parametrize(
    ("cluster", "before", "after", "expected"),
    [
        ("2026-12-06T21:41:41", "2026-12-06T21:41:40", "2026-12-06T21:41:42", 0.0),
        # the cluster 2 min ahead; ours read over 1 s: midpoint 21:41:40.5, 120.5 s - 0.5
        ("2026-12-06T21:43:41", "2026-12-06T21:41:40", "2026-12-06T21:41:41", 120.5),
        ("2026-12-06T21:40:41", "2026-12-06T21:41:41", "2026-12-06T21:41:41", -60.0),
    ],
    ids=["in-step", "cluster-ahead", "cluster-behind"],
)
def test_skew_is_the_clusters_clock_less_the_midpoint_of_our_request(
    cluster: str, before: str, after: str, expected: float
) -> None:
    assert skew_s(T(cluster), T(before), T(after)) == expected


def test_the_clusters_clock_is_read_from_scontrol_show_configs_first_line() -> None:
    # the first lines of `scontrol show config` on the dev cluster (Slurm 22.05)
    text = "Configuration data as of 2026-12-06T21:41:41\nAccountingStorageBackupHost = (null)\n"
    assert cluster_clock(text) == T("2026-12-06T21:41:41")


# `sacctmgr -P -n list transactions Start=... format=Time,Action,Actor,Where,Info` and
# `sacctmgr -P -n show assoc format=ID,Cluster,Account,User,Partition`, as the dev
# cluster printed them (xai's association is id 4, tesla's 3)
TRANSACTIONS = """\
2026-12-06T21:37:54|Modify Associations|root|(id_assoc=4)|shares=40, grp_tres = if (id_assoc=4, '1001=4', grp_tres)
2026-12-06T21:37:57|Modify Associations|root|(id_assoc=3)|grp_tres = if (id_assoc=3, '1001=4', grp_tres)
2026-12-06T21:38:02|Modify Associations|slurmadm|(id_assoc=4)|grp_tres = if (id_assoc=4, '1001=7', grp_tres)
2026-12-06T21:38:03|Add Users|root|xai3|default_acct='xai'
"""  # noqa: E501
ASSOC_IDS = """\
1|gfdev|root||
3|gfdev|tesla||
4|gfdev|xai||
5|gfdev|xai|xai1|
"""


def test_a_drifted_cap_is_attributed_to_the_latest_change_of_its_association() -> None:
    ids = parse_assoc_ids(ASSOC_IDS, "gfdev")
    assert ids == {"root": 1, "tesla": 3, "xai": 4}
    log = parse_transactions(TRANSACTIONS)
    assert len(log) == 4
    drift = [Change(Kind.SET, "xai", "gres/gpu", 7, 8)]
    (f,) = findings("gfdev", drift, ids, log)
    # two changes of xai's association name grp_tres; the later (21:38:02, slurmadm) wins
    assert (f.actor, f.changed_at) == ("slurmadm", "2026-12-06T21:38:02")
    assert f.text() == (
        "gfdev: xai gres/gpu is 7, the register says 8 (changed by slurmadm at 2026-12-06T21:38:02)"
    )
    # a fair-share drift of xai: the only transaction naming shares is the first
    (s,) = findings("gfdev", [Change(Kind.SET, "xai", "fairshare", 10, 40)], ids, log)
    assert (s.actor, s.changed_at) == ("root", "2026-12-06T21:37:54")


def test_a_drift_slurm_did_not_log_says_who_is_not_recorded() -> None:
    (f,) = findings("gfdev", [Change(Kind.SET, "tesla", "fairshare", 1, 60)], {"tesla": 3}, [])
    assert f.actor is None and "not recorded by Slurm" in f.text()
