"""The statistics module against scipy and numpy called directly, on hand-made numbers."""

import math

import numpy as np
import pytest
from scipy import stats

from vae_lightning.analysis import statistics as statistics_module
from vae_lightning.analysis.statistics import (against_best, describe, equivalence, equivalence_verdict,
                                               games_howell_p, paired_equivalence, seeds_for_power, welch_p)

MANY = [31.2, 30.9, 31.05, 31.4, 30.8]


@pytest.mark.parametrize("values", [[31.2, 30.9], [31.2, 30.9, 31.05], MANY])
def test_mean_sd_and_interval_are_scipys(values: list[float]) -> None:
    sample = describe(values)
    interval = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert sample.n == len(values)
    assert sample.mean == pytest.approx(np.mean(values), rel=1e-12)
    assert sample.sd == pytest.approx(np.std(values, ddof=1), rel=1e-12)
    assert sample.ci95 == pytest.approx(interval, rel=1e-12)


def test_one_value_has_neither_sd_nor_interval() -> None:
    sample = describe([31.0])
    assert (sample.n, sample.mean, sample.sd, sample.ci95) == (1, 31.0, None, None)


def test_equal_values_have_a_zero_width_interval() -> None:
    sample = describe([31.0, 31.0, 31.0])
    assert (sample.sd, sample.ci95) == (0.0, (31.0, 31.0))


@pytest.mark.parametrize("bad", [[31.0, math.nan], [math.inf, 30.0], []])
def test_a_nan_an_infinity_or_nothing_is_refused(bad: list[float]) -> None:
    with pytest.raises(ValueError):
        describe(bad)


@pytest.mark.filterwarnings("ignore:Precision loss occurred")  # scipy's, on the constant samples
def test_welchs_p_is_scipys_and_equal_constant_samples_are_not_different() -> None:
    a, b = [31.2, 30.9, 31.05], [31.6, 31.9, 31.4, 31.8]
    assert welch_p(a, b) == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue, rel=1e-12)
    assert welch_p([31.0, 31.0], [31.0, 31.0, 31.0]) == 1.0  # scipy: 0/0, NaN
    assert welch_p([31.0, 31.0], [32.0, 32.0]) == 0.0
    with pytest.raises(ValueError):
        welch_p([31.0], [31.0, 32.0])
    with pytest.raises(ValueError):
        welch_p([31.0, math.nan], [31.0, 32.0])


def welch_t_and_df(a: list[float], b: list[float]) -> tuple[float, float]:
    """Welch's t and Welch-Satterthwaite degrees of freedom, by their textbook formulas."""
    va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
    t = (np.mean(a) - np.mean(b)) / math.sqrt(va + vb)
    return t, (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))


def test_games_howell_is_welchs_t_against_the_studentized_range_and_welchs_p_for_two_points() -> None:
    a, b = [31.2, 30.9, 31.05], [31.6, 31.9, 31.4, 31.8]
    t, df = welch_t_and_df(a, b)
    for points in (3, 6, 7):
        assert games_howell_p(a, b, points) == pytest.approx(stats.studentized_range.sf(abs(t) * math.sqrt(2),
                                                                                          points, df), rel=1e-9)
    assert games_howell_p(a, b, 2) == welch_p(a, b)
    # More points compared, more chance of a large difference among them: a larger p for the same two.
    assert welch_p(a, b) < games_howell_p(a, b, 3) < games_howell_p(a, b, 6)


def test_games_howells_critical_value_is_tukeys_table() -> None:
    # Tukey's studentized range at 0.05 (Harter's table): 4.04 for 3 means at 8 df, 5.17 for 6 at 8 df.
    a = [0.0, 1.0, 2.0, 3.0, 4.0]
    for points, q in [(3, 4.04), (6, 5.17)]:
        b = [value + q * math.sqrt(np.var(a, ddof=1) / len(a)) for value in a]  # Welch's t = q / sqrt(2), 8 df
        assert games_howell_p(a, b, points) == pytest.approx(0.05, abs=0.001)


@pytest.mark.filterwarnings("ignore:Precision loss occurred")  # scipy's, on the constant samples
def test_games_howell_on_constant_samples_and_too_few_values() -> None:
    assert games_howell_p([31.0, 31.0], [31.0, 31.0, 31.0], 4) == 1.0
    assert games_howell_p([31.0, 31.0], [32.0, 32.0], 4) == 0.0
    with pytest.raises(ValueError):
        games_howell_p([31.0], [31.0, 32.0], 4)


