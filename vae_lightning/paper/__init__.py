"""The paper's code: the VAE (eqs. 1-13), its loss (eqs. 14-20), the LightningModule and MNIST.
Imports nothing from the run harness or the analysis."""
