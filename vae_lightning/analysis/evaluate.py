"""`python -m vae_lightning.evaluate RUN_DIR|CHECKPOINT [--nll]`: Figure 4's samples and
reconstructions, the test losses, the latent space and (with --nll) the test set's likelihood.

Writes samples.png (an 8x8 grid decoded from z ~ N(0, I); a VAE's only, an autoencoder has no
prior), reconstructions.png (test images, each row above its reconstructions), each titled, and
samples_grid.png and reconstructions_grid.png (the same grids alone, for a paper); for a denoising
run denoising.png (noisy input, clean target, output), projector/ (the test images' latent means
for TensorBoard's projector), for a 2-D latent space manifold.png (a VAE's) and latent.png, with
--nll likelihood.json, and evaluation.json (the test losses) next to the run, and prints the
losses. A run folder means its best checkpoint; a checkpoint path means that one.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml
from lightning.pytorch.plugins.environments import LightningEnvironment
from omegaconf import OmegaConf
from tqdm import tqdm

from vae_lightning.analysis.latent import (
    PROJECTOR_FOLDER,
    grid_figure,
    latent_means,
    manifold_grid,
    save_figure,
    save_latent_scatter,
    save_manifold_figure,
    save_plain_grid,
    save_rows_figure,
    write_projector,
)
from vae_lightning.analysis.likelihood import check_has_posterior, decoder_likelihood, negative_log_likelihood
from vae_lightning.analysis.plot import CommandParser, errors_said_in_one_line, user_path
from vae_lightning.files import check_writable, read_json, refuse_links_out, write_json
from vae_lightning.harness.run import quiet_known_warnings
from vae_lightning.harness.checkpoints import RunDefinition
from vae_lightning.harness.runs import lock_holder
from vae_lightning.harness.schema import MAX_SEED, constructor_keys
from vae_lightning.configs import allow_config_dir, allowed_targets, check_targets, instantiate_trusted, targets
from vae_lightning.errors import ConfigError, DataError, NonFiniteLossError, UserInputError, say_error
from vae_lightning.paper.images import GRID_PARTS, denoising_grid, lacking_grid_part, reconstruction_grid, sample_grid
from vae_lightning.paper.module import VAEModule, stage_metrics

DEFAULT_K = 5000  # importance samples per image for --nll
EVALUATION_KEYS = ("written", "checkpoint", "weights_sha256", "test", "test_images")


def find_checkpoint(path: Path) -> tuple[Path, Path]:
    """(checkpoint, run folder) for a run folder or a checkpoint inside one."""
    if path.is_file():
        # Where the file is, not where a link to it is: the run's folder holds its config, data class and lock.
        real = path.resolve()
        return path, real.parent.parent if real.parent.name == "checkpoints" else real.parent
    if not path.exists():
        raise UserInputError(f"{path}: no such file or folder; pass a run folder or a .ckpt file")
    # A run's checkpoints/ folder, given for the run (a tab completion short, or `.` from inside it), is the run's too.
    inside_checkpoints = path.resolve().name == "checkpoints" and not (path / "checkpoints").is_dir()
    run = (path.parent if path.name == "checkpoints" else path / "..") if inside_checkpoints else path
    for name in ("best.ckpt", "last.ckpt"):
        if (run / "checkpoints" / name).is_file():
            return run / "checkpoints" / name, run
    jobs = sorted(job.parent for job in path.glob("*/checkpoints"))
    if (path / "multirun.yaml").exists() and jobs:
        raise UserInputError(f"{path} is a sweep's folder; pass one of its jobs' folders, e.g. {jobs[0]}")
    raise UserInputError(f"{path} holds no checkpoints/best.ckpt or last.ckpt; pass a run folder or a .ckpt file")


DEFAULT_DATA = "vae_lightning.paper.data.MNISTDataModule"
# Images encoded at once where a data module of one's own names no eval_batch_size (the project's default).
DEFAULT_EVAL_BATCH_SIZE = 1000


def saved_data_target(saved: Path) -> str | None:
    """The data class a run's saved config names (`data._target_`), read as plain data; UserInputError
    naming the file when it is not the config Hydra saves."""
    try:
        config = OmegaConf.to_container(OmegaConf.load(saved), resolve=False)
    except Exception as error:  # whatever YAML or OmegaConf raise, the file is the cause
        config = error
    if not isinstance(config, dict):
        problem = type(config).__name__
    elif not isinstance(config.get("data", {}), dict):
        problem = f"its data is a {type(config['data']).__name__}"
    else:
        return config.get("data", {}).get("_target_")
    raise UserInputError(f"{saved} is not a run's config as Hydra saves it ({problem}); restore it, or delete it "
                         f"(evaluate then reads MNIST, with the checkpoint's data arguments)")


def recorded_data_target(checkpoint: dict[str, Any]) -> str | None:
    """The data class the checkpoint's run definition names (`data._target_`), which travels with a checkpoint
    copied out of its run folder; None in a checkpoint written before runs recorded it."""
    target = (RunDefinition.recorded(checkpoint) or {}).get("data._target_")
    return target if isinstance(target, str) else None


def data_module(run_dir: Path, checkpoint: dict[str, Any], data_root: str | None) -> L.LightningDataModule:
    """The run's data module: its class as the checkpoint records it (else as the run's .hydra/config.yaml
    names it), its arguments from the checkpoint, as plain data; never downloading, wherever the
    checkpoint says the data is."""
    target = recorded_data_target(checkpoint)
    saved = run_dir / ".hydra" / "config.yaml"
    if target is None and saved.is_file():
        target = saved_data_target(saved)
    target = target or DEFAULT_DATA
    arguments = checkpoint.get("datamodule_hyper_parameters", {})
    if not isinstance(arguments, dict):
        raise UserInputError(f"{saved.parent.parent}: the checkpoint's datamodule_hyper_parameters are not a mapping")
    check_targets({"_target_": target}, "data")  # before its module is imported to read its arguments
    keys = constructor_keys(target)  # None: it takes any (**kwargs)
    # Only the train split is shuffled, and evaluation does not train; told only to a data module that
    # takes them, as the project's do: one of one's own that reads a .npz takes neither.
    told = {name: value for name, value in (("shuffle_seed", 0), ("download", False)) if keys is None or name in keys}
    config = {**arguments, "_target_": target, **told}
    if data_root is not None:
        if keys is not None and "root" not in keys:
            raise UserInputError(f"--data-root {data_root}: the run's data module ({target}) takes no root; leave "
                                 f"--data-root out")
        config["root"] = data_root
    return instantiate_trusted(config, "data")


# What evaluate reads of a data module once its setup("test") has run, with what it is.
DATA_PARTS = {"test_images": "the test images, a tensor (images, pixels)",
              "test_labels": "each test image's class, a tensor (images,), for the latent pictures"}


def check_data_parts(datamodule: L.LightningDataModule) -> None:
    """UserInputError naming the first of DATA_PARTS a data module of one's own lacks, before anything is
    written: the run trained with its loaders alone, and evaluate failed with a traceback."""
    for part, what in DATA_PARTS.items():
        if not isinstance(getattr(datamodule, part, None), torch.Tensor):
            name = type(datamodule).__name__
            raise UserInputError(f"data: {name} has no {part} after setup('test'), which evaluate reads: set "
                                 f"self.{part} there ({what}), or subclass vae_lightning.paper.data.MNISTDataModule")


def eval_batch_size(datamodule: L.LightningDataModule) -> int:
    """Images encoded at once: the data module's eval_batch_size, as its test loader batches them, if it has one."""
    return getattr(datamodule, "eval_batch_size", None) or DEFAULT_EVAL_BATCH_SIZE


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint's content, loaded with weights_only=True; UserInputError if it is not one of ours."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch's own message advises weights_only=False, which would run its code
        raise UserInputError(f"{path} is not a checkpoint ({type(error).__name__}): pass a run folder or a .ckpt "
                             f"that train.py wrote") from None
    if (not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("hyper_parameters"), dict)
            or not isinstance(checkpoint.get("state_dict"), dict)):
        raise UserInputError(f"{path} is not a checkpoint of this project: pass a run folder or a .ckpt that "
                             f"train.py wrote")
    return checkpoint


