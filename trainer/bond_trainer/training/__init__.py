"""Training: the loop (trainer.py), one step (step.py), drawing and scoring (sampler.py), the
held-out prompts (evaluation.py), the run's lifecycle as the `train` command (session.py) and the
device (devices.py)."""
