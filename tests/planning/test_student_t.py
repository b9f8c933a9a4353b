"""Student-t quantiles computed exactly (planning/whatif/stats.py), against a published
table, closed forms and their own CDF.

The table below is the two-sided 95% column (one-sided 0.975) of the usual 4-decimal
t-table (e.g. NIST/SEMATECH e-Handbook 1.3.6.7.2 gives it to 3 decimals; these 4-decimal
figures agree with it and were read off scipy.stats.t.ppf(0.975, df) outside the project,
scipy not being one of gpufleet's dependencies).
"""

from __future__ import annotations

import math
import random

import pytest

from gpufleet.planning.whatif.stats import estimate, t975, t_cdf, t_quantile

T975_TABLE = {
    1: 12.7062, 2: 4.3027, 3: 3.1824, 4: 2.7764, 5: 2.5706, 6: 2.4469, 7: 2.3646,
    8: 2.3060, 9: 2.2622, 10: 2.2281, 11: 2.2010, 12: 2.1788, 13: 2.1604, 14: 2.1448,
    15: 2.1314, 16: 2.1199, 17: 2.1098, 18: 2.1009, 19: 2.0930, 20: 2.0860, 21: 2.0796,
    22: 2.0739, 23: 2.0687, 24: 2.0639, 25: 2.0595, 26: 2.0555, 27: 2.0518, 28: 2.0484,
    29: 2.0452, 30: 2.0423, 40: 2.0211, 50: 2.0086, 60: 2.0003, 80: 1.9901, 100: 1.9840,
    120: 1.9799,
}  # fmt: skip


@pytest.mark.parametrize("df", sorted(T975_TABLE))
def test_t975_matches_the_published_table_to_4_decimals(df: int) -> None:
    assert round(t975(df), 4) == T975_TABLE[df]


def test_between_31_and_60_seeds_the_quantile_is_no_longer_stepped_down_to_2_000() -> None:
    # the old table gave 2.000 for df 31..60; the exact values fall from 2.0395 to 2.0003
    assert round(t975(31), 4) == 2.0395  # published: 2.0395
    assert all(t975(df) > t975(df + 1) > 1.959964 for df in range(1, 200))


def test_one_and_two_degrees_of_freedom_match_their_closed_forms_at_random_levels() -> None:
    # df 1 is the Cauchy: t = tan(pi (p - 1/2)); df 2: t = (2p - 1) / sqrt(2 p (1 - p))
    rng = random.Random(15)
    for _ in range(200):
        p = rng.uniform(0.501, 0.9999)
        assert t_quantile(p, 1) == pytest.approx(math.tan(math.pi * (p - 0.5)), rel=1e-12)
        assert t_quantile(p, 2) == pytest.approx(
            (2 * p - 1) / math.sqrt(2 * p * (1 - p)), rel=1e-12
        )


def test_four_degrees_of_freedom_match_the_closed_form_cdf() -> None:
    # the 4-df closed form: F(t) = 1/2 + t (t^2 + 6) / (2 (t^2 + 4)^(3/2))
    rng = random.Random(4)
    for _ in range(200):
        t = rng.uniform(-30.0, 30.0)
        exact = 0.5 + t * (t * t + 6) / (2 * (t * t + 4) ** 1.5)
        assert t_cdf(t, 4) == pytest.approx(exact, abs=1e-13)


def test_the_quantile_inverts_the_cdf_for_seeded_levels_and_degrees() -> None:
    rng = random.Random(7)
    for _ in range(300):
        df = rng.randint(1, 500)
        p = rng.uniform(0.0005, 0.9995)
        assert t_cdf(t_quantile(p, df), df) == pytest.approx(p, abs=1e-12)


def test_many_degrees_of_freedom_approach_the_normal_quantile() -> None:
    # z(0.975) = 1.959964; t(0.975, df) - z ~ (z^3 + z) / (4 df) (Cornish-Fisher's first term)
    z = 1.959963985
    assert t975(10_000) - z == pytest.approx((z**3 + z) / 40_000, rel=1e-2)


def test_a_40_seed_interval_uses_t_2_0227_not_2_000() -> None:
    # xs = i mod 7 for i = 0..39: five full cycles 0..6 (sum 105) and 0..4 (sum 10):
    # mean = 115 / 40 = 2.875; the half-width is t(0.975, 39) s / sqrt(40), t = 2.0227
    xs = [float(i % 7) for i in range(40)]
    e = estimate(xs)
    s = math.sqrt(sum((x - 2.875) ** 2 for x in xs) / 39)
    assert e.mean == 2.875
    assert round(t975(39), 4) == 2.0227
    assert e.high - e.mean == pytest.approx(2.02269092 * s / math.sqrt(40), rel=1e-8)
    # 1.1% wider than the old table's 2.000
    assert (e.high - e.mean) / (2.000 * s / math.sqrt(40)) == pytest.approx(1.0113, abs=1e-4)


@pytest.mark.parametrize(("p", "df"), [(0.0, 3), (1.0, 3), (0.5 - 1.5, 3), (0.9, 0)])
def test_a_level_outside_0_1_or_no_degrees_of_freedom_is_refused(p: float, df: int) -> None:
    with pytest.raises(ValueError, match="0 < p < 1 and df >= 1"):
        t_quantile(p, df)


def test_half_is_zero_and_the_lower_tail_mirrors_the_upper() -> None:
    assert t_quantile(0.5, 9) == 0.0
    assert t_quantile(0.025, 9) == -t_quantile(0.975, 9)
