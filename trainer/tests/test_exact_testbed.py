"""The exact testbed: a categorical policy over 64 outputs with a known reward, where π_BoN is
computed exactly. Training uses the trainer's own loss functions (objectives.py) on samples."""

from __future__ import annotations

import math

import pytest
import torch

from bond_trainer.algorithms import bon
from bond_trainer.algorithms.objectives import bond_loss

VOCAB = 64


def kl(p: torch.Tensor, q: torch.Tensor) -> float:
    return float((p * (p.log() - q.log())).sum())


def make_problem(seed: int = 0, levels: int = VOCAB) -> tuple[torch.Tensor, torch.Tensor]:
    """levels < VOCAB: a discrete reward with that many values, each shared by many outputs (ties)."""
    g = torch.Generator().manual_seed(seed)
    theta_ref = 0.7 * torch.randn(VOCAB, generator=g, dtype=torch.float64)
    rewards = (torch.randperm(VOCAB, generator=g) % levels).double()  # levels = VOCAB: distinct, no ties
    return theta_ref, rewards


def exact_p_le(probs: torch.Tensor, rewards: torch.Tensor) -> torch.Tensor:
    return bon.reward_cdf(probs, rewards)[0]


def train_bond(theta_anchor: torch.Tensor, rewards: torch.Tensor, n: int, beta: float, *, steps: int = 800,
               groups: int = 1024, k: int | None = None, seed: int = 0, theta_init: torch.Tensor | None = None,
               hard_period: int | None = None, ties: bon.TieHandling = "paper") -> torch.Tensor:
    """Run BOND on the categorical; returns the final policy logits.

    k=None uses exact quantiles of the anchor, else a Monte Carlo estimate from k anchor samples.
    hard_period: copy the policy into the anchor every so many steps (iterative BOND).
    ties: the reward r_BOND, paper (log p≤) or exact (tie-aware), as bond.ties.
    """
    g = torch.Generator().manual_seed(seed)
    theta = (theta_init if theta_init is not None else theta_anchor).clone().requires_grad_(True)
    anchor = theta_anchor.clone()
    optimizer = torch.optim.Adam([theta], lr=0.05)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * (s % (hard_period or steps)) / (hard_period or steps))) + 0.02)
    for step in range(steps):
        if hard_period and step and step % hard_period == 0:
            anchor = theta.detach().clone()
        anchor_probs = anchor.softmax(0)
        policy_probs = theta.detach().softmax(0)
        y = torch.multinomial(policy_probs, groups, replacement=True, generator=g)[:, None]            # [G, 1]
        candidates = torch.multinomial(anchor_probs, groups * n, replacement=True, generator=g).view(groups, n)
        best = candidates.gather(1, bon.best_index(rewards[candidates])[:, None]).squeeze(1)          # [G]
        if k is None:
            p_le, p_lt = bon.reward_cdf(anchor_probs, rewards)
            log_q = p_le[y].log() if ties == "paper" else bon.tie_corrected_log_quantile(p_le[y], p_lt[y], n)
        else:
            mc = torch.multinomial(anchor_probs, groups * k, replacement=True, generator=g).view(groups, k)
            log_q = bon.bond_reward(rewards[y], rewards[mc], "add_one", n, ties)
        log_probs = theta.log_softmax(0)
        terms = bond_loss(log_probs[y], anchor.log_softmax(0)[y], log_q, log_probs[best], n, beta)
        optimizer.zero_grad()
        terms.total.backward()
        optimizer.step()
        schedule.step()
    return theta.detach()


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0], ids=["forward-only", "jeffreys", "backward-only"])
def test_bond_reaches_exact_best_of_n(beta: float) -> None:
    theta_ref, rewards = make_problem()
    n = 4
    target = bon.bon_probabilities(theta_ref.softmax(0), rewards, n)
    policy = train_bond(theta_ref, rewards, n, beta).softmax(0)
    start = kl(target, theta_ref.softmax(0))
    assert start > 0.3  # the problem is not trivial: π_ref is far from π_BoN
    # J_β's own divergence to π_BoN must be small (forward KL for β=0, backward for β=1).
    divergence = (1 - beta) * kl(target, policy) + beta * kl(policy, target)
    assert divergence < 0.02, f"J_{beta} = {divergence:.4f} nats (started at {start:.3f})"


def test_backward_optimum_is_the_papers_approximation() -> None:
    """Backward KL with r = log p≤ and β = 1/(N−1) targets π_ref·p≤^(N−1) (the sum dropped); check
    that the trainer lands there and that the approximation is within 0.02 nats of exact π_BoN."""
    theta_ref, rewards = make_problem(seed=3)
    n = 4
    ref = theta_ref.softmax(0)
    approx = ref * exact_p_le(ref, rewards).pow(n - 1)
    approx = approx / approx.sum()
    policy = train_bond(theta_ref, rewards, n, 1.0, seed=3).softmax(0)
    assert kl(policy, approx) < 0.01
    assert kl(approx, bon.bon_probabilities(ref, rewards, n)) < 0.02


