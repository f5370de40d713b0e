"""Statistics over seeds: CIs against a textbook example, paired tests against scipy, Holm."""

from __future__ import annotations

import math

import pytest

from initlab.lab.stats import describe, holm, paired_test, t_ppf, t_sf


def test_ci_textbook_example():
    # Montgomery & Runger style example: n = 10, mean 10.0, s = 0.4899...; the 95% t CI is
    # mean +- t(0.975, 9) s / sqrt(n) with t(0.975, 9) = 2.262 (printed tables).
    x = [9.4, 10.2, 9.8, 10.6, 10.0, 9.6, 10.4, 10.0, 9.6, 10.4]
    d = describe(x)
    assert d.n == 10 and d.mean == pytest.approx(10.0)
    assert d.std == pytest.approx(math.sqrt(sum((v - 10.0) ** 2 for v in x) / 9))
    half = 2.262 * d.std / math.sqrt(10)
    assert d.ci95[0] == pytest.approx(10.0 - half, abs=2e-4)
    assert d.ci95[1] == pytest.approx(10.0 + half, abs=2e-4)


@pytest.mark.parametrize("df,q975", [(1, 12.706), (2, 4.303), (4, 2.776), (9, 2.262),
                                     (29, 2.045)])
def test_t_quantiles_match_printed_tables(df, q975):
    assert t_ppf(0.975, df) == pytest.approx(q975, abs=1e-3)


def test_describe_edge_cases():
    assert describe([]).mean is None and describe([]).n == 0
    one = describe([0.5, None, float("nan")])
    assert (one.mean, one.std, one.n, one.ci95) == (0.5, None, 1, None)
    clipped = describe([0.99, 1.0, 0.2], clip=(0.0, 1.0))
    assert clipped.ci95[1] == 1.0 and clipped.ci95[0] >= 0.0


def test_t_distribution_against_scipy():
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 3, 5, 10, 30, 100):
        for t in (-3.0, -0.5, 0.0, 0.7, 2.0, 6.0):
            assert t_sf(t, df) == pytest.approx(stats.t.sf(t, df), rel=1e-9, abs=1e-13)
        for q in (0.6, 0.9, 0.975, 0.995):
            assert t_ppf(q, df) == pytest.approx(stats.t.ppf(q, df), rel=1e-8)


def test_paired_test_against_scipy():
    stats = pytest.importorskip("scipy.stats")
    a = [0.871, 0.862, 0.880, 0.859, 0.874]
    b = [0.868, 0.850, 0.871, 0.861, 0.866]
    r = paired_test(a, b)
    ref = stats.ttest_rel(a, b)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert r.delta == pytest.approx(sum(a) / 5 - sum(b) / 5)
    lo, hi = ref.confidence_interval(0.95)
    assert r.ci95 == (pytest.approx(lo, rel=1e-9), pytest.approx(hi, rel=1e-9))
    assert r.n == 5


def test_paired_test_degenerate():
    assert paired_test([1.0, 2.0], [1.0, 2.0]).p_value == 1.0
    assert paired_test([1.0, 2.0], [0.5, 1.5]).p_value == 0.0
    assert paired_test([1.0], [0.0]).p_value is None
    assert paired_test([1.0, float("nan"), 3.0], [0.0, 1.0, 1.0]).n == 2
    with pytest.raises(ValueError, match="equal lengths"):
        paired_test([1.0], [1.0, 2.0])


def test_holm_against_textbook():
    # Holm (1979) step-down: sorted p * (m - rank), made monotone, capped at 1.
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, None, 0.9]) == [pytest.approx(1.0), None, pytest.approx(1.0)]
    assert holm([]) == []