def check_weights(path: Path, expected: dict[str, torch.Tensor], weights: dict[str, Any]) -> None:
    """Raise UserInputError for the first weight missing, extra or of another shape than the
    checkpoint's own hyperparameters build."""
    missing, extra = sorted(expected.keys() - weights.keys()), sorted(weights.keys() - expected.keys())
    if missing:
        raise UserInputError(f"{path}: the weights lack {missing[0]}, which its hyper_parameters build: "
                             f"the checkpoint is damaged")
    if extra:
        raise UserInputError(f"{path}: the weights hold {extra[0]}, which its hyper_parameters do not build: the "
                             f"checkpoint is damaged")
    for name, tensor in expected.items():
        weight = weights[name]
        if not isinstance(weight, torch.Tensor) or weight.shape != tensor.shape:
            shape = list(weight.shape) if isinstance(weight, torch.Tensor) else type(weight).__name__
            raise UserInputError(f"{path}: the weights {name} are {shape}, but its hyper_parameters build "
                                 f"{list(tensor.shape)}: the checkpoint is damaged")


def build_module(path: Path, checkpoint: dict[str, Any]) -> VAEModule:
    """The module the checkpoint's hyperparameters describe, with its weights; everything is checked
    on the meta device first, so that no size a checkpoint claims is allocated before it is proven."""
    arguments = checkpoint["hyper_parameters"]
    parameters = inspect.signature(VAEModule).parameters
    unknown = sorted(set(arguments) - set(parameters))
    if unknown:
        raise UserInputError(f"{path}: hyper_parameters.{unknown[0]} is no argument of VAEModule: the checkpoint "
                             f"is not one train.py wrote")
    missing = [name for name, parameter in parameters.items()
               if parameter.default is parameter.empty and name not in arguments]
    if missing:
        raise UserInputError(f"{path}: hyper_parameters lack {missing[0]}, which VAEModule needs: the checkpoint is "
                             f"not one train.py wrote")
    try:
        with torch.device("meta"):
            expected = VAEModule(**arguments).state_dict()
        check_weights(path, expected, checkpoint["state_dict"])
        module = VAEModule(**arguments)
    except ConfigError as error:
        raise UserInputError(f"{path}: hyper_parameters: {error}") from None
    module.load_state_dict(checkpoint["state_dict"])
    return module


