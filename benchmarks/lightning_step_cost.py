"""What Lightning's training loop costs a step by itself, whatever the model.

Its time on a model that computes almost nothing, against a plain loop doing the same steps.

    python benchmarks/lightning_step_cost.py

Both sides train a 2 -> 1 linear layer on 4 x 2 batches held in a list (one thread, SGD with
momentum, clipping by value), alternating Lightning, plain, Lightning, ... for --repeats pairs:
the kernels take microseconds, so what remains is each loop's own Python. Lightning runs as
`Trainer(barebones=True)`, its leanest mode (no logging, progress bar, checkpoints or validation).
Prints the milliseconds of a step on each side (median over the pairs) and, last,
`lightning_step_cost_ms=X`: the difference, a cost that every step of `python train.py` pays
on top of its model (docs/speed.md compares it with the step of the paper's VAE).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
import warnings

import lightning as L
import torch
from torch import nn

from arguments import at_least

CLIP_VALUE = 0.5


class TinyModule(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(2, 1)

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        return self.layer(batch).sum()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01, momentum=0.9)


def lightning_seconds(data: list[torch.Tensor]) -> float:
    trainer = L.Trainer(barebones=True, max_epochs=1, accelerator="cpu", devices=1, logger=False,
                        gradient_clip_val=CLIP_VALUE, gradient_clip_algorithm="value")
    loader = torch.utils.data.DataLoader(data, batch_size=None)  # hands the stored batches over as they are
    started = time.perf_counter()
    trainer.fit(TinyModule(), loader)
    return time.perf_counter() - started


def plain_seconds(data: list[torch.Tensor]) -> float:
    layer = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.01, momentum=0.9)
    started = time.perf_counter()
    for batch in torch.utils.data.DataLoader(data, batch_size=None):
        loss = layer(batch).sum()
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_value_(layer.parameters(), CLIP_VALUE)
        optimizer.step()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=at_least(1), default=4000)
    parser.add_argument("--repeats", type=at_least(1), default=5, help="alternated Lightning/plain pairs")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")  # Lightning's advice on num_workers and the like
    for name in ("lightning.pytorch", "lightning.fabric"):  # its banners, at every fit
        logging.getLogger(name).setLevel(logging.ERROR)
    data = [torch.rand(4, 2) for _ in range(args.steps)]
    lightning_seconds(data[:100])  # first fit: Lightning's one-off set-up
    pairs = [(lightning_seconds(data), plain_seconds(data)) for _ in range(args.repeats)]
    lightning_ms = statistics.median(seconds for seconds, _ in pairs) / args.steps * 1000
    plain_ms = statistics.median(seconds for _, seconds in pairs) / args.steps * 1000
    print(f"a step, {args.steps} steps, median of {args.repeats} pairs: Lightning (barebones) {lightning_ms:.3f} ms, "
          f"plain loop {plain_ms:.3f} ms")
    print(f"lightning_step_cost_ms={lightning_ms - plain_ms:.3f}")


if __name__ == "__main__":
    main()
