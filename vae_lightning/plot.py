"""`python -m vae_lightning.plot`: runs `vae_lightning.analysis.plot`, where the code lives."""

from vae_lightning.startup import stopped_in_one_line

if __name__ == "__main__":
    with stopped_in_one_line():
        from vae_lightning.analysis.plot import main
    main()
