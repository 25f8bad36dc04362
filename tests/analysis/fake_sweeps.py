"""Sweep folders as `python train.py -m KEY=v1,v2 seed=0,1,...` leaves them, with chosen final val losses
and no training (multirun.yaml, and per job .hydra/overrides.yaml, status.json and csv/metrics.csv),
and the check of a sweep's summary.json against scipy."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from scipy import stats

from vae_lightning.harness.checkpoints import RunDefinition

GRID_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
EPOCHS = 3


# The gradient statistics' columns, as GradientStatistics logs them: epoch means, and values at single steps.
GRADIENT_COLUMNS = "train/grad_norm,train/grad_norm_clipped,train/clip_fraction"
GRADIENT_STEP_COLUMNS = "train/grad_norm_step,train/grad_norm_clipped_step,train/clip_fraction_step"


def write_job(job: Path, overrides: list[str], final: float, status: dict | None = None, epochs: int = EPOCHS,
              gradients: bool = False) -> Path:
    """A job folder whose val loss falls by 1 a epoch to `final` at its last epoch; completed unless
    `status` says otherwise. `gradients`: with gradient statistics too, the norm falling from `final` at step 0
    (the initialisation) and clipped at 1, the share clipped falling from 90%."""
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    (job / "status.json").write_text(json.dumps(status or {"status": "completed"}))
    (job / "csv").mkdir()
    rows = ["epoch,step,train/loss,val/loss" + (f",{GRADIENT_COLUMNS},{GRADIENT_STEP_COLUMNS}" if gradients else "")]
    if gradients:
        rows.append(f"0,0,,,,,,{final},1.0,0.9")
    for epoch in range(epochs):
        val = final + (epochs - 1 - epoch)
        norm = final / (epoch + 2)
        rows.append(f"{epoch},{10 * epoch + 9},{val + 0.5},{val}"
                    + (f",{norm},{min(norm, 1.0)},{0.9 / (epoch + 2)},,," if gradients else ""))
    (job / "csv" / "metrics.csv").write_text("\n".join(rows) + "\n")
    return job


def write_sweep(folder: Path, losses: dict[str, list[float]], key: str = "clip.value",
                statuses: dict[tuple[str, int], dict] | None = None, epochs: int = EPOCHS,
                seeds: list[int] | None = None, gradients: bool = False) -> Path:
    """A grid sweep of `key` over the values of `losses` and `seeds` (default 0..n-1, in the order given
    on the command line), the job of seeds[i] with final val loss losses[value][i];
    statuses[(value, seed)] replaces that job's status.json; `gradients`: its jobs log gradient statistics."""
    values = list(losses)
    seeds = range(len(losses[values[0]])) if seeds is None else seeds
    folder.mkdir(parents=True, exist_ok=True)
    task = [f"{key}={','.join(values)}", f"seed={','.join(map(str, seeds))}"]
    multirun = {"hydra": {"sweeper": {"_target_": GRID_SWEEPER, "params": None}, "overrides": {"task": task}}}
    (folder / "multirun.yaml").write_text(yaml.safe_dump(multirun))
    for value in values:
        for index, seed in enumerate(seeds):
            status = (statuses or {}).get((value, seed))
            write_job(folder / f"{key}={value},seed={seed}", [f"{key}={value}", f"seed={seed}"], losses[value][index],
                      status, epochs, gradients)
    return folder


def record_run_definition(job: Path, definition: dict) -> None:
    """A checkpoint as a run's: its RunDefinition's state, the run's resolved values of what defines it."""
    (job / "checkpoints").mkdir()
    torch.save({"callbacks": {RunDefinition.__qualname__: RunDefinition(definition).state_dict()}},
               job / "checkpoints" / "last.ckpt")


# A learning rate kept in the environment, as the run needed it: ${oc.env:...} alone gives text.
FROM_ENVIRONMENT = "'${oc.decode:${oc.env:LR}}'"
# A seed kept in the environment.
SEED_FROM_ENVIRONMENT = "'${oc.decode:${oc.env:S}}'"


def summary_points(sweep: Path) -> dict[str, dict]:
    return {point["label"]: point for point in json.loads((sweep / "summary.json").read_text())["points"]}


def final_val_losses(sweep: Path, value: str) -> list[float]:
    """Each job's last val/loss, read from its csv/metrics.csv here, apart from the code under test."""
    finals = []
    for job in sorted(sweep.glob(f"clip.value={value},seed=*")):
        rows = [row for row in csv.DictReader((job / "csv" / "metrics.csv").read_text().splitlines())
                if row["val/loss"]]
        finals.append(float(rows[-1]["val/loss"]))
    return finals


def check_against_scipy(sweep: Path) -> None:
    """summary.json of a clip.value=0.1,1.0 sweep against scipy, to 1e-6 relative."""
    points = summary_points(sweep)
    finals = {value: final_val_losses(sweep, value) for value in ("0.1", "1.0")}
    best = min(finals, key=lambda value: np.mean(finals[value]))
    for value, losses in finals.items():
        point = points[value]
        interval = stats.t.interval(0.95, len(losses) - 1, loc=np.mean(losses), scale=stats.sem(losses))
        assert point["n"] == len(losses)
        assert point["mean"] == pytest.approx(np.mean(losses), rel=1e-6)
        assert point["sd"] == pytest.approx(np.std(losses, ddof=1), rel=1e-6)
        assert point["ci95"] == pytest.approx(list(interval), rel=1e-6)
        if value == best:
            assert (point["verdict"], point["p_vs_best"]) == ("best", None)
        else:  # two points: the range of two means is their difference, and the p-value is Welch's
            p = stats.ttest_ind(losses, finals[best], equal_var=False).pvalue
            assert point["p_vs_best"] == pytest.approx(p, rel=1e-6)
            assert point["verdict"] == ("worse" if p < 0.05 else "indistinguishable")
