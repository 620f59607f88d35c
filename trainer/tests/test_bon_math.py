"""docs/algorithms.md §1-2 facts, checked against exact computation and Monte Carlo with fixed seeds."""

from __future__ import annotations

import math

import pytest
import torch

from bond_trainer.algorithms import bon


def random_discrete(seed: int, size: int = 12, ties: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    probs = torch.rand(size, generator=g, dtype=torch.float64) + 0.05
    probs /= probs.sum()
    rewards = (torch.randint(0, size // 3, (size,), generator=g) if ties else torch.randperm(size, generator=g)).double()
    return probs, rewards


@pytest.mark.parametrize("n", [1, 2, 4, 16])
def test_closed_form_equals_theorem_1(n: int) -> None:
    probs, rewards = random_discrete(seed=n)
    closed = bon.bon_probabilities(probs, rewards, n)
    theorem = bon.bon_probabilities_theorem1(probs, rewards, n)
    assert torch.allclose(closed, theorem, atol=1e-12)
    assert math.isclose(float(closed.sum()), 1.0, abs_tol=1e-12)


@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "tied"])
def test_closed_form_matches_monte_carlo_best_of_n(ties: bool) -> None:
    """Draw N samples, keep the best (ties to the lowest index), compare frequencies: a chi-square
    test at a fixed seed. With ties the tied mass is shared in proportion to π_ref (bon.py)."""
    n, draws = 4, 200_000
    probs, rewards = random_discrete(seed=11, ties=ties)
    g = torch.Generator().manual_seed(0)
    samples = torch.multinomial(probs, draws * n, replacement=True, generator=g).view(draws, n)
    winners = samples.gather(1, bon.best_index(rewards[samples])[:, None]).squeeze(1)
    observed = torch.bincount(winners, minlength=len(probs)).double()
    expected = bon.bon_probabilities(probs, rewards, n) * draws
    keep = expected > 5
    chi2 = float(((observed[keep] - expected[keep]) ** 2 / expected[keep]).sum())
    dof = int(keep.sum()) - 1
    # 99.9th percentile of chi-square(dof) via Wilson-Hilferty.
    z = 3.09
    limit = dof * (1 - 2 / (9 * dof) + z * math.sqrt(2 / (9 * dof))) ** 3
    assert chi2 < limit, f"chi2 {chi2:.1f} over {limit:.1f} with {dof} dof"
    # And the test has power: plain π_ref frequencies fail it.
    wrong = probs * draws
    assert float(((observed[keep] - wrong[keep]) ** 2 / wrong[keep]).sum()) > 10 * limit


def test_best_index_breaks_ties_to_lowest_index() -> None:
    rewards = torch.tensor([[1.0, 3.0, 3.0, 2.0], [5.0, 5.0, 5.0, 5.0], [0.0, -1.0, 2.0, 2.0]])
    assert bon.best_index(rewards).tolist() == [1, 0, 2]


@pytest.mark.parametrize("n", [2, 4, 8, 16])
def test_continuous_facts(n: int) -> None:
    """Continuous limit via a fine grid of equally likely distinct outputs."""
    size = 20_000
    probs = torch.full((size,), 1.0 / size, dtype=torch.float64)
    rewards = torch.arange(size, dtype=torch.float64)
    target = bon.bon_probabilities(probs, rewards, n)
    p_le = torch.cumsum(probs, 0)
    assert abs(float((target * p_le).sum()) - n / (n + 1)) < 1e-3
    assert abs(float((target * p_le.log()).sum()) - (-1 / n)) < 2e-3
    assert abs(float((probs * p_le.log()).sum()) - (-1.0)) < 2e-3
    kl = float((target * (target / probs).log()).sum())
    assert abs(kl - bon.kl_bon_bound(n)) < 2e-3
    assert kl <= bon.kl_bon_bound(n) + 1e-9


def test_kl_bound_values_from_bond_md() -> None:
    for n, value in ((2, 0.193), (4, 0.636), (8, 1.204), (16, 1.835)):
        assert round(bon.kl_bon_bound(n), 3) == value


def test_kl_bound_is_an_upper_bound_with_ties() -> None:
    probs, rewards = random_discrete(seed=4, ties=True)
    target = bon.bon_probabilities(probs, rewards, 8)
    assert float((target * (target / probs).log()).sum()) < bon.kl_bon_bound(8)


def test_best_of_n_of_best_of_n() -> None:
    probs, rewards = random_discrete(seed=9)
    nested = probs
    for _ in range(3):
        nested = bon.bon_probabilities(nested, rewards, 2)
    assert torch.allclose(nested, bon.bon_probabilities(probs, rewards, 8), atol=1e-12)


def test_log_quantile_is_invariant_to_monotone_reward_transforms() -> None:
    g = torch.Generator().manual_seed(2)
    policy_rewards = torch.randn(5, 3, generator=g, dtype=torch.float64)
    reference = torch.randn(5, 16, generator=g, dtype=torch.float64)
    for floor in ("add_one", "clamp"):
        plain = bon.log_quantile(policy_rewards, reference, floor, 4)
        transformed = bon.log_quantile(torch.exp(3 * policy_rewards) - 7, torch.exp(3 * reference) - 7, floor, 4)
        assert torch.equal(plain, transformed)


def test_log_quantile_floors() -> None:
    reference = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    rewards = torch.tensor([[0.0, 2.0, 4.0]])
    add_one = bon.log_quantile(rewards, reference, "add_one", 4).exp()
    assert torch.allclose(add_one, torch.tensor([[1 / 5, 3 / 5, 5 / 5]]))
    clamp = bon.log_quantile(rewards, reference, "clamp", 4).exp()
    assert torch.allclose(clamp, torch.tensor([[1 / 8, 2 / 4, 1.0]]))
    assert torch.isfinite(bon.log_quantile(rewards, reference, "clamp", 4)).all()


def test_bon_reward_curve_is_unbiased_and_exact_on_small_sets() -> None:
    rewards = torch.tensor([[3.0, 1.0, 2.0, 5.0]], dtype=torch.float64)
    curve = bon.bon_reward_curve(rewards, 4)
    # E[max of n of the 4 values, drawn without replacement] by enumeration.
    from itertools import combinations
    for n in range(1, 5):
        subsets = list(combinations(rewards[0].tolist(), n))
        assert math.isclose(float(curve[n - 1]), sum(max(s) for s in subsets) / len(subsets), rel_tol=1e-12)


def test_bon_reward_curve_matches_with_replacement_expectation_for_large_m() -> None:
    probs, rewards = random_discrete(seed=13)
    g = torch.Generator().manual_seed(1)
    draws = rewards[torch.multinomial(probs, 4000, replacement=True, generator=g)][None, :]
    curve = bon.bon_reward_curve(draws, 8)
    for n in (1, 4, 8):
        exact = float((bon.bon_probabilities(probs, rewards, n) * rewards).sum())
        assert abs(float(curve[n - 1]) - exact) < 0.1


def test_win_rate_vs_best_of_n() -> None:
    reference = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    # Beats every size-2 subset: 1.0. Ties with the top: half the subsets containing 4 are ties.
    assert math.isclose(float(bon.win_rate_vs_bon(torch.tensor([[5.0]]), reference, 2)), 1.0)
    assert math.isclose(float(bon.win_rate_vs_bon(torch.tensor([[0.0]]), reference, 2)), 0.0)
    # r = 4: subsets without 4 (3 of 6) are wins, subsets with 4 (3 of 6) are ties → 0.5 + 0.25.
    assert math.isclose(float(bon.win_rate_vs_bon(torch.tensor([[4.0]]), reference, 2)), 0.75)
    # r = 3.5: wins exactly the subsets from {1, 2, 3}: C(3,2)/C(4,2) = 0.5.
    assert math.isclose(float(bon.win_rate_vs_bon(torch.tensor([[3.5]]), reference, 2)), 0.5)


def test_effective_n_interpolates_and_clamps() -> None:
    curve = torch.tensor([0.0, 1.0, 1.5, 1.75])
    assert bon.effective_n(-1.0, curve) == 1.0
    assert bon.effective_n(0.5, curve) == 1.5
    assert bon.effective_n(1.25, curve) == 2.5
    assert bon.effective_n(9.0, curve) == 4.0
