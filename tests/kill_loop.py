"""Kill -9 a run at random moments, resume it each time, and compare with the uninterrupted run.

    python tests/kill_loop.py --data-root /work/shared/data --kills 10 --out /tmp/kill-loop

Runs `python train.py` once to the end, then, for each kill, starts the same run in a folder of its
own, kills it with SIGKILL at a moment drawn uniformly over the uninterrupted run's duration, and
runs it again with `resume=true` until it completes. Each resumed run must end with the same
results.json and bitwise the same best.ckpt and last.ckpt weights as the uninterrupted one.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

PROJECT = Path(__file__).resolve().parent.parent
CHECKPOINTS = ("best.ckpt", "last.ckpt")


@dataclass
class Kill:
    """One kill: when, what checkpoint it left, and whether the resumed run matched."""

    seconds: float
    killed: bool
    left_step: int | None
    resume_exit: int
    same: bool
    difference: str


def run(overrides: list[str], run_dir: Path) -> subprocess.Popen:
    command = [sys.executable, str(PROJECT / "train.py"), *overrides, f"hydra.run.dir={run_dir}"]
    return subprocess.Popen(command, cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def finish(overrides: list[str], run_dir: Path) -> int:
    process = run(overrides, run_dir)
    _, errors = process.communicate()
    if process.returncode:
        print(errors[-2000:], file=sys.stderr)
    return process.returncode


def newest_step(run_dir: Path) -> int | None:
    """The global step of last.ckpt, or None when the kill came before the first checkpoint."""
    last = run_dir / "checkpoints" / "last.ckpt"
    return torch.load(last, weights_only=True)["global_step"] if last.exists() else None


def difference(reference: Path, run_dir: Path) -> str:
    """'' when run_dir ended exactly as reference did; else the first thing that differs."""
    results = [json.loads((folder / "results.json").read_text()) for folder in (reference, run_dir)]
    for key in ("val", "test", "epochs", "checkpoint"):
        if results[0][key] != results[1][key]:
            return f"results.json {key}: {results[0][key]} != {results[1][key]}"
    for name in CHECKPOINTS:
        a, b = (torch.load(folder / "checkpoints" / name, weights_only=True) for folder in (reference, run_dir))
        if a["global_step"] != b["global_step"]:
            return f"{name} step {a['global_step']} != {b['global_step']}"
        if any(not torch.equal(a["state_dict"][key], b["state_dict"][key]) for key in a["state_dict"]):
            return f"{name} weights differ"
    return ""


def kill_and_resume(overrides: list[str], reference: Path, run_dir: Path, seconds: float) -> Kill:
    process = run(overrides, run_dir)
    try:
        process.wait(timeout=seconds)
        killed = False
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait()
        killed = True
    left_step = newest_step(run_dir)
    code = finish([*overrides, "resume=true"], run_dir)
    found = difference(reference, run_dir) if code == 0 else f"resume exited {code}"
    return Kill(seconds, killed, left_step, code, found == "", found)


def uninterrupted(overrides: list[str], out: Path) -> float:
    """Run out/whole to its end once (kept for later loops in the same out); its wall-clock seconds."""
    seconds_file = out / "whole" / "wall_seconds.txt"
    if seconds_file.exists():
        return float(seconds_file.read_text())
    started = time.monotonic()
    if finish(overrides, out / "whole"):
        raise SystemExit("the uninterrupted run failed")
    duration = time.monotonic() - started
    seconds_file.write_text(f"{duration:.3f}\n")
    return duration


def kill_loop(overrides: list[str], out: Path, kills: int, seed: int = 0) -> Iterator[Kill]:
    """Each kill's outcome, as it comes, in folders out/kill-<seed>-<index>."""
    duration = uninterrupted(overrides, out)
    for index, moment in enumerate(random.Random(seed).sample(range(1, 1000), kills)):
        yield kill_and_resume(overrides, out / "whole", out / f"kill-{seed}-{index}", duration * moment / 1000)


def describe(outcome: Kill) -> str:
    left = "no checkpoint yet" if outcome.left_step is None else f"last.ckpt at step {outcome.left_step}"
    what = "killed" if outcome.killed else "finished before the kill"
    verdict = "same" if outcome.same else f"DIFFERENT: {outcome.difference}"
    return f"at {outcome.seconds:6.1f} s: {what}, {left}; resumed: exit {outcome.resume_exit}, {verdict}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--out", type=Path, required=True, help="a new folder for the runs")
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0, help="seeds the kill moments")
    parser.add_argument("overrides", nargs="*", default=["trainer.max_epochs=3",
                                                         "+callbacks.checkpoint.every_n_train_steps=20"])
    args = parser.parse_args()
    overrides = [f"data.root={args.data_root}", "data.download=false", "trainer.accelerator=cpu",
                 "++trainer.enable_progress_bar=false", *args.overrides]
    print(f"uninterrupted run: {uninterrupted(overrides, args.out):.1f} s", flush=True)
    outcomes = []
    for outcome in kill_loop(overrides, args.out, args.kills, args.seed):
        outcomes.append(outcome)
        print(describe(outcome), flush=True)
    print(f"{sum(o.same for o in outcomes)} of {len(outcomes)} ended exactly as the uninterrupted run")
    raise SystemExit(0 if all(o.same for o in outcomes) else 1)


if __name__ == "__main__":
    main()
