"""BoNBoN (Gui, Garbacea & Veitch 2024, "BoNBoN Alignment for Large Language Models and the
Sweetness of Best-of-n Sampling"; docs/algorithms.md §7).

Per prompt, n anchor samples; the best y_w and the worst y_l by reward form a preference pair, and

    loss = α · (−log π(y_w))  +  (1 − α) · (h − τ)²,
    h    = [log π(y_w) − log π_anchor(y_w)] − [log π(y_l) − log π_anchor(y_l)],

sequence log-probs under the sampling transform. τ = (n − 1)·H_(n−1) is the best-minus-worst
log-ratio that Best-of-n itself has to its anchor, in expectation, for continuous rewards; the
authors write the IPO term with β = 1/(2τ). The anchor is π_ref unless `anchor.kind` moves it.

Ties: y_w is the lowest index among the highest rewards (as for Best-of-N everywhere), y_l the
highest index among the lowest, so that they are two different samples; a prompt whose n rewards all
tie states no preference, and its IPO term is left out (its SFT term stays).
"""

from __future__ import annotations

from typing import Any, ClassVar, Optional

import torch

from . import bon
from ..run.metric_groups import MetricGroup, ReferenceLine, Series
from .base import Algorithm, Draws, LossOutput, RowGroup, StepData, anchor_summary, mean


def worst_index(rewards: torch.Tensor) -> torch.Tensor:
    """Index of the lowest reward per row [G, n] -> [G]; ties go to the highest index."""
    n = rewards.shape[1]
    is_min = rewards == rewards.min(dim=1, keepdim=True).values
    index = torch.arange(n, device=rewards.device).expand_as(rewards)
    return torch.where(is_min, index, torch.full_like(index, -1)).max(dim=1).values


def bonbon_loss(logp_best: torch.Tensor, logp_worst: torch.Tensor, anchor_best: torch.Tensor,
                anchor_worst: torch.Tensor, preferred: torch.Tensor, alpha: float, tau: float
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total, sft, ipo, h) over G pairs [G]. `preferred` [G] bool: the pair states a preference
    (its rewards differ); the IPO term averages those pairs only (0 when none does)."""
    h = (logp_best - anchor_best.to(logp_best.dtype)) - (logp_worst - anchor_worst.to(logp_worst.dtype))
    sft = -logp_best.mean()
    weights = preferred.to(h.device, h.dtype)  # the rewards live on the CPU, h where the model computed
    ipo = ((h - tau) ** 2 * weights).sum() / weights.sum().clamp(min=1.0)
    return alpha * sft + (1 - alpha) * ipo, sft, ipo, h


class BoNBoN(Algorithm):
    name: ClassVar[str] = "bonbon"
    LOSS_TERMS: ClassVar[tuple[tuple[str, str], ...]] = (("sft", "SFT on y_w"), ("ipo", "IPO (h − τ)²"))
    HAS_ANCHOR: ClassVar[bool] = True

    @property
    def anchor_samples(self) -> int:
        return self.cfg.bonbon.n

    @property
    def distilled_n(self) -> Optional[int]:
        return self.cfg.bonbon.n

    @property
    def tau(self) -> float:
        tau = self.cfg.bonbon.tau
        assert tau is not None, "resolved when the config is loaded"
        return tau

    def rows(self, draws: Draws) -> dict[str, RowGroup]:
        rewards = draws.of("anchor").rewards
        n = rewards.shape[1]
        best, worst = bon.best_index(rewards), worst_index(rewards)
        return {"best": RowGroup("anchor", [g * n + int(i) for g, i in enumerate(best)], 1, anchor=True),
                "worst": RowGroup("anchor", [g * n + int(i) for g, i in enumerate(worst)], 1, anchor=True)}

    def loss(self, step: StepData) -> LossOutput:
        best, worst = step.groups["best"], step.groups["worst"]
        assert best.anchor is not None and worst.anchor is not None
        preferred = best.raw_rewards.reshape(-1) > worst.raw_rewards.reshape(-1)
        total, sft, ipo, h = bonbon_loss(best.logp.reshape(-1), worst.logp.reshape(-1), best.anchor.reshape(-1),
                                         worst.anchor.reshape(-1), preferred, self.cfg.bonbon.alpha, self.tau)
        with torch.no_grad():
            ratio_best = best.detached_logp().reshape(-1) - best.anchor.double().cpu().reshape(-1)
            ratio_worst = worst.detached_logp().reshape(-1) - worst.anchor.double().cpu().reshape(-1)
            kept = preferred.cpu()
            metrics = {
                "reward/anchor": mean(step.raw_rewards["anchor"]), "reward/bon": mean(best.raw_rewards),
                "reward/worst": mean(worst.raw_rewards),
                "bonbon/h": mean(h.detach().cpu()[kept]) if bool(kept.any()) else 0.0,
                "bonbon/logratio_best": mean(ratio_best), "bonbon/logratio_worst": mean(ratio_worst),
                "bonbon/tied_share": 1.0 - mean(kept.double()),
            }
            rewards = step.raw_rewards["anchor"]
            winners, losers = bon.best_index(rewards), worst_index(rewards)
            for name, values in step.parts.get("anchor", {}).items():
                metrics[f"reward/{name}/anchor"] = mean(values)
                metrics[f"reward/{name}/bon"] = mean(values.gather(1, winners[:, None]))
                metrics[f"reward/{name}/worst"] = mean(values.gather(1, losers[:, None]))
        return LossOutput(total, {"sft": sft, "ipo": ipo}, metrics)

    def component_roles(self) -> list[tuple[str, str]]:
        return [("anchor", "anchor"), ("bon", "best of n (y_w)"), ("worst", "worst of n (y_l)")]

    def summary_items(self) -> list[tuple[str, Any]]:
        b = self.cfg.bonbon
        return [("n", b.n), ("α", b.alpha), ("τ", round(self.tau, 4)), ("anchor", anchor_summary(self.cfg))]

    def training_groups(self) -> list[MetricGroup]:
        n = self.cfg.bonbon.n
        return [
            MetricGroup("reward", "Reward of the anchor's samples", "training", "train",
                        [Series("reward/anchor", "anchor"), Series("reward/bon", "best of n (y_w)"),
                         Series("reward/worst", "worst of n (y_l)")]),
            MetricGroup("bonbon_h", "Log-ratio margin h (best − worst)", "training", "train",
                        [Series("bonbon/h", "h")], reference=ReferenceLine(f"τ = (n−1)·H(n−1) (n={n})", self.tau)),
            MetricGroup("bonbon_logratio", "log π − log π_anchor at y_w and y_l", "training", "train",
                        [Series("bonbon/logratio_best", "at y_w"), Series("bonbon/logratio_worst", "at y_l")],
                        reference=ReferenceLine(f"Best-of-n at y_w: log n − (n−1)/n (n={n})", bon.kl_bon_bound(n))),
            MetricGroup("bonbon_ties", "Prompts whose n rewards all tie (no IPO term)", "training", "train",
                        [Series("bonbon/tied_share", "share")]),
        ]