# All that evaluate and likelihood.py use of a model but `sample` (only asked of one that has it, for
# samples.png and manifold.png): a class of one's own trains with forward alone, so each part says what
# to give one that lacks it.
MODEL_PARTS = {"forward": "forward(x, generator) returning a VAEOutput", **GRID_PARTS}


def lacking_part(model: torch.nn.Module) -> str | None:
    """The first of MODEL_PARTS the model lacks; None when it has them all."""
    if type(model).forward is torch.nn.Module.forward:
        return "forward"
    return lacking_grid_part(model)


def check_model(path: Path, model: torch.nn.Module) -> None:
    """UserInputError naming the first part evaluate uses that the model lacks: a class of one's own
    trains with forward alone, and would otherwise fail in the grids, after files are written."""
    part = lacking_part(model)
    if part is not None:
        name = type(model).__name__
        raise UserInputError(f"{path}: the model {name} has no {part}, which evaluate needs: give {name} "
                             f"{MODEL_PARTS[part]}, or subclass vae_lightning.paper.model.VAE (Autoencoder for a "
                             f"model without a prior)")


def trained_config_dir(run_dir: Path) -> str | None:
    """The --config-dir folder the run was trained with, as its .hydra/hydra.yaml records it (a config
    source the command line added); None where it records none, or the file is not Hydra's."""
    try:
        sources = yaml.safe_load((run_dir / ".hydra" / "hydra.yaml").read_text())["hydra"]["runtime"]["config_sources"]
        return next((source["path"] for source in sources
                     if source.get("provider") == "command-line" and source.get("schema") == "file"), None)
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError):
        return None


