"""`python -m vae_lightning.reproduce [overrides]`: the paper's three sweeps and Figure 4, in one folder.

Runs `python train.py experiment=<name>` for clip_value, clip_norm and momentum (Figures 1-3),
picks the run with the lowest val loss across all three, evaluates it (Figure 4), and gathers
the four figures and the three tables, with each experiment's wall time, into --out
(default outputs/reproduce/<time>/). Every other argument but the keys it sets itself (experiment,
search, hydra.sweep.dir) is passed to train.py as it is, e.g.
`data.root=../shared/data`, `trainer.max_epochs=30`, `hydra/launcher=parallel`; results.md names
them (kept in overrides.json). An --out that holds its sweeps already is refused unless resume=true
continues them. With --replot, nothing is trained: the sweeps already in --out are plotted and
gathered again (after a failed job was resumed, say).
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from omegaconf import OmegaConf

from vae_lightning.analysis.evaluate import evaluate
from vae_lightning.analysis.plot import CommandParser, errors_said_in_one_line, job_status, plot_sweep, user_path
from vae_lightning.analysis.verdicts import judge_claims, markdown
from vae_lightning.files import check_writable, copy_file, read_json, refuse_links_out, remove, write_json, write_text
from vae_lightning.configs import CONFIG_DIR
from vae_lightning.errors import UserInputError, say_error
from vae_lightning.harness import sweeps
from vae_lightning.harness.command_line import check_jobs, parse_command_line, quoted, refuse_interpolated_folder
from vae_lightning.harness.run import quiet_known_warnings
from vae_lightning.harness.runs import (STOPPING_SIGNALS, refuse_if_taken, register_resolvers, signals_forwarded,
                                       val_loss)
from vae_lightning.harness.schema import register_schemas

# The repository: train.py and outputs/ (this file is vae_lightning/analysis/reproduce.py).
PROJECT = Path(__file__).resolve().parents[2]
# train.py's exit status when its check refused the command, having said why in one line.
REFUSED = 2
# What reproduce chooses for each of its sweeps: given again, the command line's would win in all three
# (experiment=momentum would run Figure 3's sweep three times, into Figures 1 and 2's folders too).
OWN_KEYS = ("experiment", "search", "hydra.sweep.dir")
# Figure 4's images, each titled (<name>.png) and alone for a paper (<name>_grid.png).
FIGURE_4 = ("samples", "reconstructions")
EXPERIMENTS = {
    "clip_value": "Figure 1: gradient clipping by value",
    "clip_norm": "Figure 2: gradient clipping by norm (and by value at 1.0)",
    "momentum": "Figure 3: SGD momentum",
}
# train.py's exit status when a stopping signal interrupted its sweep (its jobs recorded it).
INTERRUPTED = {128 + signum for signum in STOPPING_SIGNALS}


def run_experiment(name: str, sweep_dir: Path, overrides: list[str]) -> tuple[float, int]:
    """(wall seconds, exit code) of one experiment's sweep; a failed job does not stop the others. The sweep
    runs in a session of its own, to which a stopping signal to reproduce goes on (Ctrl-C, or a `kill` that
    left the sweep training on): its running jobs record themselves as interrupted, and it ends with 128 + N."""
    started = time.perf_counter()
    # Quoted: a folder's `,`, `=` or `'` would otherwise be read as Hydra's grammar (`,` as a sweep of the folder).
    command = [sys.executable, str(PROJECT / "train.py"), f"experiment={name}",
               f"hydra.sweep.dir={quoted(str(sweep_dir))}", *overrides]
    received: list[int] = []
    sweep: subprocess.Popen | None = None
    with signals_forwarded(lambda: [sweep.pid] if sweep else [], received):
        # In the user's folder, as the check and Figure 4's evaluation read the overrides: a relative data.root
        # is theirs.
        sweep = subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)
        if received:  # came before there was a sweep to send it to
            os.killpg(sweep.pid, received[0])
        code = sweep.wait()
    return time.perf_counter() - started, code


def best_run(sweep_dirs: list[Path]) -> Path | None:
    """The completed job with the lowest val loss (of its best checkpoint) across the sweeps."""
    # job_status first: it refuses, naming the file, a status.json that val_loss could not read.
    scored = [(val_loss(job), job) for sweep_dir in sweep_dirs for job in sweep_dir.glob("*/") if job_status(job)]
    scored = [(loss, job) for loss, job in scored if loss is not None]
    return min(scored)[1] if scored else None


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def settings(overrides: list[str] | None) -> str:
    """results.md's line on what the sweeps ran with: a reduced run must not read as the paper's."""
    if overrides is None:
        return ("The overrides the sweeps ran with were not recorded (an older reproduce wrote this folder): each "
                "job's `.hydra/overrides.yaml` holds its own.")
    if not overrides:
        return "The sweeps ran with the paper's settings: reproduce was given no overrides of train.py's."
    return (f"The sweeps ran with these overrides of the paper's settings, given to each `python train.py "
            f"experiment=<name>`: `{shlex.join(overrides)}`.")


def failed_jobs(sweep_dir: Path, code: int) -> bool:
    """Whether the sweep's table names a job left out, or, where it has none, whether its train.py failed.
    The table first: `--replot` after a failed job was resumed with train.py read the exit code timings.json
    recorded before, and said some jobs failed beside a table in which all had completed."""
    summary = read_json(sweep_dir / "summary.json")
    points = summary.get("points") if isinstance(summary, dict) else None
    if not isinstance(points, list):
        return code != 0
    return any(isinstance(point, dict) and point.get("excluded") for point in points)


def sweep_section(out: Path, index: int, name: str, title: str, timing: tuple[float, int]) -> list[str]:
    """results.md's section of one experiment: its figure, copied beside results.md, its wall time and
    outcome, and its sweep's table."""
    sweep_dir = out / "sweeps" / name
    seconds, code = timing
    for suffix in ("png", "pdf"):  # the PDF, in vector form, for a paper
        if (sweep_dir / f"figure.{suffix}").exists():
            copy_file(sweep_dir / f"figure.{suffix}", out / f"figure{index}_{name}.{suffix}")
        else:  # an earlier pass's, of jobs no longer there to draw: beside results.md, it would pass for this one's
            (out / f"figure{index}_{name}.{suffix}").unlink(missing_ok=True)
    outcome = ("not run" if not sweep_dir.exists()  # reproduce was interrupted before it
               else "some jobs failed (see the table)" if failed_jobs(sweep_dir, code) else "all jobs completed")
    figure = f"![{title}](figure{index}_{name}.png)" if (sweep_dir / "figure.png").exists() else \
        "(no figure: no job of this sweep completed)"
    lines = [f"## {title}", "", figure, ""]
    if (sweep_dir / "figure.pdf").exists():  # copied above; a PDF of an earlier run in `out` is not this one
        lines += [f"For a paper, in vector form: [figure{index}_{name}.pdf](figure{index}_{name}.pdf).", ""]
    lines += [f"`python train.py experiment={name}`: {minutes(seconds)} on this machine; {outcome}.", ""]
    summary = sweep_dir / "summary.md"
    lines += summary.read_text().splitlines()[2:] if summary.exists() else ["(no summary: the sweep did not run)"]
    return [*lines, ""]


