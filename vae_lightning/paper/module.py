"""The LightningModule: the VAE and its loss, trained and evaluated, with every metric logged."""

from __future__ import annotations

import math
import os
import pickle
from collections.abc import Mapping
from typing import IO, Any

import lightning as L
import numpy as np
import torch

from vae_lightning.configs import check_targets, instantiate_trusted
from vae_lightning.errors import ConfigError, NonFiniteLossError
from vae_lightning.paper.loss import LossTerms

# The logged metrics are `<stage>/<term>`: train/loss, val/kl, test/reconstruction...
TERMS = ("loss", "reconstruction", "kl")
# What TensorBoard and csv/metrics.csv put epoch-level values against: Lightning's step, or the epoch.
X_AXES = ("step", "epoch")


def metric_names(stage: str) -> dict[str, str]:
    """Each loss term's logged name in `stage` (train, val or test)."""
    return {term: f"{stage}/{term}" for term in TERMS}


def stage_metrics(metrics: dict[str, Any], stage: str) -> dict[str, float]:
    """The loss terms of `stage` among logged metrics, as plain floats keyed by term."""
    return {term: float(metrics[name]) for term, name in metric_names(stage).items() if name in metrics}


def process_seed(seed: int, rank: int) -> int:
    """The seed of a run's process `rank`: the run's own for the first (and only, outside DDP), and one
    of its own for each further process, from numpy's SeedSequence of both, so that the processes draw
    their latent noise apart and none draws another run's."""
    return seed if rank == 0 else int(np.random.SeedSequence([seed, rank]).generate_state(1)[0])


def check_arguments(eval_seed: Any, x_axis: Any, **configs: Any) -> None:
    """Raise ConfigError, naming the argument, unless each is of its kind: a checkpoint's
    hyperparameters reach the constructor as they were written, by anyone."""
    for name, config in configs.items():
        if not isinstance(config, Mapping) or "_target_" not in config:
            raise ConfigError(f"{name}={config!r}: expected a config with a _target_, such as conf/{name}/'s")
    if not isinstance(eval_seed, int) or isinstance(eval_seed, bool) or eval_seed < 0:
        raise ConfigError(f"eval_seed={eval_seed!r}: expected a whole number >= 0 (the run's seed)")
    if x_axis not in X_AXES:
        raise ConfigError(f"x_axis={x_axis!r}: expected one of {', '.join(X_AXES)}")


def check_fit(model: torch.nn.Module, loss: torch.nn.Module) -> None:
    """Raise ConfigError for a model and loss that build but could not train together: the run would
    fail at its first step, after its folder is made."""
    if not hasattr(model, "input_dim"):  # the model summary runs a blank image of that many pixels through it
        raise ConfigError(f"model: {type(model).__name__} has no input_dim, the pixels of an image it takes; set "
                          f"self.input_dim in its constructor")
    activation = getattr(model, "output_activation", "sigmoid")
    if getattr(loss, "reconstruction", None) == "bce" and activation != "sigmoid":
        raise ConfigError(f"loss.reconstruction=bce needs outputs in [0, 1], which "
                          f"model.output_activation={activation} does not keep them in: set "
                          f"model.output_activation=sigmoid, or loss.reconstruction=mse")


