"""`python -m vae_lightning.plot`: runs `vae_lightning.analysis.plot`, where the code lives."""

from vae_lightning.analysis.plot import main

if __name__ == "__main__":
    main()
