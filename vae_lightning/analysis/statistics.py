"""The statistics of a sweep's final losses, as pure functions over lists of floats: a point's mean and
95% interval, Welch's t-test with Holm's correction, seeds for 80% power, and equivalence by TOST."""

from __future__ import annotations

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


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given: the i-th smallest of m is multiplied
    by m - i + 1 (i from 1), capped at 1 and never below the one before it."""
    order = sorted(range(len(p_values)), key=lambda index: p_values[index])
    adjusted = [0.0] * len(p_values)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def seeds_for_power(difference: float, sd: float, alpha: float = ALPHA, power: float = POWER) -> int | None:
    """Seeds per point for a two-sided two-sample t-test at `alpha` to find a true `difference` with
    probability `power`, the seeds' spread being `sd`: the noncentral t's power, by scipy.stats.nct.
    None when the difference is 0 (no number of seeds separates equal means)."""
    if difference == 0:
        return None
    if sd == 0:
        return 2  # without spread, two seeds a side tell any difference apart
    effect = abs(difference) / sd
    # The normal approximation never overestimates n; the t distribution's heavier tails add a few.
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    n = max(2, math.ceil(2 * (z / effect) ** 2))
    while True:
        df, shift = 2 * n - 2, effect * math.sqrt(n / 2)
        critical = stats.t.ppf(1 - alpha / 2, df)
        if stats.nct.sf(critical, df, shift) + stats.nct.cdf(-critical, df, shift) >= power:
            return n
        n += 1


@dataclass(frozen=True)
class Verdict:
    """A point against the best: its Holm-corrected Welch p-value, `best`, `worse` or
    `indistinguishable` (None: not tested, one seed here or at the best), and for an indistinguishable
    point the seeds per point that would find a difference of the size observed at 80% power, at
    ALPHA / (the points tested): the strictest level Holm's correction may ask for."""

    p_vs_best: float | None
    verdict: str | None
    seeds_needed: int | None


def against_best(points: dict[str, Sequence[float]]) -> dict[str, Verdict]:
    """Each point with values against the one of lowest mean (on a tie, the first given): Welch's
    two-sided test, p-values Holm-corrected over the points tested; worse when below ALPHA."""
    samples = {label: describe(values) for label, values in points.items() if values}
    if not samples:
        return {}
    best = min(samples, key=lambda label: samples[label].mean)  # min keeps the first of equal means
    tested = [label for label, sample in samples.items() if label != best and sample.n > 1 and samples[best].n > 1]
    corrected = dict(zip(tested, holm([welch_p(points[label], points[best]) for label in tested])))
    verdicts = {}
    for label in samples:
        p = corrected.get(label)
        if label == best:
            verdicts[label] = Verdict(None, "best", None)
        elif p is None:
            verdicts[label] = Verdict(None, None, None)
        elif p < ALPHA:
            verdicts[label] = Verdict(p, "worse", None)
        else:
            sample, reference = samples[label], samples[best]
            pooled_sd = math.sqrt((sample.sd**2 + reference.sd**2) / 2)
            needed = seeds_for_power(sample.mean - reference.mean, pooled_sd, ALPHA / len(tested))
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
