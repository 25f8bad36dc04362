"""Train the paper's VAE: `python train.py [overrides]`, or `python train.py -m ...` for a sweep."""

from vae_lightning.harness.run import main

if __name__ == "__main__":
    main()