def inputs_and_targets(batch: Any, pixels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(model input, image the loss compares with) of a batch: a tensor of images is both; a pair is
    (noisy input, clean target). A DataLoader over a Dataset of tuples (TensorDataset) collates them
    into a list, [images] or [inputs, targets], which is read as the same. ConfigError naming `data` for
    batches of another shape: the model would fail in a traceback (images of 28 x 28), or the loss would
    blame the model (an (images, labels) pair, its labels read as the target)."""
    if isinstance(batch, torch.Tensor):
        inputs, targets = batch, batch
    elif (isinstance(batch, (tuple, list)) and len(batch) in (1, 2)
            and all(isinstance(part, torch.Tensor) for part in batch)):
        inputs, targets = batch[0], batch[-1]
    else:
        kind = (f"a {type(batch).__name__} of {len(batch)}" if isinstance(batch, (tuple, list))
                else f"a {type(batch).__name__}")
        raise ConfigError(f"data: its batches are {kind}; serve a tensor of images (batch, pixels), or an (input, "
                          f"target) pair of them")
    if inputs.dim() != 2 or inputs.shape[1] != pixels:
        raise ConfigError(f"data: its batches hold images of shape {list(inputs.shape)}, but the model takes flat "
                          f"pixel rows (batch, {pixels}); serve images.flatten(1)")
    if targets.shape != inputs.shape:
        raise ConfigError(f"data: the second tensor of its batches, of shape {list(targets.shape)}, is read as the "
                          f"clean target of inputs of {list(inputs.shape)}; serve [images] alone (labels are not "
                          f"trained on), or a target of the inputs' shape")
    return inputs, targets


def divergence_advice(clip_value: float | None, clip_algorithm: str | None) -> str:
    """What to change in a run whose loss diverged: the learning rate, and the clip (section 3.3), which a run
    that clips already has to tighten rather than to switch on."""
    if clip_value is None:
        return "lower optim.lr or clip the gradients (clip=value or clip=norm)"
    algorithm = getattr(clip_algorithm, "value", clip_algorithm)  # the Trainer holds Lightning's enum of it
    return f"lower optim.lr or clip.value (it clips by {algorithm} at {clip_value})"


class VAEModule(L.LightningModule):
    """Wraps the model and loss built from their configs; its hyperparameters are plain containers.

    Keeping the configs (dicts, lists, numbers, strings) as the hyperparameters, instead of built
    objects or OmegaConf nodes, lets every checkpoint load with `torch.load(..., weights_only=True)`
    and rebuild this module with `VAEModule.load_from_checkpoint(path)`, which never unpickles (Lightning's
    would load a checkpoint from a URL with weights_only=False unless told).
    """

    def __init__(self, model: dict[str, Any], loss: dict[str, Any], optim: dict[str, Any], eval_seed: int = 0,
                 x_axis: str = "step") -> None:
        super().__init__()
        check_arguments(model=model, loss=loss, optim=optim, eval_seed=eval_seed, x_axis=x_axis)
        # The full run config is logged once by train.py; logging these again would duplicate it.
        self.save_hyperparameters(logger=False)
        self.model = instantiate_trusted(model, "model")
        self.loss = instantiate_trusted(loss, "loss")
        check_fit(self.model, self.loss)
        # Checked here, not when the optimizer is built: a checkpoint is refused as it loads.
        check_targets(optim, "optim")
        self._eval_generator: torch.Generator | None = None
        self._eval_sums, self._eval_images = torch.zeros(len(TERMS)), 0
        # Set by paper.gradients.GradientStatistics for the steps it measures.
        self.measure_clip = False
        self.clip_statistics: torch.Tensor | None = None
        self._train_terms: list[tuple[LossTerms, int]] = []
        self._train_terms_epoch = -1

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path: str | os.PathLike | IO[bytes], map_location: Any = None,
                             hparams_file: str | os.PathLike | None = None, strict: bool | None = None,
                             weights_only: bool | None = True, **kwargs: Any) -> VAEModule:
        """Lightning's, always with `weights_only=True`: unpickling a checkpoint, which torch's refusal of
        one advises, could run any code it holds, and this project's hold tensors and plain data only."""
        if weights_only is False:
            raise ConfigError("weights_only=False would unpickle the checkpoint, which can run any code it holds; "
                              "drop it: this project's checkpoints load without")
        try:
            return super().load_from_checkpoint(checkpoint_path, map_location, hparams_file, strict,
                                                weights_only=True, **kwargs)
        except pickle.UnpicklingError:
            raise ConfigError(f"{checkpoint_path}: torch.load(weights_only=True) refuses it: not a checkpoint of "
                              f"tensors and plain data") from None

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> Any:
        return self.model(x, generator=generator)

    @property
    def example_input_array(self) -> tuple[torch.Tensor, torch.Generator]:
        """One blank image and a generator of its own: Lightning's model summary runs them through
        the model to count its FLOPs, and its noise then never moves the stream training draws from."""
        return (torch.zeros(1, self.model.input_dim, device=self.device, dtype=self.dtype),
                torch.Generator(self.device).manual_seed(0))

    def on_train_epoch_start(self) -> None:
        if self._train_terms_epoch != self.current_epoch:  # kept when resuming mid-epoch
            self._train_terms, self._train_terms_epoch = [], self.current_epoch

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        inputs, targets = inputs_and_targets(batch, self.model.input_dim)
        terms = self.loss(targets, self.model(inputs))
        total_loss = terms.total.item()  # a float: checking it costs a fifth of `torch.isfinite`
        if not math.isfinite(total_loss):
            self._stop_on_non_finite(total_loss)
        # Four `self.log` calls cost about a sixth of a training step here (benchmarks/epoch_speed.py):
        # the epoch means are computed once from the kept terms, and the per-step loss is logged
        # only on the steps the loggers write.
        self._train_terms.append((LossTerms(*(term.detach() for term in terms)), len(targets)))
        every = self.trainer.log_every_n_steps  # 0 turns per-step logging off, as in Lightning
        if every and (self.global_step + 1) % every == 0:
            self.log("train/loss_step", terms.total, on_step=True, on_epoch=False, prog_bar=True)
        return terms.total

    def _stop_on_non_finite(self, loss: float) -> None:
        # Raised before backward: these weights are never stepped, and since no checkpoint is
        # written after an exception, the last one on disk stays the last good one.
        last_good = self._newest_checkpoint()
        raise NonFiniteLossError(
            f"loss is {loss} at step {self.global_step} (epoch {self.current_epoch}); last good checkpoint: "
            f"{last_good or 'none written yet'}; "
            f"{divergence_advice(self.trainer.gradient_clip_val, self.trainer.gradient_clip_algorithm)}"
        )

    def _newest_checkpoint(self) -> str:
        """The file a checkpoint callback wrote last: last.ckpt once written (every validation, and
        every N steps with mid-epoch checkpoints), best.ckpt never after it. Of files with the same time
        stamp, the later callback's: it saved after the earlier one."""
        written = [path for callback in self.trainer.checkpoint_callbacks
                   for path in (getattr(callback, "best_model_path", ""), getattr(callback, "last_model_path", ""))
                   if path and os.path.exists(path)]
        newest = max(enumerate(written), key=lambda found: (os.path.getmtime(found[1]), found[0]), default=None)
        return newest[1] if newest else ""

    def _stacked_train_terms(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(steps x 3 terms, steps batch sizes) of the epoch so far."""
        terms = torch.stack([torch.stack(step_terms) for step_terms, _ in self._train_terms])
        sizes = torch.tensor([size for _, size in self._train_terms], device=terms.device, dtype=terms.dtype)
        return terms, sizes

    def on_train_epoch_end(self) -> None:
        self._log_x_axis()
        if not self._train_terms:
            return
        terms, sizes = self._stacked_train_terms()
        means = (terms * sizes[:, None]).sum(dim=0) / sizes.sum()
        self._log_terms("train", LossTerms(*means))

    def _log_x_axis(self) -> None:
        """With x_axis=epoch, put this epoch's metrics at x = the epoch: Lightning writes a metric
        named `step` as the x value of everything logged with it (and then adds no `epoch` itself)."""
        if self.hparams.x_axis == "epoch":
            epoch = float(self.current_epoch)
            self.log_dict({"step": epoch, "epoch": epoch}, on_step=False, on_epoch=True, batch_size=1)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # A run resumed mid-epoch must still log that whole epoch's means.
        terms, sizes = self._stacked_train_terms() if self._train_terms else (torch.zeros(0, 3), torch.zeros(0))
        if self.trainer.world_size > 1:
            # Every process builds the checkpoint and the first writes it: resumed with the first's terms, each
            # other process logged a mean of the first's batches and its own. Each process has as many steps.
            # (Not LightningModule.all_gather, whose torch function warns at each checkpoint that it is deprecated.)
            rows = torch.cat([terms, sizes[:, None].to(terms.dtype)], dim=1).to(self.device)
            gathered = [torch.empty_like(rows) for _ in range(self.trainer.world_size)]
            torch.distributed.all_gather(gathered, rows)
            terms, sizes = torch.stack(gathered)[..., :3], torch.stack(gathered)[..., 3]
        checkpoint["train_epoch_terms"] = {"epoch": self._train_terms_epoch, "terms": terms, "sizes": sizes}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        saved = checkpoint.get("train_epoch_terms", {"epoch": -1, "terms": torch.zeros(0, 3), "sizes": []})
        terms, sizes = saved["terms"], saved["sizes"]
        if terms.dim() == 3:  # a row per process (older DDP checkpoints hold the first's alone)
            terms, sizes = terms[self.global_rank], sizes[self.global_rank]
        self._train_terms_epoch = saved["epoch"]
        self._train_terms = [(LossTerms(*step), int(size)) for step, size in zip(terms, sizes)]

    def _start_eval_epoch(self) -> None:
        # Evaluation draws its own, fixed noise: its losses compare across epochs without sampling
        # noise, and evaluating never moves the random stream that training draws from.
        seed = process_seed(self.hparams.eval_seed, self.global_rank)
        self._eval_generator = torch.Generator(self.device).manual_seed(seed)
        self._eval_sums, self._eval_images = torch.zeros(len(TERMS), device=self.device), 0

    def _add_eval_terms(self, terms: LossTerms, images: int) -> None:
        # Summed as Lightning sums a logged epoch mean: in float32 (or float64), batch by batch.
        self._eval_sums = self._eval_sums + torch.stack(terms).detach() * images
        self._eval_images += images

    def _log_eval_means(self, stage: str) -> None:
        """Log the epoch's mean loss terms over every image the processes scored. Lightning's own mean
        across processes divides their image counts as whole numbers (its issue #21859): with shares
        of unequal size, 10,000 test images over 3 processes, every loss came out 1.0001 times too large."""
        counted = torch.cat([self._eval_sums, self._eval_sums.new_tensor([self._eval_images])])
        totals = self.trainer.strategy.reduce(counted, reduce_op="sum")
        if totals[-1] > 0:
            self._log_terms(stage, LossTerms(*(totals[:-1] / totals[-1])))

    def on_validation_epoch_start(self) -> None:
        self._start_eval_epoch()

    def on_test_epoch_start(self) -> None:
        self._start_eval_epoch()

    def on_validation_epoch_end(self) -> None:
        self._log_x_axis()
        self._log_eval_means("val")

    def on_test_epoch_end(self) -> None:
        self._log_x_axis()
        self._log_eval_means("test")

    def _score(self, batch: Any) -> None:
        inputs, targets = inputs_and_targets(batch, self.model.input_dim)
        # Weighed by its images: len() of a [images] list would be 1.
        self._add_eval_terms(self.loss(targets, self.model(inputs, generator=self._eval_generator)), len(targets))

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._score(batch)

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._score(batch)

    def _log_terms(self, stage: str, terms: LossTerms) -> None:
        """Log an epoch's mean terms, once: each process's are its own mean (train) or all processes' (val,
        test), which the mean across processes leaves as they are."""
        names = metric_names(stage)
        metrics = {names["loss"]: terms.total, names["reconstruction"]: terms.reconstruction, names["kl"]: terms.kl}
        self.log_dict(metrics, on_step=False, on_epoch=True, batch_size=1, sync_dist=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return instantiate_trusted(self.hparams.optim, "optim")(self.parameters())

    def configure_gradient_clipping(self, optimizer: torch.optim.Optimizer, gradient_clip_val: float | None = None,
                                    gradient_clip_algorithm: str | None = None) -> None:
        """Section 3.3: clip the gradient by value (every entry into [-value, value]) or by norm (the
        whole gradient rescaled to a global L2 norm of at most value), as `clip` configures it.

        When `measure_clip` is set, also measures the gradient where the clip happens: its global
        norm before and after, and the share of it the clip changed (entries beyond the value; by
        norm, all of it or nothing), into `clip_statistics`.
        """
        if not self.measure_clip:
            self.clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm)
            return
        gradients = [parameter.grad for parameter in self.parameters() if parameter.grad is not None]
        norm = torch.nn.utils.get_total_norm(gradients)
        # Counted as a sum of 0s and 1s in float32 (exact below 2^24 entries a tensor): on a CPU, about 3x
        # faster than counting booleans with count_nonzero, and most of what measuring costs.
        beyond = sum(gradient.abs().gt_(gradient_clip_val).sum(dtype=torch.float32) for gradient in gradients) \
            if gradient_clip_algorithm == "value" and gradient_clip_val else None
        self.clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm)
        clipped = torch.nn.utils.get_total_norm(gradients)
        changed = beyond / sum(gradient.numel() for gradient in gradients) if beyond is not None \
            else (clipped < norm).to(norm.dtype)
        self.clip_statistics = torch.stack([norm, clipped, changed]).detach()
