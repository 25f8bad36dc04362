"""The analysis: sweep figures and tables, evaluation of a run, the paper's reproduction."""
