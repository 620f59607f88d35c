"""Best-of-N mathematics (docs/algorithms.md §1-2, §11). Pure tensor functions, tested against exact results.

Ties: the Best-of-N winner is the highest reward, ties going to the lowest sample index. Quantiles
use ≤ as in p≤, so a sample tied with every anchor sample has p̂≤ = 1.
"""

from __future__ import annotations

import math
from typing import Literal

import torch

QuantileFloor = Literal["add_one", "clamp"]
TieHandling = Literal["exact", "paper"]


def log_quantile(rewards: torch.Tensor, reference_rewards: torch.Tensor, floor: QuantileFloor, n: int) -> torch.Tensor:
    """log p̂≤ of each reward among reference samples of the same prompt.

    rewards [G, S], reference_rewards [G, K] -> [G, S].
    add_one: (#{r_i ≤ r} + 1) / (K + 1).  clamp: max(#{r_i ≤ r} / K, 1 / (2n)).
    """
    p_le, _ = quantile_estimates(rewards, reference_rewards, floor, n)
    return p_le.log().to(rewards.dtype if rewards.is_floating_point() else torch.float32)


def quantile_estimates(rewards: torch.Tensor, reference_rewards: torch.Tensor, floor: QuantileFloor,
                       n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(p̂≤, p̂<) of each reward among reference samples of the same prompt, float64, from the same
    samples and the same floor. [G, S], [G, K] -> [G, S] each.

    add_one counts one pseudo-sample of reward −∞, which is below every y: (#≤ + 1)/(K+1) and
    (#< + 1)/(K+1), so p̂≤ − p̂< = #=/(K+1), zero when no sample ties with y.
    clamp: #≤/K and #</K with p̂≤ raised to 1/(2n); p̂< never exceeds p̂≤.
    """
    at_or_below = (reference_rewards[:, None, :] <= rewards[:, :, None]).sum(dim=2).double()
    below = (reference_rewards[:, None, :] < rewards[:, :, None]).sum(dim=2).double()
    k = reference_rewards.shape[1]
    if floor == "add_one":
        return (at_or_below + 1.0) / (k + 1.0), (below + 1.0) / (k + 1.0)
    p_le = (at_or_below / k).clamp(min=1.0 / (2 * n))
    return p_le, torch.minimum(below / k, p_le)


def tie_corrected_log_quantile(p_le: torch.Tensor, p_lt: torch.Tensor, n: int) -> torch.Tensor:
    """(1/(N−1))·log[(p≤^N − p<^N) / (N·(p≤ − p<))]: BOND's reward with ties (float64).

    Written as log p≤ + log(mean_{i<N} ρ^i)/(N−1), ρ = p</p≤ (the geometric sum of Theorem 1), which
    is stable and equals log p≤ at ρ = 1, the limit p< → p≤ (no tie). Its backward-KL optimum,
    π ∝ π_ref·exp((N−1)·r) = π_ref·(p≤^N − p<^N)/(N·(p≤ − p<)), is π_BoN/N: exact Best-of-N with
    each tied level's mass split in proportion to π_ref.
    """
    if n < 2:
        raise ValueError(f"Best-of-N needs N ≥ 2, got {n}")
    rho = torch.where(p_le > p_lt, p_lt / p_le, torch.ones_like(p_le))
    powers = torch.stack([rho.pow(i) for i in range(n)]).mean(dim=0)
    return p_le.log() + powers.log() / (n - 1)


def bond_reward(rewards: torch.Tensor, reference_rewards: torch.Tensor, floor: QuantileFloor, n: int,
                ties: TieHandling) -> torch.Tensor:
    """r_BOND of each reward against reference samples [G, S], [G, K] -> [G, S].

    paper: log p̂≤ (Sec. 4.2, with its missing log restored). exact: the tie-aware reward above, with
    p̂≤ and p̂< from the same samples; identical to paper when no sample ties.
    """
    dtype = rewards.dtype if rewards.is_floating_point() else torch.float32
    p_le, p_lt = quantile_estimates(rewards, reference_rewards, floor, n)
    if ties == "paper":
        return p_le.log().to(dtype)
    return tie_corrected_log_quantile(p_le, p_lt, n).to(dtype)


def best_index(rewards: torch.Tensor) -> torch.Tensor:
    """Index of the highest reward per row [G, N] -> [G]; ties go to the lowest index."""
    n = rewards.shape[1]
    # Break ties deterministically: among maxima pick the smallest index.
    is_max = rewards == rewards.max(dim=1, keepdim=True).values
    index = torch.arange(n, device=rewards.device).expand_as(rewards)
    return torch.where(is_max, index, torch.full_like(index, n)).min(dim=1).values


def reward_cdf(probs: torch.Tensor, rewards: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact p≤(y) and p<(y) for every output y of an enumerable set with probabilities `probs`."""
    sorted_rewards, order = rewards.sort()
    cumulative = torch.cat([probs.new_zeros(1), probs[order].cumsum(0)])
    p_le = cumulative[torch.searchsorted(sorted_rewards, rewards, right=True)]
    p_lt = cumulative[torch.searchsorted(sorted_rewards, rewards, right=False)]
    return p_le, p_lt


def bon_probabilities(ref_probs: torch.Tensor, rewards: torch.Tensor, n: int) -> torch.Tensor:
    """Exact π_BoN over an enumerable output set, closed form p≤^N − p<^N (Theorem 1).

    Ties between distinct outputs with equal reward share the tied mass in proportion to π_ref
    (the same as breaking ties uniformly at random among equal rewards).
    """
    p_le, p_lt = reward_cdf(ref_probs, rewards)
    tied_mass = p_le - p_lt
    level_mass = p_le.pow(n) - p_lt.pow(n)
    share = torch.where(tied_mass > 0, ref_probs / tied_mass.clamp(min=1e-300), torch.zeros_like(ref_probs))
    return level_mass * share


def bon_probabilities_theorem1(ref_probs: torch.Tensor, rewards: torch.Tensor, n: int) -> torch.Tensor:
    """π_BoN(y) = π_ref(y) · p≤(y)^(N−1) · Σ_{i=1..N} (p<(y)/p≤(y))^(i−1), for rewards without ties."""
    p_le, p_lt = reward_cdf(ref_probs, rewards)
    ratio = p_lt / p_le
    correction = sum(ratio.pow(i - 1) for i in range(1, n + 1))
    return ref_probs * p_le.pow(n - 1) * correction


def kl_bon_bound(n: int) -> float:
    """log N − (N−1)/N: KL(π_BoN ‖ π_ref) for continuous rewards, an upper bound with ties."""
    return math.log(n) - (n - 1) / n


def expected_max_weights(m: int, n: int) -> torch.Tensor:
    """Weights w_i with E[max of n draws] ≈ Σ w_i r_(i) over m ≥ n sorted (ascending) samples.

    Unbiased U-statistic: the i-th smallest (1-based) is the max of C(i−1, n−1) of the C(m, n)
    size-n subsets.
    """
    if n > m:
        raise ValueError(f"need at least n={n} samples, got {m}")
    i = torch.arange(1, m + 1, dtype=torch.float64)
    log_w = (torch.lgamma(i) - torch.lgamma(i - n + 1).where(i >= n, torch.zeros_like(i))
             - math.lgamma(n) - (math.lgamma(m + 1) - math.lgamma(n + 1) - math.lgamma(m - n + 1)))
    return torch.where(i >= n, log_w.exp(), torch.zeros_like(i))


def bon_reward_curve(reference_rewards: torch.Tensor, n_max: int) -> torch.Tensor:
    """Mean over prompts of E[reward of Best-of-N of π_ref] for N = 1..n_max. [G, M] -> [n_max]."""
    sorted_rewards = reference_rewards.double().sort(dim=1).values
    m = sorted_rewards.shape[1]
    return torch.stack([(sorted_rewards @ expected_max_weights(m, n)).mean() for n in range(1, n_max + 1)])


def win_rate_vs_bon(rewards: torch.Tensor, reference_rewards: torch.Tensor, n: int) -> torch.Tensor:
    """P(r(y) beats Best-of-n of π_ref), ties counted half, unbiased over size-n subsets.

    rewards [G, S], reference_rewards [G, M] -> scalar. A subset's max is < r when all n members
    are < r: C(#<, n) / C(M, n).
    """
    m = reference_rewards.shape[1]
    below = (reference_rewards[:, None, :] < rewards[:, :, None]).sum(dim=2).double()
    at_or_below = (reference_rewards[:, None, :] <= rewards[:, :, None]).sum(dim=2).double()

    def fraction(count: torch.Tensor) -> torch.Tensor:
        valid = count >= n
        log_c = torch.lgamma(count + 1) - torch.lgamma((count - n + 1).clamp(min=1)) - math.lgamma(n + 1)
        log_total = math.lgamma(m + 1) - math.lgamma(m - n + 1) - math.lgamma(n + 1)
        return torch.where(valid, (log_c - log_total).exp(), torch.zeros_like(count))

    strictly = fraction(below)
    ties = fraction(at_or_below) - strictly
    return (strictly + 0.5 * ties).mean()


def effective_n(policy_reward: float, curve: torch.Tensor) -> float:
    """The N at which Best-of-N of π_ref earns the policy's mean reward, linear between integers.

    Clamped to [1, len(curve)]: below Best-of-1 reads 1, beyond the curve reads n_max.
    """
    values = curve.tolist()
    if policy_reward <= values[0]:
        return 1.0
    for index in range(1, len(values)):
        low, high = values[index - 1], values[index]
        if policy_reward <= high:
            return float(index + (policy_reward - low) / (high - low)) if high > low else float(index + 1)
    return float(len(values))
