"""Train the paper's VAE: `python train.py [overrides]`, or `python train.py -m ...` for a sweep."""

import gc

from vae_lightning.startup import paused_by_ctrl_z, stopped_in_one_line

paused_by_ctrl_z()
with stopped_in_one_line():
    # Importing torch and Lightning creates some 750,000 objects that live until the process ends, and
    # almost no garbage: the collector's passes over them took a quarter of the import, about 1 s here.
    gc.disable()
    from vae_lightning.harness.run import main

    # Frozen, they are never walked again: not in full collections, not at exit, not in forked jobs
    # (where walking them would copy their memory).
    gc.freeze()
    gc.enable()

if __name__ == "__main__":
    main()
