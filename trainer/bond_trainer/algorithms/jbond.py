"""J-BOND, Algorithm 2 with the regulariser's sign corrected (docs/algorithms.md §5): two anchor
samples per prompt, so the forward term distils Best-of-2 and the moving anchor compounds it."""

from __future__ import annotations

from typing import Any, ClassVar, Optional

from ..run.metric_groups import MetricGroup
from .objectives import jbond_loss
from .base import Algorithm, Draws, LossOutput, RowGroup, StepData, anchor_summary
from .bond import best_of_n_metrics, best_of_n_rows, distillation_groups, loss_output


class JBond(Algorithm):
    name: ClassVar[str] = "jbond"
    PAIR: ClassVar[int] = 2  # anchor samples per prompt: the forward term distils Best-of-2
    LOSS_TERMS: ClassVar[tuple[tuple[str, str], ...]] = (("forward", "forward"), ("backward", "backward"),
                                                         ("regulariser", "regulariser"))
    HAS_ANCHOR: ClassVar[bool] = True

    @property
    def anchor_samples(self) -> int:
        return self.PAIR

    @property
    def distilled_n(self) -> Optional[int]:
        return self.PAIR

    def rows(self, draws: Draws) -> dict[str, RowGroup]:
        return {"policy": self.policy_group(draws), "best": best_of_n_rows(draws, self.PAIR)}

    def loss(self, step: StepData) -> LossOutput:
        j = self.cfg.jbond
        policy, best = step.groups["policy"], step.groups["best"]
        assert policy.anchor is not None
        terms = jbond_loss(policy.logp, policy.anchor, policy.rewards, step.rewards["anchor"], best.logp.reshape(-1),
                           j.beta, j.gamma, j.tie_rule, policy.weight_logp)
        return loss_output(terms, ("forward", "backward", "regulariser"),
                           {**self.policy_metrics(step),
                            **best_of_n_metrics(step, self.PAIR, self.PAIR, self.PAIR, self.cfg.bond.quantile_floor)})

    def component_roles(self) -> list[tuple[str, str]]:
        return [("policy", "policy"), ("anchor", "anchor"), ("bon", "Best-of-N")]

    def summary_items(self) -> list[tuple[str, Any]]:
        j = self.cfg.jbond
        return [("β", j.beta), ("anchor", anchor_summary(self.cfg)), ("γ", j.gamma)]

    def training_groups(self) -> list[MetricGroup]:
        return distillation_groups(self.PAIR)
