"""BOND Studio's trainer: BOND, J-BOND and REINFORCE in PyTorch, writing the run directory."""

import warnings

__version__ = "0.1.0"

# The core needs torch alone; torch warns at import when numpy is absent, which is fine for us.
warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
