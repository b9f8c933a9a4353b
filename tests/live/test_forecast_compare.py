"""Kendall's tau-b and the naive orders of the forecast's validation, on hand examples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gpufleet.live.forecast_compare import (
    Submitted,
    agreement,
    fairshare_order,
    kendall_tau_b,
    ranks,
    submit_order,
)


def test_tau_b_counts_concordant_and_discordant_pairs_over_untied_pairs() -> None:
    # x = 1 2 3 4, y = 1 3 2 4: of the 6 pairs only (2, 3) is reversed: C = 5, D = 1,
    # no ties: tau = (5 - 1) / sqrt(6 * 6) = 4 / 6
    assert kendall_tau_b([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)


def test_tau_b_with_ties_on_both_sides() -> None:
    # x = 1 1 2 3, y = 1 2 2 3 (jobs a b c d). Pairs: ab tied in x (y differs); ac C;
    # ad C; bc tied in y; bd C; cd C. C = 4, D = 0, n0 = 6, n1 = 1, n2 = 1:
    # tau_b = 4 / sqrt(5 * 5) = 0.8
    assert kendall_tau_b([1, 1, 2, 3], [1, 2, 2, 3]) == pytest.approx(0.8)


def test_tau_b_of_a_reversed_order_is_minus_one_and_of_nothing_one() -> None:
    assert kendall_tau_b([1, 2, 3], [3, 2, 1]) == -1.0
    assert kendall_tau_b([], []) == 1.0
    assert kendall_tau_b([5, 5], [1, 2]) == 1.0  # the only pair is tied in x
    with pytest.raises(ValueError, match="2 predicted values against 1 actual"):
        kendall_tau_b([1, 2], [1])


def test_agreement_takes_the_jobs_both_sides_started_and_the_error_in_seconds() -> None:
    predicted = {1: 0.0, 2: 10.0, 3: 20.0, 9: 5.0}  # job 9 never started in reality
    actual = {1: 2.0, 2: 11.0, 3: 14.0}
    got = agreement(predicted, actual, timed=True)
    # errors 2, 1, 6: median 2; 90th percentile: the ceil(0.9 * 3) = 3rd smallest, 6
    assert (got.jobs, got.tau, got.median_error_s, got.p90_error_s) == (3, 1.0, 2.0, 6.0)
    assert agreement(predicted, actual, timed=False).median_error_s is None


def test_the_naive_orders_submit_time_then_id_and_accounts_by_fair_share_first() -> None:
    t0 = datetime(2026, 12, 6, 19, 0, tzinfo=UTC)
    jobs = [
        Submitted(12, "tesla", t0 + timedelta(seconds=1)),
        Submitted(11, "xai", t0 + timedelta(seconds=1)),
        Submitted(10, "tesla", t0),
        Submitted(13, "other", t0),
    ]
    assert submit_order(jobs) == [10, 13, 11, 12]
    # xai 0.5 before tesla 0.17; "other" has no factor: last
    assert fairshare_order(jobs, {"tesla": 0.17, "xai": 0.5}) == [11, 10, 12, 13]
    assert ranks([11, 10]) == {11: 0.0, 10: 1.0}
