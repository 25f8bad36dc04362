"""`python -m vae_lightning.compare`: runs `vae_lightning.analysis.compare`, where the code lives."""

from vae_lightning.analysis.compare import main

if __name__ == "__main__":
    main()
