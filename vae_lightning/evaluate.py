"""`python -m vae_lightning.evaluate`: runs `vae_lightning.analysis.evaluate`, where the code lives."""

from vae_lightning.analysis.evaluate import main

if __name__ == "__main__":
    main()
