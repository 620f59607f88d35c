"""The algorithms, one module each; this list is their registration (a test keeps it equal to the
config schema's enum and to config.AlgorithmName)."""

from __future__ import annotations

from typing import Any

from ..inputs.config import RunConfig
from .base import Algorithm, Draw, Draws, LossOutput, RowGroup, ScoredGroup, StepData
from .bonbon import BoNBoN
from .bond import Bond
from .jbond import JBond
from .reinforce import Reinforce

ALGORITHMS: dict[str, type[Algorithm]] = {cls.name: cls for cls in (Bond, JBond, Reinforce, BoNBoN)}


def algorithm_for(cfg: RunConfig) -> Algorithm:
    return ALGORITHMS[cfg.algorithm](cfg)


def run_description(algorithm: Algorithm) -> dict[str, Any]:
    """What run.json tells the editor about the run beyond its config: the N it distils, the config
    at a glance, the charts with their reference lines, and every path resolved."""
    return {"distilled_n": algorithm.distilled_n, "config_summary": algorithm.config_summary(),
            "metric_groups": [group.to_json() for group in algorithm.metric_groups()],
            "paths": algorithm.cfg.resolved_paths()}


__all__ = ["ALGORITHMS", "Algorithm", "Draw", "Draws", "LossOutput", "RowGroup", "ScoredGroup", "StepData",
           "algorithm_for", "run_description"]