def gather(out: Path, timings: dict[str, tuple[float, int]], overrides: list[str] | None, best: Path | None,
           test: dict[str, float]) -> Path:
    """Copy each sweep's figure, and write results.md with the overrides the sweeps ran with, the three
    tables, Figure 4's run and the paper's conclusions tested (also in verdicts.json)."""
    lines = ["# Reproduction of the paper's experiments", "", settings(overrides), ""]
    for index, (name, title) in enumerate(EXPERIMENTS.items(), start=1):
        lines += sweep_section(out, index, name, title, timings[name])
    lines += ["## Figure 4: images generated by the best model", ""]
    if best is not None:
        losses = ", ".join(f"{term} {value:.3f}" for term, value in test.items())
        lines += [f"Best run by val loss: `{best.parent.name}/{best.name}`; its test losses: {losses}.", "",
                  "![Samples](figure4_samples.png)", "", "![Reconstructions](figure4_reconstructions.png)", ""]
        grid_links = [f"[figure4_{name}_grid.png](figure4_{name}_grid.png)" for name in FIGURE_4
                      if (out / f"figure4_{name}_grid.png").exists()]
        if grid_links:  # an evaluation of before they were written has none
            lines += [f"For a paper, each grid alone (no title, each pixel 8 x 8): {' and '.join(grid_links)}.", ""]
    else:
        lines.append("No run completed.")
        for name in FIGURE_4:  # an earlier pass's best run's
            (out / f"figure4_{name}.png").unlink(missing_ok=True)
            (out / f"figure4_{name}_grid.png").unlink(missing_ok=True)
        remove(out / "best")  # and its evaluation, which results.md no longer names
    claims = judge_claims({name: out / "sweeps" / name for name in EXPERIMENTS})
    write_json(out / "verdicts.json", claims)
    lines += ["", "## The paper's conclusions (section 5), tested", "", *markdown(claims)]
    results = out / "results.md"
    write_text(results, "\n".join(lines) + "\n")
    return results


