"""The training step's wiring: every loss term of one `train_step`, recomputed by hand from the rows
it drew — which rows won Best-of-N, which anchor samples formed the quantile, which log-probs
entered — with an independent sampler (one row at a time), an independent log-prob (token by
token, unpadded) and the formulas written out in plain Python."""

from __future__ import annotations

import copy
import io
import math
import re
from pathlib import Path
from typing import Any, Callable

import pytest
import torch

from bond_trainer.inputs.config import load_config
from bond_trainer.run.console import Console
from bond_trainer.models.byte_gpt import ByteGPT
from bond_trainer.run.rundir import RunDirectory
from bond_trainer.sampling.sequences import draw_uniforms, sample
from bond_trainer.training.trainer import Trainer
from test_sampling_distribution import manual_logp

# The number of ASCII characters: a handful of values over 5 tokens, so rewards spread and tie often.
PATTERN = "[\\x00-\\x7f]"


def reward(text: str) -> float:
    return float(len(re.findall(PATTERN, text)))


def build(write_config: Callable[..., Path], tmp_path: Path, algorithm: str, policy_samples: int = 1,
          bonbon_n: int = 4, **bond: Any) -> Trainer:
    config = write_config(algorithm=algorithm, reward={"type": "keyword", "pattern": PATTERN},
                          bond={"n": 4, "k": 3, "beta": 0.5, "policy_samples": policy_samples, **bond},
                          jbond={"beta": 0.5, "gamma": 0.3, "policy_samples": policy_samples},
                          bonbon={"n": bonbon_n, "alpha": 0.3}, anchor={"kind": "ema", "ema_eta": 0.1},
                          train={"steps": 1, "batch_size": 6, "lr": 0.003, "warmup_steps": 0, "seed": 5, "device": "cpu"},
                          sampling={"max_new_tokens": 5, "temperature": 0.8, "top_k": 40},
                          reinforce={"beta_kl": 0.1, "samples_per_prompt": 2})
    out = io.StringIO()
    (tmp_path / "run").mkdir()
    trainer = Trainer(load_config(config), RunDirectory(tmp_path / "run"), Console(out=out, err=out))
    trainer.build()
    g = torch.Generator().manual_seed(9)
    with torch.no_grad():  # three different models, so that every log-ratio is non-zero
        for model in {id(m): m for m in (trainer.policy, trainer.anchor)}.values():
            for p in model.module.parameters():
                p.add_(0.3 * torch.randn(p.shape, generator=g))
    return trainer


def draw_by_hand(module: torch.nn.Module, prompt_ids: list[list[int]], per_prompt: int, generator: torch.Generator,
                 trainer: Trainer) -> list[list[list[int]]]:
    """Completions [prompt][sample], each row sampled alone from its own uniforms."""
    s = trainer.cfg.sampling
    uniforms = draw_uniforms(generator, len(prompt_ids) * per_prompt, s.max_new_tokens)
    model = ByteGPT(module)
    return [[sample(model, [ids], s.max_new_tokens, uniforms[g * per_prompt + i:g * per_prompt + i + 1],
                    trainer.transform).completion_ids[0] for i in range(per_prompt)]
            for g, ids in enumerate(prompt_ids)]


def text(completion: list[int]) -> str:
    return bytes(t for t in completion if t < 256).decode("utf-8", errors="replace")


def leave_one_out(returns: list[list[float]]) -> list[list[float]]:
    if len(returns[0]) >= 2:
        return [[(sum(row) - r) / (len(row) - 1) for r in row] for row in returns]
    flat = [r for row in returns for r in row]
    return [[(sum(flat) - r) / (len(flat) - 1) for r in row] for row in returns]