def test_monte_carlo_quantiles_reach_best_of_n_and_log_quantile_target() -> None:
    theta_ref, rewards = make_problem(seed=5)
    n = 4
    ref = theta_ref.softmax(0)
    target = bon.bon_probabilities(ref, rewards, n)
    policy = train_bond(theta_ref, rewards, n, 0.5, k=16, seed=5).softmax(0)
    assert kl(target, policy) < 0.05
    # Mean log-quantile of policy samples under π_ref approaches E_{π_BoN}[log p≤] = −1/N (continuous case).
    mean_log_q = float((policy * exact_p_le(ref, rewards).log()).sum())
    exact_discrete = float((target * exact_p_le(ref, rewards).log()).sum())
    assert abs(mean_log_q - exact_discrete) < 0.03
    assert abs(exact_discrete - (-1 / n)) < 0.03
    assert float((ref * exact_p_le(ref, rewards).log()).sum()) < -0.8  # under π_ref it is about −1


def test_iterative_bond_with_hard_anchor_matches_best_of_n_to_the_m() -> None:
    theta_ref, rewards = make_problem(seed=7)
    n, m = 2, 3
    target = bon.bon_probabilities(theta_ref.softmax(0), rewards, n ** m)
    period = 500
    # M anchor updates: the anchor is π_ref, then the policy after each phase.
    policy = train_bond(theta_ref, rewards, n, 0.5, steps=period * m, hard_period=period, seed=7).softmax(0)
    assert kl(target, policy) < 0.03, kl(target, policy)
    # And it is not merely Best-of-2 of π_ref.
    assert kl(bon.bon_probabilities(theta_ref.softmax(0), rewards, n), policy) > 0.3


def papers_fixed_point(ref: torch.Tensor, rewards: torch.Tensor, n: int) -> torch.Tensor:
    approx = ref * exact_p_le(ref, rewards).pow(n - 1)
    return approx / approx.sum()


@pytest.mark.parametrize("ties", ["exact", "paper"])
def test_with_tied_rewards_the_backward_fixed_point_is_best_of_n_only_with_exact_ties(ties: str) -> None:
    """Three reward levels shared by 64 outputs, N = 4: the paper's r = log p≤ distils π_ref·p≤^(N−1),
    which is not Best-of-N when rewards tie; bond.ties = exact distils π_BoN itself."""
    theta_ref, rewards = make_problem(seed=11, levels=3)
    n = 4
    ref = theta_ref.softmax(0)
    target = bon.bon_probabilities(ref, rewards, n)
    paper = papers_fixed_point(ref, rewards, n)
    assert kl(paper, target) > 0.015  # the two fixed points really differ here (0.020 nats)
    policy = train_bond(theta_ref, rewards, n, 1.0, seed=11, ties=ties).softmax(0)
    expected, other = (target, paper) if ties == "exact" else (paper, target)
    assert kl(policy, expected) < 0.002, kl(policy, expected)
    assert kl(policy, other) > 0.01


def test_tie_aware_reward_equals_the_papers_without_ties_and_log_bon_ratio_with_them() -> None:
    theta_ref, rewards = make_problem(seed=11, levels=4)
    ref = theta_ref.softmax(0)
    for n in (2, 4, 8):
        p_le, p_lt = bon.reward_cdf(ref, rewards)
        r = bon.tie_corrected_log_quantile(p_le, p_lt, n)
        # (N−1)·r = log(π_BoN / (N·π_ref)), tied or not.
        assert torch.allclose((n - 1) * r, (bon.bon_probabilities(ref, rewards, n) / (n * ref)).log(), atol=1e-10)
        # With nothing tied (p< → p≤) it is the paper's log p≤.
        assert torch.allclose(bon.tie_corrected_log_quantile(p_le, p_le, n), p_le.log())


def test_monte_carlo_tie_aware_reward_gets_closer_to_best_of_n_than_the_papers() -> None:
    """bon.bond_reward from k = 16 samples (p≤ and p< from the same samples, add-one floor)."""
    theta_ref, rewards = make_problem(seed=11, levels=3)
    n = 4
    target = bon.bon_probabilities(theta_ref.softmax(0), rewards, n)
    exact = train_bond(theta_ref, rewards, n, 1.0, k=16, seed=11, ties="exact").softmax(0)
    paper = train_bond(theta_ref, rewards, n, 1.0, k=16, seed=11, ties="paper").softmax(0)
    assert kl(exact, target) < 0.004, kl(exact, target)  # measured 0.0015
    assert kl(paper, target) > 3 * kl(exact, target)     # measured 0.027
