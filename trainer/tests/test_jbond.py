"""J-BOND (docs/algorithms.md): the sign of each gradient term, the −log 16 reward, the EMA anchor, and
the fixed points a whole training run reaches.

Each term is isolated and one SGD step is taken on it alone on the categorical testbed, where
every probability and KL is exact."""

from __future__ import annotations

import math

import pytest
import torch

from bond_trainer.algorithms.objectives import J_BOND_PENALTY, jbond_loss, jbond_reward, leave_one_out_baseline
from bond_trainer.models.roles import ema_update


def kl(p: torch.Tensor, q: torch.Tensor) -> float:
    return float((p * (p.log() - q.log())).sum())


def setup(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(16, generator=g, dtype=torch.float64), torch.randn(16, generator=g, dtype=torch.float64)


def sgd_step(theta: torch.Tensor, loss: torch.Tensor, lr: float) -> torch.Tensor:
    (grad,) = torch.autograd.grad(loss, theta)
    return (theta - lr * grad).detach()


def test_regulariser_step_lowers_kl_to_anchor() -> None:
    """G_Reg = +∇log π(y)·(log π(y) − log π_anchor(y)). Alg. 2's printed minus sign would raise it."""
    theta0, anchor = setup()
    theta = theta0.clone().requires_grad_(True)
    g = torch.Generator().manual_seed(1)
    y = torch.multinomial(theta0.softmax(0), 50_000, replacement=True, generator=g)[:, None]
    log_probs = theta.log_softmax(0)
    rewards = torch.zeros(50_000, 1, dtype=torch.float64)
    terms = jbond_loss(log_probs[y], anchor.log_softmax(0)[y], rewards, torch.zeros(50_000, 2, dtype=torch.float64),
                       log_probs[y[:, 0]], beta=0.5, gamma=1.0)
    before = kl(theta0.softmax(0), anchor.softmax(0))
    after = kl(sgd_step(theta, terms.regulariser, 0.1).softmax(0), anchor.softmax(0))
    assert after < before - 1e-3
    # The paper's printed sign goes the wrong way.
    theta = theta0.clone().requires_grad_(True)
    log_probs = theta.log_softmax(0)
    typo = -(((log_probs[y] - anchor.log_softmax(0)[y]).detach()) * log_probs[y]).mean()
    assert kl(sgd_step(theta, typo, 0.1).softmax(0), anchor.softmax(0)) > before


def test_forward_step_raises_log_prob_of_best_anchor_sample() -> None:
    theta0, anchor = setup(2)
    theta = theta0.clone().requires_grad_(True)
    y_policy = torch.tensor([[3]])
    anchor_samples = torch.tensor([[5, 9]])
    anchor_rewards = torch.tensor([[0.2, 0.7]], dtype=torch.float64)
    best = anchor_samples[0, int(anchor_rewards.argmax())]
    log_probs = theta.log_softmax(0)
    terms = jbond_loss(log_probs[y_policy], anchor.log_softmax(0)[y_policy], torch.tensor([[0.0]], dtype=torch.float64),
                       anchor_rewards, log_probs[best].view(1), beta=0.5, gamma=0.0)
    new = sgd_step(theta, terms.forward, 0.5)
    assert new.log_softmax(0)[best] > theta0.log_softmax(0)[best] + 1e-3
    assert new.log_softmax(0)[anchor_samples[0, 0]] < theta0.log_softmax(0)[anchor_samples[0, 0]]


def test_backward_step_lowers_probability_of_a_sample_worse_than_both_anchor_samples() -> None:
    theta0, _ = setup(3)
    theta = theta0.clone().requires_grad_(True)
    y = torch.tensor([[2], [7]])  # prompt 0: worse than both anchors; prompt 1: better
    rewards_policy = torch.tensor([[0.0], [5.0]], dtype=torch.float64)
    rewards_anchor = torch.tensor([[1.0, 2.0], [1.0, 2.0]], dtype=torch.float64)
    log_probs = theta.log_softmax(0)
    # logp_anchor equal to the policy's so that the KL part of the return is zero.
    terms = jbond_loss(log_probs[y], log_probs[y].detach(), rewards_policy, rewards_anchor,
                       log_probs[torch.tensor([4, 4])], beta=0.5, gamma=0.0)
    assert torch.allclose(terms.returns, torch.tensor([[-math.log(16)], [0.0]], dtype=torch.float64))
    new = sgd_step(theta, terms.backward, 0.5).softmax(0)
    assert new[2] < theta0.softmax(0)[2]
    assert new[7] > theta0.softmax(0)[7]


def test_jbond_reward_tie_rules() -> None:
    anchor = torch.tensor([[1.0, 2.0]])
    policy = torch.tensor([[0.5, 1.0, 1.5]])
    strict = jbond_reward(policy, anchor, "strict")
    inclusive = jbond_reward(policy, anchor, "inclusive")
    assert strict[0].tolist() == pytest.approx([-J_BOND_PENALTY, 0.0, 0.0])
    assert inclusive[0].tolist() == pytest.approx([-J_BOND_PENALTY, -J_BOND_PENALTY, 0.0])
    assert math.isclose(J_BOND_PENALTY, math.log(16))


def test_jbond_reward_expectation_is_minus_log16_times_one_minus_p_squared() -> None:
    """E[r_J] = −log16·(1−p≤)² for a fixed y when the anchor samples are independent."""
    g = torch.Generator().manual_seed(0)
    anchor = torch.rand(200_000, 2, generator=g, dtype=torch.float64)
    for p in (0.1, 0.5, 0.9):
        mean = float(jbond_reward(torch.full((200_000, 1), p, dtype=torch.float64), anchor, "strict").mean())
        assert abs(mean - (-math.log(16) * (1 - p) ** 2)) < 0.02


def test_leave_one_out_baseline() -> None:
    per_prompt = torch.tensor([[1.0, 3.0], [2.0, 6.0]])
    assert leave_one_out_baseline(per_prompt).tolist() == [[3.0, 1.0], [6.0, 2.0]]
    across_batch = torch.tensor([[1.0], [2.0], [6.0]])
    assert leave_one_out_baseline(across_batch).tolist() == [[4.0], [3.5], [1.5]]
    assert leave_one_out_baseline(torch.tensor([[5.0]])).tolist() == [[0.0]]


def test_ema_update() -> None:
    anchor = torch.nn.Linear(3, 2)
    policy = torch.nn.Linear(3, 2)
    before = [p.detach().clone() for p in anchor.parameters()]
    ema_update(anchor, policy, 0.02)
    for old, new, target in zip(before, anchor.parameters(), policy.parameters()):
        assert torch.allclose(new, 0.98 * old + 0.02 * target)
    for _ in range(2000):
        ema_update(anchor, policy, 0.02)
    for a, p in zip(anchor.parameters(), policy.parameters()):
        assert torch.allclose(a, p, atol=1e-6)


def train_jbond(theta_anchor: torch.Tensor, rewards: torch.Tensor, beta: float, gamma: float, *, steps: int = 800,
                groups: int = 1024, seed: int = 0) -> torch.Tensor:
    """J-BOND on a categorical with a fixed anchor, one policy sample and two anchor samples per
    prompt, through the trainer's jbond_loss; returns the final policy's probabilities."""
    g = torch.Generator().manual_seed(seed)
    theta = theta_anchor.clone().requires_grad_(True)
    anchor_probs, anchor_logp = theta_anchor.softmax(0), theta_anchor.log_softmax(0)
    optimizer = torch.optim.Adam([theta], lr=0.05)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)) + 0.02)
    for _ in range(steps):
        y = torch.multinomial(theta.detach().softmax(0), groups, replacement=True, generator=g)[:, None]   # [G, 1]
        pair = torch.multinomial(anchor_probs, groups * 2, replacement=True, generator=g).view(groups, 2)   # [G, 2]
        best = pair.gather(1, rewards[pair].argmax(dim=1, keepdim=True)).squeeze(1)
        log_probs = theta.log_softmax(0)
        terms = jbond_loss(log_probs[y], anchor_logp[y], rewards[y], rewards[pair], log_probs[best], beta, gamma)
        optimizer.zero_grad()
        terms.total.backward()
        optimizer.step()
        schedule.step()
    return theta.detach().softmax(0)