@pytest.mark.parametrize("algorithm,ties", [("bond", "exact"), ("bond", "paper"), ("jbond", "exact"), ("reinforce", "exact")])
def test_every_loss_term_of_a_step_recomputed_by_hand(algorithm: str, ties: str, write_config: Callable[..., Path],
                                                      tmp_path: Path) -> None:
    policy_samples = 2 if algorithm == "jbond" else 1
    trainer = build(write_config, tmp_path, algorithm, ties=ties, policy_samples=policy_samples)
    cfg = trainer.cfg
    b = cfg.jbond if algorithm == "jbond" else cfg.bond
    s = cfg.sampling
    policy, anchor, ref = (copy.deepcopy(m.module) for m in (trainer.policy, trainer.anchor, trainer.ref))
    generator = torch.Generator()
    generator.set_state(trainer.generator.get_state())
    prompts = trainer.stream.next_batch(cfg.train.batch_size)
    trainer.stream.restore({**trainer.stream.state(), "offset": 0})  # the step takes the same batch
    metrics = trainer.train_step(prompts)

    prompt_ids = [list(p.value.encode("utf-8")) for p in prompts]
    per_prompt = cfg.reinforce.samples_per_prompt if algorithm == "reinforce" else policy_samples
    ys = draw_by_hand(policy, prompt_ids, per_prompt, generator, trainer)

    def logp(module: torch.nn.Module, g: int, completion: list[int]) -> float:
        return manual_logp(module, prompt_ids[g], completion, s.temperature, s.top_k, s.top_p)

    lp = [[logp(policy, g, y) for y in row] for g, row in enumerate(ys)]
    la = [[logp(anchor, g, y) for y in row] for g, row in enumerate(ys)]
    lr = [[logp(ref, g, y) for y in row] for g, row in enumerate(ys)]
    r = [[reward(text(y)) for y in row] for row in ys]
    mean = lambda rows: sum(v for row in rows for v in row) / sum(len(row) for row in rows)  # noqa: E731

    assert metrics["reward/policy"] == pytest.approx(mean(r))
    assert metrics["kl/policy_ref"] == pytest.approx(mean([[p - q for p, q in zip(*pq)] for pq in zip(lp, lr)]), abs=1e-4)
    assert metrics["kl/policy_anchor"] == pytest.approx(mean([[p - q for p, q in zip(*pq)] for pq in zip(lp, la)]), abs=1e-4)

    if algorithm == "reinforce":
        returns = [[ri - cfg.reinforce.beta_kl * (p - q) for ri, p, q in zip(*t)] for t in zip(r, lp, lr)]
        base = leave_one_out(returns)
        backward = -mean([[(R - bb) * p for R, bb, p in zip(*t)] for t in zip(returns, base, lp)])
        assert metrics["loss/backward"] == pytest.approx(backward, abs=1e-4)
        assert metrics["loss/total"] == pytest.approx(backward, abs=1e-4)
        return

    anchor_per_prompt = 2 if algorithm == "jbond" else max(cfg.bond.n, cfg.bond.k)
    candidates_drawn = draw_by_hand(anchor, prompt_ids, anchor_per_prompt, generator, trainer)
    anchor_rewards = [[reward(text(c)) for c in row] for row in candidates_drawn]
    n = 2 if algorithm == "jbond" else cfg.bond.n
    # Best-of-n: the first n anchor samples, the highest reward, ties to the lowest index.
    winners = [max(range(n), key=lambda i: (row[i], -i)) for row in anchor_rewards]
    best = [candidates_drawn[g][w] for g, w in enumerate(winners)]
    forward = -sum(logp(policy, g, y) for g, y in enumerate(best)) / len(best)
    assert metrics["reward/bon"] == pytest.approx(sum(row[w] for row, w in zip(anchor_rewards, winners)) / len(best))
    assert metrics["reward/anchor"] == pytest.approx(mean(anchor_rewards))
    assert metrics["loss/forward"] == pytest.approx(forward, abs=1e-4)

    if algorithm == "bond":
        k = cfg.bond.k
        reference = [row[:k] for row in anchor_rewards]  # the quantile's samples: the first k anchor draws
        p_le = [[(sum(x <= ri for x in ref_row) + 1) / (k + 1) for ri in row] for row, ref_row in zip(r, reference)]
        p_lt = [[(sum(x < ri for x in ref_row) + 1) / (k + 1) for ri in row] for row, ref_row in zip(r, reference)]

        def r_bond(le: float, lt: float) -> float:
            if ties == "paper" or le == lt:
                return math.log(le)
            return math.log((le ** n - lt ** n) / (n * (le - lt))) / (n - 1)

        rewards_bond = [[r_bond(le, lt) for le, lt in zip(*t)] for t in zip(p_le, p_lt)]
        returns = [[rb - (p - a) / (n - 1) for rb, p, a in zip(*t)] for t in zip(rewards_bond, lp, la)]
        base = leave_one_out(returns)
        backward = -(n - 1) * mean([[(R - bb) * p for R, bb, p in zip(*t)] for t in zip(returns, base, lp)])
        regulariser = 0.0
        assert metrics["quantile/log_policy"] == pytest.approx(mean([[math.log(v) for v in row] for row in p_le]))
        if ties == "exact":  # the batch really has ties, so exact and paper differ here
            assert any(le != lt for row_le, row_lt in zip(p_le, p_lt) for le, lt in zip(row_le, row_lt))
    else:
        r_j = [[-math.log(16) if ri < min(pair) else 0.0 for ri in row] for row, pair in zip(r, anchor_rewards)]
        returns = [[rj - (p - a) for rj, p, a in zip(*t)] for t in zip(r_j, lp, la)]
        base = leave_one_out(returns)
        backward = -mean([[(R - bb) * p for R, bb, p in zip(*t)] for t in zip(returns, base, lp)])
        regulariser = mean([[(p - a) * p for p, a in zip(*t)] for t in zip(lp, la)])
        assert metrics["loss/regulariser"] == pytest.approx(regulariser, abs=1e-3)
    assert metrics["loss/backward"] == pytest.approx(backward, abs=1e-3)
    total = (1 - b.beta) * forward + b.beta * backward + (cfg.jbond.gamma * regulariser if algorithm == "jbond" else 0.0)
    assert metrics["loss/total"] == pytest.approx(total, abs=1e-3)