def test_the_best_is_the_lowest_mean_and_the_others_are_games_howell_tests_over_the_points_compared() -> None:
    points = {"a": [32.0, 32.3, 31.9], "b": MANY, "c": [31.1, 31.3, 31.0], "d": [35.0, 35.2, 34.9],
              "one seed": [35.0]}
    verdicts = against_best(points)
    expected = []
    for label in "acd":
        t, df = welch_t_and_df(points[label], MANY)
        expected.append(stats.studentized_range.sf(abs(t) * math.sqrt(2), 4, df))  # the one seed is not compared
    assert verdicts["b"].verdict == "best" and verdicts["b"].p_vs_best is None
    assert [verdicts[label].p_vs_best for label in "acd"] == pytest.approx(expected, rel=1e-9)
    assert verdicts["d"].verdict == "worse" and verdicts["c"].verdict == "indistinguishable"
    assert verdicts["c"].seeds_needed > 3 and verdicts["d"].seeds_needed is None
    assert verdicts["one seed"].verdict is None


@pytest.mark.parametrize(("effect", "seeds"), [(0.5, 64), (0.8, 26), (1.0, 17)])
def test_seeds_for_80_percent_power_match_the_textbook(effect: float, seeds: int) -> None:
    # Cohen's tables for a two-sided two-sample t-test at alpha 0.05 and power 0.8.
    assert seeds_for_power(effect * 0.2, 0.2) == seeds


def test_seeds_for_power_are_the_fewest_with_80_percent() -> None:
    def power(n: int, effect: float) -> float:
        df, shift = 2 * n - 2, effect * math.sqrt(n / 2)
        critical = stats.t.ppf(0.975, df)
        return stats.nct.sf(critical, df, shift) + stats.nct.cdf(-critical, df, shift)

    for difference, sd in [(0.1, 0.15), (0.3, 0.1), (2.0, 0.1)]:
        n = seeds_for_power(difference, sd)
        assert power(n, difference / sd) >= 0.8 and (n == 2 or power(n - 1, difference / sd) < 0.8)
    assert seeds_for_power(0.0, 0.2) is None
    assert seeds_for_power(0.1, 0.0) == 2


def test_equivalence_is_the_90_percent_welch_interval_within_the_margin() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        a = list(31 + 0.15 * rng.standard_normal(rng.integers(2, 8)))
        b = list(31 + rng.normal(0, 0.2) + 0.15 * rng.standard_normal(rng.integers(2, 8)))
        result = equivalence(a, b, 0.2)
        welch = stats.ttest_ind(b, a, equal_var=False)
        inside = -0.2 < welch.confidence_interval(0.90).low and welch.confidence_interval(0.90).high < 0.2
        assert (result.verdict == "equivalent") == inside
        assert result.ci95 == pytest.approx(tuple(welch.confidence_interval(0.95)), rel=1e-12)
        assert result.difference == pytest.approx(np.mean(b) - np.mean(a), abs=1e-12)


def test_equivalent_different_and_inconclusive() -> None:
    a = [31.0, 31.05, 30.95, 31.02, 30.98]
    assert equivalence(a, a, 0.2).verdict == "equivalent"
    assert equivalence(a, [value + 3 for value in a], 0.2).verdict == "different"
    assert equivalence(a, [30.0, 32.0, 31.0], 0.2).verdict == "inconclusive"
    with pytest.raises(ValueError):
        equivalence(a, [31.0], 0.2)


def test_paired_equivalence_is_scipys_one_sample_t_on_the_seed_differences() -> None:
    a = [31.0, 31.4, 30.8, 31.2, 31.1]
    b = [31.05, 31.38, 30.9, 31.22, 31.08]
    differences = np.array(b) - np.array(a)
    result = paired_equivalence(a, b, 0.2)
    assert result.ci95 == pytest.approx(tuple(stats.ttest_1samp(differences, 0.0).confidence_interval(0.95)), rel=1e-9)
    lower = stats.ttest_1samp(differences, -0.2, alternative="greater").pvalue
    upper = stats.ttest_1samp(differences, 0.2, alternative="less").pvalue
    assert result.p_equivalence == pytest.approx(max(lower, upper), rel=1e-12)
    assert result.verdict == "equivalent" and result.difference == pytest.approx(differences.mean())
    # The same runs on both sides: no spread, equivalent at any margin; a constant shift past it, different.
    assert paired_equivalence(a, a, 0.1).verdict == "equivalent"
    assert paired_equivalence(a, [value + 0.5 for value in a], 0.1).verdict == "different"
    with pytest.raises(ValueError, match="the same two or more seeds"):
        paired_equivalence(a, b[:4], 0.2)


