"""Sweeps on Optuna: a *.sweep.json file (spec), its study and folder record (study), and the
workers that train its trials as ordinary trainer processes (runner)."""