def check_config_dir_given(checkpoint_path: Path, run_dir: Path, checkpoint: dict[str, Any]) -> None:
    """UserInputError naming the folder to pass as --config-dir, where a class of the checkpoint is one
    no config here names and the run was trained with that folder: the general refusal advised adding a
    YAML file naming it, which the user had written already."""
    allowed = allowed_targets()
    unnamed = next(((key, target) for key, target in targets(checkpoint["hyper_parameters"]) if target not in allowed),
                   None)
    folder = trained_config_dir(run_dir) if unnamed else None
    if folder is not None:
        raise UserInputError(f"{checkpoint_path}: hyper_parameters: {unnamed[0]}={unnamed[1]} is named by the "
                             f"configs of the folder the run was trained with (train.py's --config-dir): pass "
                             f"--config-dir {folder}")


def load(path: Path, data_root: str | None) -> tuple[VAEModule, L.LightningDataModule, Path, Path]:
    """The module and data module of a run folder's best checkpoint, or of a .ckpt file, with the
    checkpoint's path and its run folder; every check evaluate makes comes first (UserInputError, one
    line), so a notebook may load a checkpoint someone handed over."""
    checkpoint_path, run_dir = find_checkpoint(path)
    checkpoint = read_checkpoint(checkpoint_path)
    check_config_dir_given(checkpoint_path, run_dir, checkpoint)
    module = build_module(checkpoint_path, checkpoint)
    check_model(checkpoint_path, module.model)
    return module, data_module(run_dir, checkpoint, data_root), checkpoint_path, run_dir


def check_likelihood_options(module: VAEModule, k: int, images: int | None) -> None:
    """Refuse what --nll cannot do before anything is computed or written."""
    check_has_posterior(module.model, module.model.mean_head.weight.new_zeros(1, module.model.input_dim))
    decoder_likelihood(module.loss)
    if k < 1:
        raise UserInputError(f"--k {k}: the number of importance samples per image must be at least 1")
    if images is not None and images < 1:
        raise UserInputError(f"--images {images}: estimate on at least 1 test image, or leave --images out for all")


def test_subset(datamodule: L.LightningDataModule, images: int | None) -> torch.Tensor:
    available = len(datamodule.test_images)
    if images is not None and images > available:
        raise UserInputError(f"--images {images}: the test set has {available} images; pass at most {available}")
    return datamodule.test_images[:images]


def write_latent_pictures(module: VAEModule, datamodule: L.LightningDataModule, out: Path) -> list[str]:
    """projector/ for any latent size; latent.png and (a VAE's) manifold.png when it is 2-D."""
    images, labels = datamodule.test_images, datamodule.test_labels
    means = latent_means(module.model, images, eval_batch_size(datamodule))
    write_projector(means, labels, images, out / PROJECTOR_FOLDER)
    written = [f"{PROJECTOR_FOLDER}/"]
    if means.shape[1] == 2:
        save_latent_scatter(means, labels, out / "latent.png")
        written.append("latent.png")
        if hasattr(module.model, "sample"):
            save_manifold_figure(manifold_grid(module.model), out / "manifold.png")
            written.append("manifold.png")
    return written


