"""BOND: the Jeffreys divergence J_β to Best-of-N of the anchor, with Monte Carlo quantiles
(docs/algorithms.md §3–§4). Also the Best-of-N rows J-BOND shares."""

from __future__ import annotations

from typing import Any, ClassVar, Optional


from . import bon
from ..run.metric_groups import MetricGroup, ReferenceLine, Series
from .objectives import LossTerms, bond_loss
from .base import Algorithm, Draws, LossOutput, RowGroup, StepData, anchor_summary, mean


def best_of_n_rows(draws: Draws, candidates: int) -> RowGroup:
    """The Best-of-n winner of each prompt among its first `candidates` anchor samples (ties to the
    lowest index, bon.best_index): the forward term's SFT targets."""
    anchor = draws.of("anchor")
    per_prompt = anchor.rewards.shape[1]
    winners = bon.best_index(anchor.rewards[:, :candidates])
    return RowGroup("anchor", [g * per_prompt + int(w) for g, w in enumerate(winners)], 1)


def best_of_n_metrics(step: StepData, candidates: int, quantile_samples: int, n: int, floor: Any) -> dict[str, float]:
    """Rewards of the anchor and of its Best-of-n, per component too, and the log-quantile of the
    policy's samples among the anchor's (the paper's metric; evaluation uses eval.mc_samples)."""
    anchor = step.raw_rewards["anchor"]
    winners = bon.best_index(anchor[:, :candidates])
    metrics = {"reward/anchor": mean(anchor), "reward/bon": mean(anchor.gather(1, winners[:, None]))}
    for name, values in step.parts.get("anchor", {}).items():
        metrics[f"reward/{name}/anchor"] = mean(values)
        metrics[f"reward/{name}/bon"] = mean(values[:, :candidates].gather(1, winners[:, None]))
    metrics["quantile/log_policy"] = mean(bon.log_quantile(step.raw_rewards["policy"], anchor[:, :quantile_samples],
                                                           floor, n))
    return metrics


def distillation_groups(n: int) -> list[MetricGroup]:
    return [
        MetricGroup("reward", "Reward", "training", "train",
                    [Series("reward/policy", "policy"), Series("reward/anchor", "anchor"), Series("reward/bon", "Best-of-N")]),
        MetricGroup("quantile", "Log-quantile of policy samples", "training", "train",
                    [Series("quantile/log_policy", "log p̂≤ (policy)")],
                    reference=ReferenceLine(f"target −1/N (N={n})", -1.0 / n)),
    ]


def loss_output(terms: LossTerms, names: tuple[str, ...], metrics: dict[str, float]) -> LossOutput:
    """A pure objective's LossTerms as the trainer logs them: the named terms, and the mean return."""
    return LossOutput(terms.total, {name: getattr(terms, name) for name in names},
                      {**metrics, "return/mean": terms.returns.float().mean().item()})


class Bond(Algorithm):
    """J_β to Best-of-N of the anchor: SFT on the winner of N anchor samples (forward) plus the policy
    gradient of the quantile reward (backward)."""
    name: ClassVar[str] = "bond"
    LOSS_TERMS: ClassVar[tuple[tuple[str, str], ...]] = (("forward", "forward"), ("backward", "backward"))
    HAS_ANCHOR: ClassVar[bool] = True

    @property
    def anchor_samples(self) -> int:
        return max(self.cfg.bond.n, self.cfg.bond.k)

    @property
    def distilled_n(self) -> Optional[int]:
        return self.cfg.bond.n

    def rows(self, draws: Draws) -> dict[str, RowGroup]:
        return {"policy": self.policy_group(draws), "best": best_of_n_rows(draws, self.cfg.bond.n)}

    def loss(self, step: StepData) -> LossOutput:
        b = self.cfg.bond
        policy, best = step.groups["policy"], step.groups["best"]
        assert policy.anchor is not None
        reward = bon.bond_reward(policy.rewards, step.rewards["anchor"][:, :b.k], b.quantile_floor, b.n, b.ties)
        terms = bond_loss(policy.logp, policy.anchor, reward, best.logp.reshape(-1), b.n, b.beta, b.backward_scale,
                          policy.weight_logp)
        return loss_output(terms, ("forward", "backward"),
                           {**self.policy_metrics(step), **best_of_n_metrics(step, b.n, b.k, b.n, b.quantile_floor)})

    def component_roles(self) -> list[tuple[str, str]]:
        return [("policy", "policy"), ("anchor", "anchor"), ("bon", "Best-of-N")]

    def summary_items(self) -> list[tuple[str, Any]]:
        b = self.cfg.bond
        return [("N", b.n), ("β", b.beta), ("k", b.k), ("anchor", anchor_summary(self.cfg)), ("ties", b.ties)]

    def training_groups(self) -> list[MetricGroup]:
        return distillation_groups(self.cfg.bond.n)



