"""REINFORCE with a KL penalty to π_ref and a leave-one-out baseline, the paper's baseline (TRL's
RLOO; docs/algorithms.md §6)."""

from __future__ import annotations

from typing import Any, ClassVar

from ..run.metric_groups import MetricGroup, Series
from .objectives import reinforce_loss
from .base import Algorithm, Draws, LossOutput, RowGroup, StepData
from .bond import loss_output


class Reinforce(Algorithm):
    name: ClassVar[str] = "reinforce"
    LOSS_TERMS: ClassVar[tuple[tuple[str, str], ...]] = (("backward", "backward"),)
    REFERENCE_IN_LOSS: ClassVar[bool] = True  # the KL penalty in the return

    def rows(self, draws: Draws) -> dict[str, RowGroup]:
        return {"policy": self.policy_group(draws)}

    def loss(self, step: StepData) -> LossOutput:
        policy = step.groups["policy"]
        assert policy.reference is not None
        terms = reinforce_loss(policy.logp, policy.reference, policy.rewards, self.cfg.reinforce.beta_kl,
                               policy.weight_logp)
        return loss_output(terms, ("backward",), self.policy_metrics(step))

    def summary_items(self) -> list[tuple[str, Any]]:
        return [("β_KL", self.cfg.reinforce.beta_kl), ("samples/prompt", self.cfg.reinforce.samples_per_prompt)]

    def training_groups(self) -> list[MetricGroup]:
        return [MetricGroup("reward", "Reward", "training", "train", [Series("reward/policy", "policy")])]
