"""`python -m vae_lightning.analysis.evaluate RUN_DIR|CHECKPOINT`: Figure 4's samples, reconstructions, test losses.

Writes samples.png (an 8x8 grid decoded from z ~ N(0, I); a VAE's only, an autoencoder has no
prior), reconstructions.png (test images, each row above its reconstructions), for a denoising
run denoising.png (noisy input, clean target, output) and evaluation.json (the test losses)
next to the run, and prints the losses. A run folder means its best checkpoint; a checkpoint
path means that one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import lightning as L
import torch
from omegaconf import OmegaConf
from torchvision.utils import save_image

from vae_lightning.paper.errors import UserInputError
from vae_lightning.paper.images import denoising_grid, reconstruction_grid, sample_grid
from vae_lightning.paper.module import VAEModule, stage_metrics
from vae_lightning.harness.files import write_json
from vae_lightning.paper.build import instantiate_trusted

def find_checkpoint(path: Path) -> tuple[Path, Path]:
    """(checkpoint, run folder) for a run folder or a checkpoint inside one."""
    if path.is_file():
        return path, path.parent.parent if path.parent.name == "checkpoints" else path.parent
    for name in ("best.ckpt", "last.ckpt"):
        if (path / "checkpoints" / name).is_file():
            return path / "checkpoints" / name, path
    raise UserInputError(f"{path} holds no checkpoints/best.ckpt or last.ckpt; pass a run folder or a .ckpt file")


def data_module(run_dir: Path, checkpoint: dict[str, Any], data_root: str | None) -> L.LightningDataModule:
    """The run's own data config (its .hydra/config.yaml), else the checkpoint's data arguments."""
    saved = run_dir / ".hydra" / "config.yaml"
    if saved.is_file():
        config = OmegaConf.to_container(OmegaConf.load(saved), resolve=False)["data"]
        config["shuffle_seed"] = 0  # only the train split is shuffled, and evaluation does not train
    else:
        config = {"_target_": "vae_lightning.paper.data.MNISTDataModule", **checkpoint.get("datamodule_hyper_parameters", {})}
    if data_root is not None:
        config.update(root=data_root, download=False)
    return instantiate_trusted(config)


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint's content, loaded with weights_only=True; UserInputError if it is not one of ours."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch's own message advises weights_only=False, which would run its code
        raise UserInputError(f"{path} is not a checkpoint ({type(error).__name__}): pass a run folder or a .ckpt "
                             f"that train.py wrote") from None
    if not isinstance(checkpoint, dict) or "hyper_parameters" not in checkpoint or "state_dict" not in checkpoint:
        raise UserInputError(f"{path} is not a checkpoint of this project: pass a run folder or a .ckpt that train.py wrote")
    return checkpoint


def load(path: Path, data_root: str | None) -> tuple[VAEModule, L.LightningDataModule, Path, Path]:
    checkpoint_path, run_dir = find_checkpoint(path)
    checkpoint = read_checkpoint(checkpoint_path)
    module = VAEModule.load_from_checkpoint(checkpoint_path, map_location="cpu", weights_only=True)
    return module, data_module(run_dir, checkpoint, data_root), checkpoint_path, run_dir


def evaluate(path: Path, data_root: str | None = None, seed: int = 0, out: Path | None = None) -> dict[str, Any]:
    """Write the two grids and evaluation.json into `out` (default: the run folder); return the losses."""
    module, datamodule, checkpoint_path, run_dir = load(path, data_root)
    out = out or run_dir
    out.mkdir(parents=True, exist_ok=True)
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    metrics = trainer.test(module, datamodule=datamodule, verbose=False)[0]
    module.eval()
    images = datamodule.test_images[:32]
    written = ["reconstructions.png"]
    save_image(reconstruction_grid(module.model, images), out / "reconstructions.png")
    if hasattr(module.model, "sample"):
        save_image(sample_grid(module.model, 64, seed), out / "samples.png")
        written.append("samples.png")
    if getattr(datamodule, "noise_std", 0):
        save_image(denoising_grid(module.model, images[:24], datamodule.noise_std, seed), out / "denoising.png")
        written.append("denoising.png")
    results = {
        "written": written,
        "checkpoint": str(checkpoint_path),
        "test": stage_metrics(metrics, "test"),
    }
    write_json(out / "evaluation.json", results)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="a run folder (its best checkpoint) or a .ckpt file")
    parser.add_argument("--data-root", help="where MNIST/raw is, if not where the run found it")
    parser.add_argument("--seed", type=int, default=0, help="seeds the latent draws of samples.png")
    parser.add_argument("--out", type=Path, help="folder for the images and evaluation.json (default: the run's)")
    args = parser.parse_args()
    try:
        results = evaluate(args.path, args.data_root, args.seed, args.out)
    except UserInputError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    losses = ", ".join(f"{term} {value:.4f}" for term, value in results["test"].items())
    print(f"test {losses} ({results['checkpoint']}); wrote {', '.join(results['written'])}, evaluation.json")


if __name__ == "__main__":
    main()
