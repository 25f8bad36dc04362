"""`python -m vae_lightning.compare SWEEP_A SWEEP_B [--margin M]`: for each point both sweeps ran, is the
final val loss the same? The difference of means (B - A), its 95% interval (seed-paired where both ran
the same seeds, else Welch's), and TOST at ±M.

Prints a table and writes comparison.md and comparison.json into --out. Exits 0 when every shared
point is equivalent, 1 when any is different or inconclusive, 2 on bad input (docs/statistics.md).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from vae_lightning.files import check_writable, read_json
from vae_lightning.analysis.plot import (CommandParser, as_used, check_sweep, collect, decimals,
                                         errors_said_in_one_line, interpolation_lines, json_bytes, loss_named,
                                         same_point, table, user_path, write_all)
from vae_lightning.analysis.statistics import ALPHA, describe, equivalence, paired_equivalence
from vae_lightning.errors import UserInputError

# 0.5% of sweep A's mean: about 0.16 nats for the paper's 31-nat losses, near one seed's spread
# and a third of the smallest difference Figures 1-3 rest on (docs/statistics.md).
DEFAULT_MARGIN = "0.5%"
TEST = ("difference of means B - A with its 95% interval: where both sweeps ran the same seeds of a point, of the "
        "seed-paired differences (scipy.stats.ttest_1samp; each seed starts both runs from the same weights and "
        "batches), else Welch's (scipy.stats.ttest_ind, equal_var=False); equivalence by the matching two one-sided "
        f"tests (TOST) at ±margin, each at α = {ALPHA}")


def parse_margin(margin: str) -> tuple[float, bool]:
    """(value, whether it is a percentage of A's mean) of `0.2` (nats) or `0.5%`."""
    try:
        value = float(margin.removesuffix("%"))
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise UserInputError(f"--margin {margin}: give a positive number of nats (0.2) or a percentage of "
                             f"sweep A's mean (0.5%)")
    return value, margin.endswith("%")


def side(losses: list[float]) -> dict[str, Any]:
    sample = describe(losses) if losses else None
    return {"n": len(losses), "mean": sample.mean if sample else None, "sd": sample.sd if sample else None}


def compare(sweep_a: Path, sweep_b: Path, margin: str = DEFAULT_MARGIN) -> dict[str, Any]:
    """What comparison.json holds: for each point in both sweeps (the same swept overrides, with the values their
    jobs ran with: `as_used`), each sweep's n, mean and sd of the final val loss, and the difference's interval and
    verdict."""
    value, percent = parse_margin(margin)
    for folder in (sweep_a, sweep_b):
        check_sweep(folder)
    keys_a, groups_a = collect(sweep_a)
    keys_b, groups_b = collect(sweep_b)
    (groups_a, interpolations_a), (groups_b, interpolations_b) = as_used(groups_a), as_used(groups_b)
    groups_a, groups_b = ({same_point(point): group for point, group in groups.items()}
                          for groups in (groups_a, groups_b))
    shared = [point for point in groups_a if point in groups_b]
    if not shared:
        raise UserInputError(
            f"{sweep_a} and {sweep_b} share no point (their swept values: {', '.join(keys_a) or 'the seed only'}; "
            f"{', '.join(keys_b) or 'the seed only'}): compare two sweeps of the same values")
    points = []
    for point in shared:
        losses_a, losses_b = groups_a[point].losses, groups_b[point].losses
        found: dict[str, Any] = {"label": groups_a[point].label, "overrides": list(point),
                                 "a": side(losses_a), "b": side(losses_b)}
        if len(losses_a) < 2 or len(losses_b) < 2:
            found |= {"difference": None, "ci95": None, "margin": None, "p_equivalence": None,
                      "verdict": "inconclusive", "reason": "fewer than 2 completed seeds on a side"}
        else:
            # Of the mean's size: a loss of one's own may be negative, and a margin never is.
            nats = value / 100 * abs(found["a"]["mean"]) if percent else value
            seeds_a, seeds_b = dict(groups_a[point].finals), dict(groups_b[point].finals)
            paired = seeds_a.keys() == seeds_b.keys()  # `collect` counts a seed once at a point
            result = (paired_equivalence([seeds_a[seed] for seed in seeds_a], [seeds_b[seed] for seed in seeds_a], nats)
                      if paired else equivalence(losses_a, losses_b, nats))
            found |= {"difference": result.difference, "ci95": list(result.ci95), "margin": result.margin,
                      "p_equivalence": result.p_equivalence, "verdict": result.verdict,
                      "test": "paired by seed" if paired else "Welch"}
            if percent and found["a"]["mean"] == 0:
                # A percentage of 0 is no margin: the table read ±0.000 and a TOST p, as if equivalence were tested.
                found |= {"margin": None, "p_equivalence": None,
                          "reason": f"no margin: {margin} of A's mean of 0 is undefined; give --margin in nats"}
        points.append(found)
    # Absolute: a relative path in comparison.json would name other folders (or none) from another working
    # folder, and a later command there was refused as comparing two other sweeps.
    return {"a": str(sweep_a.absolute()), "b": str(sweep_b.absolute()), "margin": margin, "test": TEST, "alpha": ALPHA,
            "points": points,
            "only_in_a": [groups_a[point].label for point in groups_a if point not in groups_b],
            "only_in_b": [groups_b[point].label for point in groups_b if point not in groups_a],
            # Each override written as an interpolation, and the value its jobs ran with, which they are compared
            # as; each point left as written, apart from the one of its side whose values its jobs ran with.
            "resolved": {"a": interpolations_a.resolved, "b": interpolations_b.resolved},
            "apart": {"a": interpolations_a.apart, "b": interpolations_b.apart}}


def number(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def compared_loss(comparison: dict[str, Any]) -> str:
    """The loss both sweeps trained with, as their summaries name it, or each one's where they differ."""
    a, b = loss_named(Path(comparison["a"])), loss_named(Path(comparison["b"]))
    return a if a == b else f"A: {a}; B: {b}"


def comparison_markdown(comparison: dict[str, Any]) -> str:
    rows = []
    # The margin is the scale the differences are read against: a 0.5% margin of a 0.012 loss read as ±0.000.
    digits = decimals([found["margin"] for found in comparison["points"]])
    for found in comparison["points"]:
        a, b = found["a"], found["b"]
        interval = "n/a" if found["ci95"] is None else "[{:.{digits}f}, {:.{digits}f}]".format(*found["ci95"],
                                                                                             digits=digits)
        p = "n/a" if found["p_equivalence"] is None else f"{found['p_equivalence']:.3g}"
        verdict = found["verdict"] + (f" ({found['reason']})" if "reason" in found else "")
        # A point not tested has no margin.
        margin = "n/a" if found["margin"] is None else f"±{number(found['margin'], digits)}"
        rows.append([found["label"], a["n"], number(a["mean"], digits), b["n"], number(b["mean"], digits),
                     number(found["difference"], digits), interval, found.get("test", "n/a"), margin, p, verdict])
    explanation = [
        f"A: {comparison['a']}", f"B: {comparison['b']}", "",
        f"Final val loss ({compared_loss(comparison)}, per image) after each completed job's last epoch, as in each "
        f"sweep's summary.md.",
        f"{TEST}. Margin: {comparison['margin']}"
        + (" of A's mean." if comparison["margin"].endswith("%") else " nats."),
        "equivalent: the 90% interval lies within ±margin; different: not equivalent and the 95% interval",
        "excludes 0; inconclusive: neither (more seeds would tell).",
    ]
    after = [line for side in ("a", "b")
             for line in interpolation_lines(comparison["resolved"][side], comparison["apart"][side], "compared",
                                             f"{side.upper()}'s ")]
    after += [f"Only in A (not compared): {', '.join(comparison['only_in_a'])}."] if comparison["only_in_a"] else []
    after += [f"Only in B (not compared): {', '.join(comparison['only_in_b'])}."] if comparison["only_in_b"] else []
    columns = ["point", "A: seeds", "A: mean", "B: seeds", "B: mean", "B - A", "95% interval", "test", "margin",
               "TOST p", "verdict"]
    return table("Comparison of two sweeps", explanation, columns, rows, after)


def refuse_another_comparison(out: Path, sweep_a: Path, sweep_b: Path) -> None:
    """A comparison of other sweeps in `out` is kept: only the same two sweeps' is replaced (with
    another --margin, or once they have more seeds)."""
    earlier = read_json(out / "comparison.json")
    if not isinstance(earlier, dict):
        return
    compared = [Path(str(earlier.get(side))).resolve() for side in ("a", "b")]
    if compared != [sweep_a.resolve(), sweep_b.resolve()]:
        raise UserInputError(f"--out {out} holds the comparison of {earlier.get('a')} and {earlier.get('b')}; give "
                             f"this one another --out, or delete {out / 'comparison.json'} to replace it")


def default_out(sweep_a: Path, sweep_b: Path) -> Path:
    """Under outputs/, which git ignores, as train.py's runs are: the working folder may be a checkout."""
    return Path("outputs", "comparisons", f"{sweep_a.resolve().name}_vs_{sweep_b.resolve().name}")


def main() -> None:
    parser = CommandParser("python -m vae_lightning.compare", __doc__.split("\n\n")[0])
    parser.add_argument("sweep_a", type=user_path,
                        help="the reference sweep (a folder made by `python train.py -m ...`)")
    parser.add_argument("sweep_b", type=user_path, help="the sweep compared with it")
    parser.add_argument("--margin", default=DEFAULT_MARGIN,
                        help="equivalence margin: nats (0.2) or a percentage of A's mean (default %(default)s)")
    parser.add_argument("--out", type=user_path,
                        help="folder for comparison.md and comparison.json (default: "
                             "outputs/comparisons/<A's name>_vs_<B's name>, made if missing)")
    args = parser.parse_args()
    with errors_said_in_one_line():
        out = args.out or default_out(args.sweep_a, args.sweep_b)
        if args.out is not None and not args.out.is_dir():
            raise UserInputError(f"--out {args.out} is not a folder; create it, or pass an existing one")
        check_writable(out, f"--out {out}", "pass a folder you can write to")
        refuse_another_comparison(out, args.sweep_a, args.sweep_b)
        comparison = compare(args.sweep_a, args.sweep_b, args.margin)
        markdown = comparison_markdown(comparison)
        out.mkdir(parents=True, exist_ok=True)
        write_all({out / "comparison.md": markdown.encode(), out / "comparison.json": json_bytes(comparison)},
                  "run this command again")
        print(markdown)
    if any(found["verdict"] != "equivalent" for found in comparison["points"]):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
