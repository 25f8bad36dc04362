"""`python -m vae_lightning.reproduce`: runs `vae_lightning.analysis.reproduce`, where the code lives."""

from vae_lightning.analysis.reproduce import main

if __name__ == "__main__":
    main()