def test_bonbon_step_recomputed_by_hand(write_config: Callable[..., Path], tmp_path: Path) -> None:
    """BoNBoN's step: the best and the worst of n anchor samples (ties: lowest index for the best,
    highest for the worst; a prompt whose rewards all tie has no IPO term), SFT on the best and
    (h − τ)² with h the best-minus-worst log-ratio to the anchor; no policy draw, no reference pass."""
    trainer = build(write_config, tmp_path, "bonbon", bonbon_n=3)
    cfg, bb = trainer.cfg, trainer.cfg.bonbon
    s = cfg.sampling
    assert bb.tau == pytest.approx(2 * (1 + 1 / 2))  # (n − 1)·H_(n−1) for n = 3
    policy, anchor = (copy.deepcopy(m.module) for m in (trainer.policy, trainer.anchor))
    generator = torch.Generator()
    generator.set_state(trainer.generator.get_state())
    prompts = trainer.stream.next_batch(cfg.train.batch_size)
    trainer.stream.restore({**trainer.stream.state(), "offset": 0})
    forwards = {"policy": 0, "reference": 0}
    hooks = [trainer.policy.module.register_forward_hook(lambda *_: forwards.__setitem__("policy", forwards["policy"] + 1)),
             trainer.ref.module.register_forward_hook(lambda *_: forwards.__setitem__("reference", forwards["reference"] + 1))]
    metrics = trainer.train_step(prompts)
    for hook in hooks:
        hook.remove()
    # the gradient forward only, in its two parts (the distinct prompts, then every row's completion;
    # see shared_prefix.py): no policy samples, no π_ref
    assert forwards == {"policy": 2, "reference": 0}

    prompt_ids = [list(p.value.encode("utf-8")) for p in prompts]
    ys = draw_by_hand(anchor, prompt_ids, bb.n, generator, trainer)
    rewards = [[reward(text(y)) for y in row] for row in ys]
    best = [max(range(bb.n), key=lambda i: (row[i], -i)) for row in rewards]
    worst = [max(range(bb.n), key=lambda i: (-row[i], i)) for row in rewards]

    def logp(module: torch.nn.Module, g: int, completion: list[int]) -> float:
        return manual_logp(module, prompt_ids[g], completion, s.temperature, s.top_k, s.top_p)

    h, preferred, sft_terms = [], [], []
    for g, row in enumerate(ys):
        y_w, y_l = row[best[g]], row[worst[g]]
        h.append((logp(policy, g, y_w) - logp(anchor, g, y_w)) - (logp(policy, g, y_l) - logp(anchor, g, y_l)))
        preferred.append(rewards[g][best[g]] > rewards[g][worst[g]])
        sft_terms.append(-logp(policy, g, y_w))
    assert any(preferred) and not all(preferred), "the batch should hold both kinds of prompt"
    sft = sum(sft_terms) / len(sft_terms)
    kept = [(v - bb.tau) ** 2 for v, p in zip(h, preferred) if p]
    ipo = sum(kept) / len(kept)
    assert metrics["loss/sft"] == pytest.approx(sft, abs=1e-4)
    assert metrics["loss/ipo"] == pytest.approx(ipo, abs=1e-3)
    assert metrics["loss/total"] == pytest.approx(bb.alpha * sft + (1 - bb.alpha) * ipo, abs=1e-3)
    assert metrics["bonbon/h"] == pytest.approx(sum(v for v, p in zip(h, preferred) if p) / len(kept), abs=1e-4)
    assert metrics["bonbon/tied_share"] == pytest.approx(1 - len(kept) / len(h))
    assert metrics["reward/bon"] == pytest.approx(sum(row[i] for row, i in zip(rewards, best)) / len(rewards))
    assert metrics["reward/worst"] == pytest.approx(sum(row[i] for row, i in zip(rewards, worst)) / len(rewards))
    assert metrics["reward/anchor"] == pytest.approx(sum(map(sum, rewards)) / (len(rewards) * bb.n))
    assert "reward/policy" not in metrics and "kl/policy_ref" not in metrics