def score_test_set(module: VAEModule, datamodule: L.LightningDataModule) -> dict[str, float]:
    """The test metrics of the module's own weights, as Lightning logs them."""
    # Under Slurm, test() without a ckpt_path loads the newest hpc_ckpt_*.ckpt of the Trainer's
    # default_root_dir (the working folder unless given) over the module's weights (Lightning PR
    # #14911), by torch.load's default: unpickled in full where TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD is set.
    # A new empty folder holds none. Lightning's own environment, not Slurm's: an evaluation has no
    # job to requeue on SIGUSR1 (saving an hpc checkpoint first), nor its one process to check
    # against the job's --ntasks.
    with tempfile.TemporaryDirectory(prefix="vae-evaluate-") as empty:
        trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                            enable_progress_bar=False, enable_model_summary=False, default_root_dir=empty,
                            plugins=[LightningEnvironment()])
        return trainer.test(module, datamodule=datamodule, verbose=False)[0]


def check_out(out: Path | None, run_dir: Path) -> Path:
    """The folder to write into, `out` or else the run folder, once it is known to take files."""
    # --out naming the run folder itself is the run folder: it wrote into a run still training.
    if out is None or out.resolve() == run_dir.resolve():
        check_writable(run_dir, f"the run folder {run_dir}", "pass --out with a folder you can write to")
        holder = lock_holder(run_dir)
        if holder is not None:  # its best checkpoint may change yet, and the images with it
            raise UserInputError(f"{run_dir} is in use by process {holder}, which is still training it; evaluate it "
                                 f"once it ends, or pass --out to score its best checkpoint so far elsewhere")
        refuse_links_out(run_dir, "evaluate", "pass --out with a folder of your own")
        return run_dir
    if (out / ".hydra").is_dir() or (out / "checkpoints").is_dir():
        raise UserInputError(f"--out {out} is another run's folder, whose own evaluation.json and images this one "
                             f"would replace; give a folder of its own, e.g. --out {out / 'evaluation'}")
    if (out / "multirun.yaml").exists() or any(out.glob("*/.hydra/")):
        raise UserInputError(f"--out {out} is a sweep's folder, which holds its jobs' folders and figures only; give "
                             f"a folder of its own, e.g. --out {out / 'evaluation'}")
    check_writable(out, f"--out {out}", "give a folder you can write to for the images and evaluation.json "
                                        "(made if missing)")
    return out


def write_grids(module: VAEModule, datamodule: L.LightningDataModule, seed: int, out: Path) -> list[str]:
    """reconstructions.png; samples.png for a model with a prior; denoising.png for a denoising run; and Figure 4's
    two grids alone for a paper (reconstructions_grid.png, samples_grid.png): the titled figures' text, printed at
    a column's width, was under 5 pt."""
    first_images = datamodule.test_images[:32]
    side = math.isqrt(first_images.shape[-1])  # each row's label sits at its images: 28 pixels for MNIST's
    written = ["reconstructions.png", "reconstructions_grid.png"]
    reconstructions = reconstruction_grid(module.model, first_images)
    save_rows_figure(reconstructions, out / "reconstructions.png",
                     "Test images and their reconstructions (decoded from the mean z)", ["input", "reconstruction"],
                     cell=side)
    save_plain_grid(reconstructions, out / "reconstructions_grid.png")
    if hasattr(module.model, "sample"):
        samples = sample_grid(module.model, 64, seed)
        figure, _ = grid_figure(samples, f"64 images decoded from z ~ N(0, I) (seed {seed})")
        save_figure(figure, out / "samples.png")
        save_plain_grid(samples, out / "samples_grid.png")
        written += ["samples.png", "samples_grid.png"]
    if getattr(datamodule, "noise_std", 0):
        save_rows_figure(denoising_grid(module.model, first_images[:24], datamodule.noise_std, seed),
                         out / "denoising.png", f"Denoising: noise of std {datamodule.noise_std} added to test images",
                         ["noisy input", "clean target", "output"], cell=side)
        written.append("denoising.png")
    return written


