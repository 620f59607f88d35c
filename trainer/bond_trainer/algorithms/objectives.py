"""The three objectives as pure functions of sequence log-probs and rewards (docs/algorithms.md §3, §5, §6).

Each returns surrogate losses whose gradients are the estimators in docs/algorithms.md; everything
that is a weight (returns, advantages, log-ratios) is detached, only log π of the sampled sequences
carries gradient. Shapes: G prompts, S policy samples per prompt.

`weight_logp` (optional): the log π the returns use, when the gradient-carrying log π comes from a
forward with dropout (train.dropout); by default the detached gradient-carrying log π itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Optional

import torch

J_BOND_PENALTY = math.log(16.0)  # r_J = −log 16 when y loses to both anchor samples (docs/algorithms.md §5)


@dataclass
class LossTerms:
    total: torch.Tensor
    forward: torch.Tensor
    backward: torch.Tensor
    regulariser: torch.Tensor
    returns: torch.Tensor      # [G, S] the return R each policy sample was weighted by (detached)


def leave_one_out_baseline(returns: torch.Tensor) -> torch.Tensor:
    """Baseline b for each return [G, S]: the mean of the other samples of the same prompt when
    S ≥ 2, else the mean of the other prompts' returns in the batch (0 for a batch of one)."""
    groups, per_group = returns.shape
    if per_group >= 2:
        return (returns.sum(dim=1, keepdim=True) - returns) / (per_group - 1)
    flat = returns.reshape(-1)
    if flat.numel() < 2:
        return torch.zeros_like(returns)
    return ((flat.sum() - flat) / (flat.numel() - 1)).reshape(groups, per_group)


def _log_ratio(logp_policy: torch.Tensor, logp_other: torch.Tensor, weight_logp: Optional[torch.Tensor]) -> torch.Tensor:
    own = logp_policy if weight_logp is None else weight_logp.to(logp_policy.dtype)
    return (own - logp_other).detach()


def bond_loss(logp_policy: torch.Tensor, logp_anchor: torch.Tensor, bond_reward: torch.Tensor,
              logp_policy_best: torch.Tensor, n: int, beta: float,
              backward_scale: Literal["n_minus_1", "one"] = "n_minus_1",
              weight_logp: Optional[torch.Tensor] = None) -> LossTerms:
    """Jeffreys J_β to Best-of-n of the anchor.

    forward:  −E_{y~BoN} log π(y)                       (SFT on the Best-of-n winners, [G])
    backward: −(N−1)·E_{y~π}[log π(y)·(R − b)],  R = r_BOND(y) − (log π(y) − log π_anchor(y))/(N−1)
    r_BOND is log p̂≤(y) (bond.ties paper) or its tie-aware form (exact), see bon.bond_reward.
    """
    beta_bond = 1.0 / (n - 1)
    log_ratio = _log_ratio(logp_policy, logp_anchor, weight_logp)
    returns = bond_reward.detach() - beta_bond * log_ratio
    advantage = returns - leave_one_out_baseline(returns)
    scale = float(n - 1) if backward_scale == "n_minus_1" else 1.0
    backward = -scale * (advantage * logp_policy).mean()
    forward = -logp_policy_best.mean()
    zero = torch.zeros((), device=logp_policy.device)
    return LossTerms((1 - beta) * forward + beta * backward, forward, backward, zero, returns)


def jbond_reward(rewards_policy: torch.Tensor, rewards_anchor: torch.Tensor,
                 tie_rule: Literal["strict", "inclusive"]) -> torch.Tensor:
    """r_J(y) = −log 16 if y is worse than both anchor samples, else 0. [G, S], [G, 2] -> [G, S]."""
    worst_anchor = rewards_anchor.min(dim=1, keepdim=True).values
    worse = rewards_policy < worst_anchor if tie_rule == "strict" else rewards_policy <= worst_anchor
    dtype = rewards_policy.dtype if rewards_policy.is_floating_point() else torch.float32
    return -J_BOND_PENALTY * worse.to(dtype)


def jbond_loss(logp_policy: torch.Tensor, logp_anchor: torch.Tensor, rewards_policy: torch.Tensor,
               rewards_anchor: torch.Tensor, logp_policy_best: torch.Tensor, beta: float, gamma: float,
               tie_rule: Literal["strict", "inclusive"] = "strict",
               weight_logp: Optional[torch.Tensor] = None) -> LossTerms:
    """J-BOND (Algorithm 2) with the regulariser's sign corrected.

    G_FW  = −∇ log π(y'_best)
    G_BW  = −∇ log π(y)·(R − b),  R = r_J(y) − (log π(y) − log π_anchor(y))
    G_Reg = +∇ log π(y)·(log π(y) − log π_anchor(y))   (descending it lowers KL(π‖π_anchor);
                                                        Alg. 2 prints a minus sign: a typo)
    """
    log_ratio = _log_ratio(logp_policy, logp_anchor, weight_logp)
    returns = jbond_reward(rewards_policy, rewards_anchor, tie_rule).to(logp_policy.dtype) - log_ratio
    advantage = returns - leave_one_out_baseline(returns)
    backward = -(advantage * logp_policy).mean()
    regulariser = (log_ratio * logp_policy).mean()
    forward = -logp_policy_best.mean()
    total = (1 - beta) * forward + beta * backward + gamma * regulariser
    return LossTerms(total, forward, backward, regulariser, returns)


def reinforce_loss(logp_policy: torch.Tensor, logp_ref: torch.Tensor, rewards: torch.Tensor,
                   beta_kl: float, weight_logp: Optional[torch.Tensor] = None) -> LossTerms:
    """REINFORCE with a KL penalty (the paper's baseline; TRL's RLOO):
    R = r − β_RL·(log π − log π_ref), leave-one-out baseline within each prompt's samples."""
    returns = rewards.to(logp_policy.dtype) - beta_kl * _log_ratio(logp_policy, logp_ref, weight_logp)
    advantage = returns - leave_one_out_baseline(returns)
    backward = -(advantage * logp_policy).mean()
    zero = torch.zeros((), device=logp_policy.device)
    return LossTerms(backward, zero, backward, zero, returns)