def read_timings(path: Path) -> dict[str, tuple[float, int]]:
    """What run_all wrote: each experiment's wall time and exit code; UserInputError naming the file
    when it is not that."""
    timings = read_json(path)
    try:
        return {name: (float(timings[name][0]), int(timings[name][1])) for name in EXPERIMENTS}
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise UserInputError(f"{path} is not the timings reproduce writes ({type(error).__name__}: {error}); restore "
                             f"it, or reproduce again into another --out") from None


def read_overrides(path: Path) -> list[str] | None:
    """The overrides main recorded for the sweeps, None where an older reproduce recorded none;
    UserInputError naming the file when it is not that."""
    if not path.exists():
        return None
    overrides = read_json(path)
    if not isinstance(overrides, list) or not all(isinstance(override, str) for override in overrides):
        raise UserInputError(f"{path} is not the list of overrides reproduce writes; restore it, or delete it "
                             f"(results.md then says the overrides were not recorded)")
    return overrides


def run_all(out: Path, overrides: list[str]) -> dict[str, tuple[float, int]]:
    """Run the three experiments; record their wall times and exit codes in out/timings.json. A sweep
    that train.py refused (exit status 2, its one line said) ends reproduce at once with that status:
    the input is to fix, and the timings, results.md and best/ already in --out are kept, not replaced
    by a record of the refusal. An interrupted sweep ends it with the sweep's status, its time recorded."""
    # A resumed reproduction (resume=true) adds its time to the earlier passes': their training is the
    # sweeps' too, and the resume pass alone, most jobs completed already, would say a few seconds.
    earlier = read_timings(out / "timings.json") if (out / "timings.json").exists() else {}
    timings: dict[str, tuple[float, int]] = {}
    for name in EXPERIMENTS:
        seconds, code = run_experiment(name, out / "sweeps" / name, overrides)
        if code == REFUSED:
            raise SystemExit(REFUSED)
        timings[name] = (earlier.get(name, (0.0, 0))[0] + seconds, code)
        if code in INTERRUPTED:
            # The sweeps not yet run, as not completed: `resume=true` adds its pass to this one's time.
            write_json(out / "timings.json", {other: (earlier.get(other, (0.0, 0))[0], code) for other in EXPERIMENTS}
                       | timings)
            say_error(f"reproduce interrupted by {signal.Signals(code - 128).name} in the {name} sweep, whose "
                      f"running jobs recorded themselves as interrupted; the same command with "
                      f"--out {shlex.quote(str(out))} resume=true continues it")
            raise SystemExit(code)
    write_json(out / "timings.json", timings)
    return timings


def check_command_lines(out: Path, overrides: list[str]) -> None:
    """Check every job of the three sweeps, and each sweep's folder in `out`, before any runs or
    anything is written: a mistake in the overrides, or a sweep of `out` that it would start over
    (no resume=true), is a UserInputError, said once (train.py would refuse each sweep in turn)."""
    register_resolvers()
    register_schemas()
    for name in EXPERIMENTS:
        command_config, _ = check_jobs(parse_command_line(["-m", f"experiment={name}", *overrides]), str(CONFIG_DIR))
        # train.py's own refusal, read-only (its `prepare` locks the folder), with reproduce's fixes.
        refuse_if_taken(out / "sweeps" / name, bool(command_config.resume), sweep=True,
                        advice="pass resume=true to continue reproduce's sweeps, --replot to plot them again, or give "
                            "another --out")


def data_root_given(overrides: list[str]) -> str | None:
    """The data.root the overrides set, as the sweeps' train.py read it: unquoted (`data.root='/data/a,b'`), its
    interpolations resolved (`${oc.env:MNIST_HOME}`); Figure 4's evaluation takes a folder, not Hydra's grammar."""
    given = [override for override in sweeps.parse(overrides)
             if override.key_or_group == "data.root" and not override.is_sweep_override()]
    if not given:
        return None
    try:
        return str(OmegaConf.create({"root": given[-1].value()}).root)
    except Exception as error:  # whatever OmegaConf raises resolving it: an unset variable, an unknown resolver
        # OmegaConf's next lines name its own key and object type (`full_key: root`), not the command line's.
        said = str(error).splitlines()[0]
        raise UserInputError(f"{given[-1].input_line}: {said}; give the folder that holds MNIST/raw") from None


def output_folder(out: Path | None) -> Path:
    """--out, or else a new folder of outputs/reproduce named by the time, once it is known to take files."""
    if out is None:
        default = PROJECT / "outputs" / "reproduce" / f"{datetime.now():%Y-%m-%d_%H-%M-%S}"
        check_writable(default, f"the output folder {default}", "pass --out with a folder you can write to")
        return default
    refuse_interpolated_folder(str(out), f"--out {out}", ", and the sweeps would run in another folder; give a "
                                                        "folder whose path holds no '${'")
    check_writable(out, f"--out {out}", "give a folder you can write to for the sweeps, figures and results.md "
                                        "(made if missing)")
    if out.is_dir():
        refuse_a_run(out)
        refuse_links_out(out, "reproduce", "give another --out")
    return out.resolve()