def estimate_likelihood(module: VAEModule, datamodule: L.LightningDataModule, images: torch.Tensor,
                        k: int) -> dict[str, Any]:
    with tqdm(total=len(images), unit="image", desc=f"importance sampling, k={k}") as bar:
        return negative_log_likelihood(
            module.model, decoder_likelihood(module.loss), images, k, eval_batch_size(datamodule),
            module.hparams.eval_seed, on_batch=bar.update,
        )


def read_test_split(datamodule: L.LightningDataModule) -> None:
    """The data module's refusal of its files said as evaluate takes them: from --data-root, never
    downloaded (it advises train.py's data.root and data.download)."""
    try:
        datamodule.setup("test")
    except DataError as error:
        said = str(error).replace("; or their .gz archives, with data.download=true", "")
        raise UserInputError(said.replace("data.root", "--data-root")) from None


def check_finite(metrics: dict[str, float], checkpoint_path: Path) -> None:
    """Raise NonFiniteLossError, before anything is written, for weights whose test loss is NaN or
    infinite (a NaN weight, or one so large the loss overflows): their grids would be blank."""
    losses = stage_metrics(metrics, "test")
    if not all(math.isfinite(value) for value in losses.values()):
        said = ", ".join(f"{term} {value}" for term, value in losses.items())
        raise NonFiniteLossError(f"{checkpoint_path}: test {said}: the run diverged; evaluate a checkpoint from "
                                 f"before, or train again with a lower optim.lr or a clip")


def evaluate(
    path: Path,
    data_root: str | None = None,
    seed: int = 0,
    out: Path | None = None,
    nll: bool = False,
    k: int = DEFAULT_K,
    images: int | None = None,
) -> dict[str, Any]:
    """Write the grids, the latent pictures, evaluation.json and, with `nll`, likelihood.json into
    `out` (default: the run folder); return the losses and, with `nll`, the likelihood."""
    checkpoint_path, run_dir = find_checkpoint(path)
    out = check_out(out, run_dir)
    module, datamodule, _, _ = load(checkpoint_path, data_root)
    # Evaluation never trains; and --nll's check runs the encoder, whose batch norms, in training mode,
    # would learn from its blank image before the test is scored.
    module.eval()
    if nll:
        check_likelihood_options(module, k, images)
    # Before the Trainer, whose banner would come before a refusal of the data or of --images.
    read_test_split(datamodule)
    check_data_parts(datamodule)
    subset = test_subset(datamodule, images) if nll else None
    metrics = score_test_set(module, datamodule)
    check_finite(metrics, checkpoint_path)
    out.mkdir(parents=True, exist_ok=True)
    # It describes the files written before, which this replaces: stopped part way, none would be this one's.
    (out / "evaluation.json").unlink(missing_ok=True)
    written = write_grids(module, datamodule, seed, out) + write_latent_pictures(module, datamodule, out)
    # Absolute: the run folder's evaluation.json named `run/checkpoints/best.ckpt`, relative to wherever
    # evaluate was started, a path that from the run folder itself names no file.
    weights = {"checkpoint": str(checkpoint_path.absolute()), "weights_sha256": weights_digest(checkpoint_path)}
    results = {
        "written": written,
        **weights,
        "test": stage_metrics(metrics, "test"),
        # All of them: a run's own results.json scores trainer.limit_test_batches of them.
        "test_images": len(datamodule.test_images),
    }
    if subset is not None:
        started = time.perf_counter()
        results["likelihood"] = {**weights, **estimate_likelihood(module, datamodule, subset, k)}
        results["likelihood_seconds"] = time.perf_counter() - started
        write_json(out / "likelihood.json", results["likelihood"])
        written.append("likelihood.json")
    elif (out / "likelihood.json").exists():
        results["other_likelihood"] = other_weights(out / "likelihood.json", weights["weights_sha256"])
    write_json(out / "evaluation.json", {key: results[key] for key in EVALUATION_KEYS})
    return results


