"""The statistics of a sweep's final losses, as pure functions over lists of floats: a point's mean and
95% interval, Games and Howell's test against the best, seeds for 80% power, and equivalence by TOST."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats

CONFIDENCE = 0.95
ALPHA = 0.05
POWER = 0.8


@dataclass(frozen=True)
class Sample:
    """A point's final losses over its seeds: n, mean, sample sd (None for one seed) and the 95%
    interval of the mean (None for one seed)."""

    n: int
    mean: float
    sd: float | None
    ci95: tuple[float, float] | None


@dataclass(frozen=True)
class Difference:
    """mean(b) - mean(a) with its 95% interval (Welch's, or of the seed-paired differences), the TOST
    p-value at `margin`, and the verdict."""

    difference: float
    ci95: tuple[float, float]
    margin: float
    p_equivalence: float
    verdict: str


def finite(values: Sequence[float]) -> list[float]:
    """The values as floats; a NaN or infinite one is refused: the caller must exclude its job by name."""
    values = [float(value) for value in values]
    if not all(math.isfinite(value) for value in values):
        raise ValueError(f"non-finite loss among {values}: exclude its job before computing statistics")
    return values


def describe(values: Sequence[float]) -> Sample:
    """n, mean, sd (ddof=1) and mean ± t(0.975, n-1)·sd/√n; one value has neither sd nor interval."""
    values = finite(values)
    if not values:
        raise ValueError("no values: a point without a completed job has no statistics")
    n, mean = len(values), math.fsum(values) / len(values)
    if n == 1:
        return Sample(n, mean, None, None)
    sd = math.sqrt(math.fsum((value - mean) ** 2 for value in values) / (n - 1))
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * sd / math.sqrt(n)
    return Sample(n, mean, sd, (mean - half, mean + half))


def welch_p(a: Sequence[float], b: Sequence[float], alternative: str = "two-sided") -> float:
    """Welch's t-test p-value (scipy.stats.ttest_ind, equal_var=False). Two samples of one repeated
    value each leave t = 0/0, which scipy returns as NaN: no evidence of a difference, so p = 1."""
    a, b = finite(a), finite(b)
    if len(a) < 2 or len(b) < 2:
        raise ValueError("Welch's test needs at least two values in each sample")
    p = float(stats.ttest_ind(a, b, equal_var=False, alternative=alternative).pvalue)
    return 1.0 if math.isnan(p) else p


def games_howell_p(a: Sequence[float], b: Sequence[float], points: int) -> float:
    """Games and Howell's p-value for two of `points` means: Welch's t and degrees of freedom, read
    against the studentized range of `points` means (scipy.stats.studentized_range). It holds the chance
    of any false `worse` among all pairs at ALPHA, and so among the pairs with a best the data picked,
    which a correction for tests against a point fixed in advance (Holm's) does not. With two points
    the range is the difference, and the p-value is Welch's."""
    if points == 2:
        return welch_p(a, b)  # scipy's t is exact, where the range is integrated numerically
    a, b = finite(a), finite(b)
    if len(a) < 2 or len(b) < 2:
        raise ValueError("Games and Howell's test needs at least two values in each sample")
    welch = stats.ttest_ind(a, b, equal_var=False)
    t = float(welch.statistic)
    if math.isnan(t):  # two samples of one repeated value each: 0/0, no evidence of a difference
        return 1.0
    if math.isinf(t):
        return 0.0
    return float(stats.studentized_range.sf(abs(t) * math.sqrt(2), points, float(welch.df)))


@functools.lru_cache(maxsize=None)
def critical_t(points: int, df: float, alpha: float = ALPHA) -> float:
    """The |t| beyond which Games and Howell's test over `points` means at `alpha` finds a difference:
    the studentized range's quantile over √2, Student's two-sided quantile for two points. Cached, as
    each quantile of the range is a numerical inversion of about 0.3 s."""
    if points == 2:
        return float(stats.t.ppf(1 - alpha / 2, df))
    return float(stats.studentized_range.ppf(1 - alpha, points, df)) / math.sqrt(2)


def seeds_for_power(difference: float, sd: float, points: int = 2, alpha: float = ALPHA,
                    power: float = POWER) -> int | None:
    """Seeds per point for the test of two of `points` means at `alpha` (Games and Howell's; for two
    points the two-sided two-sample t-test) to find a true `difference` with probability `power`, the
    seeds' spread being `sd`: the noncentral t's power, by scipy.stats.nct. None when the difference is 0
    (no number of seeds separates equal means)."""
    if difference == 0:
        return None
    if sd == 0:
        return 2  # without spread, two seeds a side tell any difference apart
    effect = abs(difference) / sd
    # The normal approximation never overestimates n; the t distribution's heavier tails add a few.
    z = critical_t(points, math.inf, alpha) + stats.norm.ppf(power)
    n = max(2, math.ceil(2 * (z / effect) ** 2))
    while True:
        df, shift = 2 * n - 2, effect * math.sqrt(n / 2)
        critical = critical_t(points, df, alpha)
        if stats.nct.sf(critical, df, shift) + stats.nct.cdf(-critical, df, shift) >= power:
            return n
        n += 1


@dataclass(frozen=True)
class Verdict:
    """A point against the best: its Games-Howell p-value, `best`, `worse` or `indistinguishable`
    (None: not tested, one seed here or at the best), and for an indistinguishable point the seeds per
    point that would find a difference of the size observed at 80% power by the same test."""

    p_vs_best: float | None
    verdict: str | None
    seeds_needed: int | None


def against_best(points: dict[str, Sequence[float]]) -> dict[str, Verdict]:
    """Each point with values against the one of lowest mean (on a tie, the first given): Games and
    Howell's test over the points with two seeds or more; worse when its p is below ALPHA."""
    samples = {label: describe(values) for label, values in points.items() if values}
    if not samples:
        return {}
    best = min(samples, key=lambda label: samples[label].mean)  # min keeps the first of equal means
    tested = [label for label, sample in samples.items() if label != best and sample.n > 1 and samples[best].n > 1]
    family = len(tested) + 1
    p_values = {label: games_howell_p(points[label], points[best], family) for label in tested}
    verdicts = {}
    for label in samples:
        p = p_values.get(label)
        if label == best:
            verdicts[label] = Verdict(None, "best", None)
        elif p is None:
            verdicts[label] = Verdict(None, None, None)
        elif p < ALPHA:
            verdicts[label] = Verdict(p, "worse", None)
        else:
            sample, reference = samples[label], samples[best]
            pooled_sd = math.sqrt((sample.sd**2 + reference.sd**2) / 2)
            needed = seeds_for_power(sample.mean - reference.mean, pooled_sd, family)
            verdicts[label] = Verdict(p, "indistinguishable", needed)
    return verdicts


def equivalence(a: Sequence[float], b: Sequence[float], margin: float) -> Difference:
    """Is mean(b) within ±margin of mean(a)? TOST: two one-sided Welch tests, of mean(b) - mean(a) >
    -margin and of < margin, on b shifted by the margin (a shift leaves its variance as it is).

    equivalent: both reject at ALPHA (the 90% interval lies within ±margin); different: otherwise,
    when the 95% interval excludes 0 (it then also leaves the margin, being wider than the 90% one);
    inconclusive: neither."""
    a, b = finite(a), finite(b)
    if len(a) < 2 or len(b) < 2:
        raise ValueError("a comparison needs at least two seeds on each side")
    welch = stats.ttest_ind(b, a, equal_var=False)
    interval = welch.confidence_interval(CONFIDENCE)
    low, high = float(interval.low), float(interval.high)
    above_lower = welch_p([value + margin for value in b], a, alternative="greater")
    below_upper = welch_p([value - margin for value in b], a, alternative="less")
    p_equivalence = max(above_lower, below_upper)
    difference = math.fsum(b) / len(b) - math.fsum(a) / len(a)
    return Difference(difference, (low, high), margin, p_equivalence, equivalence_verdict(p_equivalence, low, high))


def equivalence_verdict(p_equivalence: float, low: float, high: float) -> str:
    """equivalent when TOST rejects at ALPHA; else different when the 95% interval [low, high]
    excludes 0; else inconclusive."""
    if p_equivalence < ALPHA:
        return "equivalent"
    return "different" if low > 0 or high < 0 else "inconclusive"


def paired_equivalence(a: Sequence[float], b: Sequence[float], margin: float) -> Difference:
    """`equivalence` for runs paired by seed (a[i] and b[i] began from the same weights and drew the
    same batches): one-sample t-tests on the differences b[i] - a[i], which the seed's own luck
    leaves out. Differences that are all the same (a sweep against itself) have no spread: their
    interval is that one value, equivalent when it lies within the margin."""
    a, b = finite(a), finite(b)
    if len(a) != len(b) or len(a) < 2:
        raise ValueError("a paired comparison needs the same two or more seeds on each side")
    differences = [y - x for x, y in zip(a, b)]
    mean = math.fsum(differences) / len(differences)
    if all(difference == differences[0] for difference in differences):
        inside = abs(mean) < margin
        low = high = mean
        p_equivalence = 0.0 if inside else 1.0
    else:
        interval = stats.ttest_1samp(differences, 0.0).confidence_interval(CONFIDENCE)
        low, high = float(interval.low), float(interval.high)
        p_equivalence = max(float(stats.ttest_1samp(differences, -margin, alternative="greater").pvalue),
                            float(stats.ttest_1samp(differences, margin, alternative="less").pvalue))
    return Difference(mean, (low, high), margin, p_equivalence, equivalence_verdict(p_equivalence, low, high))