def jbond_backward_target(anchor: torch.Tensor, rewards: torch.Tensor, exponent_scale: float) -> torch.Tensor:
    """π ∝ π_anchor·exp(−log 16·(1−p≤)²·scale): E[r_J | y] = −log 16·P(both anchor samples beat y)."""
    p_le = (anchor[None, :] * (rewards[None, :] <= rewards[:, None])).sum(dim=1)
    target = anchor * torch.exp(-J_BOND_PENALTY * (1 - p_le).pow(2) * exponent_scale)
    return target / target.sum()


def test_jbond_fixed_points_with_a_fixed_anchor() -> None:
    """β=1, γ=0: π ∝ π_ref·exp(−log 16·(1−p≤)²); γ=1 halves the exponent (the KL weight doubles:
    descending G_Reg lowers the KL, the sign Alg. 2 prints would raise it); β=0: Best-of-2."""
    g = torch.Generator().manual_seed(4)
    theta_ref = 0.7 * torch.randn(32, generator=g, dtype=torch.float64)
    rewards = torch.randperm(32, generator=g).double()
    ref = theta_ref.softmax(0)
    backward = jbond_backward_target(ref, rewards, 1.0)
    halved = jbond_backward_target(ref, rewards, 0.5)
    p_le = (ref[None, :] * (rewards[None, :] <= rewards[:, None])).sum(dim=1)
    p_lt = p_le - ref
    best_of_2 = p_le.pow(2) - p_lt.pow(2)
    # Distinct targets: the −log 16 reward is built to land near Best-of-2, yet not on it (0.006 nats).
    assert kl(backward, halved) > 0.02 and kl(backward, best_of_2) > 0.004
    reached = {(1.0, 0.0): train_jbond(theta_ref, rewards, 1.0, 0.0, seed=1),
               (1.0, 1.0): train_jbond(theta_ref, rewards, 1.0, 1.0, seed=2),
               (0.0, 0.0): train_jbond(theta_ref, rewards, 0.0, 0.0, seed=3)}
    for (beta, gamma), target, others in (((1.0, 0.0), backward, (halved, best_of_2)),
                                          ((1.0, 1.0), halved, (backward, best_of_2)),
                                          ((0.0, 0.0), best_of_2, (backward, halved))):
        policy = reached[(beta, gamma)]
        assert kl(policy, target) < 0.0005, (beta, gamma, kl(policy, target))  # measured ≤ 0.0001
        assert all(kl(policy, other) > 0.004 for other in others), (beta, gamma)