def refuse_a_run(out: Path) -> None:
    """Refuse an --out that is a run's or a sweep's own folder: reproduce would write its sweeps' jobs,
    figures and results.md among the run's files, and the sweep's plot would read them as its jobs."""
    if (out / ".hydra").is_dir():
        kind = "a run's"
    elif (out / "multirun.yaml").exists() or any(out.glob("*/.hydra/")):
        kind = "a sweep's"
    else:
        return
    raise UserInputError(f"--out {out} is {kind} folder, among whose files reproduce would write its sweeps, figures "
                         f"and results.md; give a folder of its own, or drop --out for a new one under "
                         f"outputs/reproduce/")


def refuse_arguments(args: argparse.Namespace, overrides: list[str]) -> None:
    """UserInputError for an argument reproduce cannot take: a flag it lacks, a key it sets itself, and with
    --replot an --out it never ran in, or an override that would change nothing."""
    flags = [override for override in overrides if override.startswith("-")]
    if flags:  # train.py would refuse it in each sweep, after the output folder was made
        raise UserInputError(f"{flags[0]}: no such flag of reproduce (it takes --out and --replot); give "
                             f"train.py's overrides as key=value")
    owned = [override for override in overrides if override.lstrip("+~").partition("=")[0] in OWN_KEYS]
    if owned:
        raise UserInputError(f"{owned[0]}: reproduce runs the grid sweeps experiment=clip_value, clip_norm and "
                             f"momentum itself, into <--out>/sweeps/<name>; drop it, or run one sweep with python "
                             f"train.py experiment=<name>")
    if args.replot and not (args.out and (args.out / "timings.json").exists()):
        raise UserInputError("--replot needs --out, a folder where reproduce already ran (with timings.json)")
    ignored = [override for override in overrides if override.partition("=")[0] != "data.root"]
    if args.replot and ignored:
        raise UserInputError(f"{ignored[0]}: --replot trains nothing, so this would change nothing; drop it (it "
                             f"takes data.root=<folder> only, where Figure 4's evaluation finds MNIST)")


def main() -> None:
    parser = CommandParser("python -m vae_lightning.reproduce", __doc__.split("\n\n")[0])
    parser.add_argument("--out", type=user_path, help="folder for the sweeps, figures and results.md")
    parser.add_argument("--replot", action="store_true",
                        help="train nothing: re-plot the sweeps already in --out and write results.md again")
    args, overrides = parser.parse_known_args()
    quiet_known_warnings()  # Figure 4's evaluation runs in this process
    with errors_said_in_one_line():
        refuse_arguments(args, overrides)
        out = output_folder(args.out)
        if not args.replot:
            check_command_lines(out, overrides)
        made = not out.exists()
        out.mkdir(parents=True, exist_ok=True)
        if args.replot:  # the original run's overrides: a --replot's own are at most a data.root
            timings, recorded = read_timings(out / "timings.json"), read_overrides(out / "overrides.json")
        else:
            try:
                timings, recorded = run_all(out, overrides), overrides
            except SystemExit:
                if made and not any(out.iterdir()):  # refused (a full disk, say): leave no empty folder behind
                    out.rmdir()
                raise
            # Beside timings.json, once the sweeps ran: a refused sweep leaves the record in --out as it was.
            write_json(out / "overrides.json", overrides)
        for name, title in EXPERIMENTS.items():
            if (out / "sweeps" / name / "multirun.yaml").exists():
                plot_sweep(out / "sweeps" / name, title)  # again, titled as in the paper
        best = best_run([out / "sweeps" / name for name in EXPERIMENTS])
        test: dict[str, float] = {}
        if best is not None:
            evaluation = evaluate(best, data_root=data_root_given(overrides), out=out / "best")
            test = evaluation["test"]
            for name in FIGURE_4:
                copy_file(out / "best" / f"{name}.png", out / f"figure4_{name}.png")
                copy_file(out / "best" / f"{name}_grid.png", out / f"figure4_{name}_grid.png")
        print(f"wrote {gather(out, timings, recorded, best, test)}")
    failed = [name for name, (_, code) in timings.items() if code]
    if failed and not args.replot:
        raise SystemExit(f"error: the sweeps of {', '.join(failed)} did not complete; results.md says which jobs")


if __name__ == "__main__":
    main()
