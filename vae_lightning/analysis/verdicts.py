"""The paper's conclusions (its section 5) tested on a reproduction's three sweeps: for each claim,
the points it names, their means with 95% intervals, Games and Howell's test against the best, a verdict."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vae_lightning.analysis.statistics import ALPHA, Verdict, against_best, describe
from vae_lightning.errors import UserInputError
from vae_lightning.files import read_json

MOMENTA_CLOSE_TO_09 = tuple(f"optim.momentum={value}" for value in ("0.8", "0.85", "0.9", "0.95"))


@dataclass(frozen=True)
class Claim:
    """A sentence of the paper and how it is tested. `best`: the named point has the lowest mean of its
    sweep, confirmed when every other point is worse with p < ALPHA; refuted when another point
    is better with p < ALPHA. `alike`: the named points differ little; tested among themselves
    against the best of them, refuted when any is worse."""

    quote: str
    experiment: str
    points: tuple[str, ...]
    kind: str


CLAIMS = (
    Claim("clipping by value 1 gave the best results in experiment 1", "clip_value", ("clip.value=1.0",), "best"),
    Claim("... and in experiment 2 (by value 1 against norms)", "clip_norm",
          ("clip={algorithm:value,value:1.0}",), "best"),
    Claim("a momentum around 0.9 seems to be the way to go", "momentum", ("optim.momentum=0.9",), "best"),
    Claim("small differences between momentum in range 0.8 and 0.95", "momentum", MOMENTA_CLOSE_TO_09, "alike"),
)
TEST = ("Games and Howell's test against the best: Welch's t read against the studentized range of the points "
        f"compared, which holds the chance of any false 'worse' at {ALPHA} though the data picked the best")


def final_losses(path: Path) -> dict[str, tuple[str, list[float]]]:
    """Each point of a summary.json by its overrides joined with ',': (its label, its final val losses).
    UserInputError naming the file when it is not what plot writes."""
    try:
        return {",".join(point["overrides"]): (str(point["label"]), [float(found["val_loss"])
                                                                     for found in point["values"]])
                for point in read_json(path)["points"] if point["values"]}
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise UserInputError(f"{path} is not a summary as plot writes it ({type(error).__name__}: {error}); plot the "
                             f"sweep again: python -m vae_lightning.plot {path.parent}") from None


def interval(values: Sequence[float]) -> str:
    sample = describe(values)
    return f"{sample.mean:.2f}" if sample.ci95 is None else "{:.2f} [{:.2f}, {:.2f}]".format(sample.mean, *sample.ci95)


def verdict_of(claim: Claim, verdicts: dict[str, Verdict], seeds: int) -> str:
    """The claim's verdict from its points' verdicts against the best; `seeds`: the fewest of a point compared."""
    named = [verdicts[point] for point in claim.points]
    if claim.kind == "best" and named[0].verdict == "best":
        # The lowest mean alone is no evidence: only every other point significantly worse confirms it.
        others = [found.verdict for found in verdicts.values() if found.verdict != "best"]
        if "indistinguishable" in others:
            return f"lowest mean, not separable at {seeds} seeds"
        return "not tested: one seed" if None in others else "confirmed"
    if any(found.verdict == "worse" for found in named):
        return "refuted"
    if any(found.verdict is None for found in named):
        return "not tested: one seed"
    if claim.kind == "alike":
        return f"consistent: none separable at {seeds} seeds"
    return f"not separable at {seeds} seeds"


def judge_claim(claim: Claim, losses: dict[str, tuple[str, list[float]]]) -> dict[str, Any]:
    """One row of the table: what was measured for the claim's points and the verdict."""
    missing = [point for point in claim.points if point not in losses]
    if missing:
        return {"claim": claim.quote, "experiment": claim.experiment,
                "verdict": f"no completed job: {', '.join(missing)}"}
    compared = losses if claim.kind == "best" else {point: losses[point] for point in claim.points}
    verdicts = against_best({point: values for point, (_, values) in compared.items()})
    best = next(point for point, found in verdicts.items() if found.verdict == "best")
    shown = list(dict.fromkeys([*claim.points, best]))
    return {
        "claim": claim.quote,
        "experiment": claim.experiment,
        "measured": {losses[point][0]: interval(losses[point][1]) for point in shown},
        "best": losses[best][0],
        "p_vs_best": {losses[point][0]: verdicts[point].p_vs_best for point in shown if point != best},
        "verdict": verdict_of(claim, verdicts, min(len(values) for _, values in compared.values())),
    }


def judge_claims(sweep_dirs: dict[str, Path]) -> list[dict[str, Any]]:
    """Every claim tested on the summary.json of its experiment's sweep (name -> folder)."""
    rows = []
    for claim in CLAIMS:
        summary = sweep_dirs[claim.experiment] / "summary.json"
        if not summary.exists():
            rows.append({"claim": claim.quote, "experiment": claim.experiment, "verdict": "not run: no summary.json"})
            continue
        rows.append(judge_claim(claim, final_losses(summary)))
    return rows


def markdown(rows: list[dict[str, Any]]) -> list[str]:
    """The table of claims, measurements, tests and verdicts, with how to read it."""
    lines = ["| the paper's claim | sweep | measured: final val loss, mean [95% interval] | p vs best (Games-Howell) "
             "| verdict |", "|---|---|---|---|---|"]
    for row in rows:
        measured = "; ".join(f"{label}: {text}" for label, text in row.get("measured", {}).items())
        p_values = "; ".join(f"{label}: {p:.2g}" if p is not None else f"{label}: untested"
                             for label, p in row.get("p_vs_best", {}).items())
        tested = f"{p_values} (best: {row['best']})" if "best" in row else "n/a"
        lines.append(f"| {row['claim']} | {row['experiment']} | {measured or 'n/a'} | {tested} | {row['verdict']} |")
    return lines + ["", f"Test: {TEST}; worse when p < {ALPHA}. A claim that one point is best is "
                    "confirmed when it has the lowest mean and every other point is significantly worse, refuted "
                    "when a better point differs significantly, and not separable otherwise; the claim of small "
                    "differences is tested among its own points: refuted when any of them is significantly worse "
                    "than the best of them."]