def power_of_design(n: int, effect: float, points: int) -> float:
    """Power of Games and Howell's test over `points` means with n seeds each (of the two-sided two-sample
    t-test for two points) at 0.05: the noncentral t, both tails, beyond the range's quantile over √2."""
    df, shift = 2 * n - 2, effect * math.sqrt(n / 2)
    critical = (stats.t.ppf(0.975, df) if points == 2 else
                stats.studentized_range.ppf(0.95, points, df) / math.sqrt(2))
    return stats.nct.sf(critical, df, shift) + stats.nct.cdf(-critical, df, shift)


def fewest_seeds(effect: float, points: int) -> int:
    """The smallest n >= 2 with 80% power, by bisection over 2..400 (no normal approximation to start from;
    scipy's noncentral t is NaN in places for the shifts of larger n)."""
    low, high = 1, 400  # power(low) < 0.8 <= power(high)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if power_of_design(middle, effect, points) >= 0.8 else (middle, high)
    return high


def test_seeds_needed_use_the_pooled_sd_and_the_range_of_the_points_compared() -> None:
    # Two points tested against the best: the seeds asked for are at the studentized range of 3 means, the
    # spread the root mean square of the two sds, 0.05 and 0.3: 0.215, effect 0.1 / 0.215 = 0.465.
    best, close = [31.0, 31.05, 30.95], [31.1, 30.8, 31.4]
    points = {"best": best, "close": close, "far": [35.0, 35.2, 34.9]}
    verdicts = against_best(points)
    assert verdicts["close"].verdict == "indistinguishable" and verdicts["far"].verdict == "worse"
    pooled_sd = math.sqrt((np.var(best, ddof=1) + np.var(close, ddof=1)) / 2)
    effect = abs(np.mean(close) - np.mean(best)) / pooled_sd
    assert verdicts["close"].seeds_needed == fewest_seeds(effect, 3)
    assert fewest_seeds(effect, 3) != fewest_seeds(effect, 2)  # the range of three asks for more seeds than a t-test
    rough_sd = (np.std(best, ddof=1) + np.std(close, ddof=1)) / 2
    assert fewest_seeds(effect, 3) != fewest_seeds(abs(np.mean(close) - np.mean(best)) / rough_sd, 3)


def test_a_p_of_exactly_alpha_is_not_worse(monkeypatch: pytest.MonkeyPatch) -> None:
    # "worse when p < 0.05": a p of 0.05 itself is not below it. No two samples give a p of exactly
    # 0.05, so the test's p is set here.
    monkeypatch.setattr(statistics_module, "games_howell_p", lambda a, b, points: 0.05)
    verdicts = against_best({"best": [31.0, 31.1], "other": [31.5, 31.7]})
    assert (verdicts["other"].p_vs_best, verdicts["other"].verdict) == (0.05, "indistinguishable")


def test_a_tost_p_of_exactly_alpha_is_not_equivalent_and_an_interval_touching_0_does_not_exclude_it() -> None:
    assert equivalence_verdict(0.05, -0.1, 0.1) == "inconclusive"
    assert equivalence_verdict(0.0499, -0.1, 0.1) == "equivalent"
    assert equivalence_verdict(0.5, 0.0, 0.3) == "inconclusive" and equivalence_verdict(0.5, 1e-9, 0.3) == "different"
    assert (equivalence_verdict(0.5, -0.3, 0.0) == "inconclusive"
            and equivalence_verdict(0.5, -0.3, -1e-9) == "different")


def test_a_constant_paired_difference_of_exactly_the_margin_is_not_equivalent() -> None:
    # Every seed 0.5 worse (exact in binary) with a margin of 0.5: TOST's null, |difference| >= margin,
    # holds, so the sweeps are not shown equivalent; the interval [0.5, 0.5] excludes 0: different.
    result = paired_equivalence([1.0, 2.0, 3.0], [1.5, 2.5, 3.5], 0.5)
    assert (result.difference, result.ci95, result.p_equivalence, result.verdict) == (0.5, (0.5, 0.5), 1.0, "different")
    assert paired_equivalence([1.0, 2.0, 3.0], [1.25, 2.25, 3.25], 0.5).verdict == "equivalent"


def test_a_paired_comparison_of_one_seed_is_refused() -> None:
    # One difference has no spread to test: the same "two or more seeds" refusal as for unequal counts.
    with pytest.raises(ValueError, match="the same two or more seeds"):
        paired_equivalence([31.0], [31.1], 0.2)