def weights_digest(checkpoint_path: Path) -> str:
    """The checkpoint file's SHA-256: which weights a file of results is of, also once a resumed run
    has replaced checkpoints/best.ckpt with better ones."""
    return hashlib.sha256(checkpoint_path.read_bytes()).hexdigest()


def other_weights(path: Path, digest: str) -> str | None:
    """What an earlier likelihood.json left beside this evaluation was estimated on, when that is
    not these weights (None when it is): kept, since its estimate may have taken many minutes."""
    earlier = read_json(path)
    if isinstance(earlier, dict) and earlier.get("weights_sha256") == digest:
        return None
    named = earlier.get("checkpoint") if isinstance(earlier, dict) else None
    return f"{path} is of other weights ({f'{named}, as it was then' if named else 'it does not name them'})"


def evaluate_as_asked(args: argparse.Namespace) -> dict[str, Any]:
    """`evaluate` with the command line's arguments; a diverged run exits 3, as train.py does."""
    if not args.nll and (args.images is not None or args.k != DEFAULT_K):
        flag = "--images" if args.images is not None else "--k"
        raise UserInputError(f"{flag} applies to --nll only, which estimates the likelihood; add --nll, or leave "
                             f"{flag} out")
    if not 0 <= args.seed <= MAX_SEED:  # past 64 bits torch's generator failed, once reconstructions.png was written
        raise UserInputError(f"--seed {args.seed} is out of range: give a number in [0, {MAX_SEED}], as train.py's "
                             f"seed")
    if args.config_dir is not None:
        allow_config_dir(args.config_dir)
    try:
        return evaluate(args.path, args.data_root, args.seed, args.out, args.nll, args.k, args.images)
    except NonFiniteLossError as error:
        say_error(str(error))
        raise SystemExit(3) from None


def main() -> None:
    parser = CommandParser("python -m vae_lightning.evaluate", __doc__.split("\n\n")[0])
    parser.add_argument("path", type=user_path, help="a run folder (its best checkpoint) or a .ckpt file")
    parser.add_argument("--data-root", type=lambda text: str(user_path(text)),
                        help="where MNIST/raw is, if not where the run found it")
    parser.add_argument("--config-dir", "-cd", type=user_path,
                        help="the folder of your own config groups the run was trained with (train.py's --config-dir)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the latent draws of samples.png")
    parser.add_argument("--out", type=user_path,
                        help="folder for the images and evaluation.json, made if missing (default: the run's)")
    parser.add_argument("--nll", action="store_true",
                        help="estimate the test set's negative log-likelihood (likelihood.json)")
    parser.add_argument("--k", type=int, default=DEFAULT_K,
                        help=f"importance samples per image for --nll (default {DEFAULT_K})")
    parser.add_argument("--images", type=int, help="--nll on the first N test images only (default: all)")
    args = parser.parse_args()
    quiet_known_warnings()
    with errors_said_in_one_line():
        results = evaluate_as_asked(args)
        losses = ", ".join(f"{term} {value:.4f}" for term, value in results["test"].items())
        print(f"test {losses} on {results['test_images']} test images ({results['checkpoint']}); wrote "
              f"{', '.join(results['written'])}, evaluation.json")
        if results.get("other_likelihood"):
            print(f"note: {results['other_likelihood']}; add --nll to estimate these weights' likelihood")
        if "likelihood" in results:
            likelihood = results["likelihood"]
            print(f"nll {likelihood['nll']:.2f} nats (k={likelihood['k']}), nll_k1 (-ELBO) {likelihood['nll_k1']:.2f} "
                  f"nats, {likelihood['images']} images, {likelihood['likelihood']} decoder, "
                  f"{results['likelihood_seconds']:.0f} s")


if __name__ == "__main__":
    main()
