"""π is the sampling distribution: the log-probs the trainer computes are those of the tokens it
draws, under temperature, top-k and top-p (issue: train what you sample)."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any, Callable

import pytest
import torch

from bond_trainer.inputs.config import load_config
from bond_trainer.run.console import Console
from bond_trainer.models.byte_gpt import VOCAB_SIZE, ByteGPT, GPTModelSpec, GPTModule
from bond_trainer.run.rundir import RunDirectory
from bond_trainer.sampling.sequences import (OUTSIDE_SUPPORT_LOGP, Completions, SamplingTransform, draw_uniforms, sample,
                                    score)
from bond_trainer.training.trainer import Trainer

DRAWS = 20_000


def peaked_model(seed: int = 0) -> ByteGPT:
    """A random byte GPT whose next-token logits spread over several nats (a raw random init is
    nearly uniform, which would make temperature and truncation hard to see)."""
    torch.manual_seed(seed)
    module = GPTModule(GPTModelSpec(layers=1, heads=2, width=32, context=32)).eval()
    with torch.no_grad():
        module.token_embedding.weight.mul_(5.0)  # tied with the output head
    return ByteGPT(module)


def chi_square_p_value(counts: torch.Tensor, expected: torch.Tensor) -> float:
    """Pearson's test; cells expecting fewer than 5 draws are pooled into one."""
    small = expected < 5
    observed = torch.cat([counts[~small], counts[small].sum().view(1)])
    wanted = torch.cat([expected[~small], expected[small].sum().view(1)])
    keep = wanted > 0
    observed, wanted = observed[keep], wanted[keep]
    statistic = float(((observed - wanted) ** 2 / wanted).sum())
    dof = observed.numel() - 1
    assert dof >= 5, "too few cells for the test to say anything"
    return float(torch.special.gammaincc(torch.tensor(dof / 2, dtype=torch.float64),
                                         torch.tensor(statistic / 2, dtype=torch.float64)))


def one_token_logps(model: ByteGPT, prompt: list[int], transform: SamplingTransform) -> torch.Tensor:
    every_token = Completions([prompt] * VOCAB_SIZE, [[v] for v in range(VOCAB_SIZE)], [True] * VOCAB_SIZE,
                              [""] * VOCAB_SIZE)
    with torch.no_grad():
        return score(model, every_token, None, transform).logp.double()


@pytest.mark.parametrize("transform", [SamplingTransform(temperature=0.5), SamplingTransform(top_k=12),
                                       SamplingTransform(temperature=1.3, top_p=0.8)],
                         ids=["temperature-0.5", "top-k-12", "top-p-0.8-t-1.3"])
def test_one_token_draws_follow_exp_logp(transform: SamplingTransform) -> None:
    model = peaked_model()
    prompt = list(b"ab")
    logp = one_token_logps(model, prompt, transform)
    probs = logp.exp().where(logp > OUTSIDE_SUPPORT_LOGP, torch.zeros_like(logp))
    assert float(probs.sum()) == pytest.approx(1.0, abs=1e-5)  # a distribution: exactly what is sampled
    # Not the untransformed model: the transform really reaches the log-probs.
    untransformed = one_token_logps(model, prompt, SamplingTransform())
    assert float((logp - untransformed).abs().max()) > 0.1
    uniforms = draw_uniforms(torch.Generator().manual_seed(1), DRAWS, 1)
    drawn = sample(model, [prompt] * DRAWS, 1, uniforms, transform)
    tokens = torch.tensor([c[0] for c in drawn.completion_ids])
    counts = torch.bincount(tokens, minlength=VOCAB_SIZE).double()
    # Every drawn token is inside the support the scores give.
    assert bool((probs[counts > 0] > 0).all())
    assert chi_square_p_value(counts, DRAWS * probs) > 1e-3
    if transform.truncates:
        assert int((probs > 0).sum()) < VOCAB_SIZE  # the truncation removed tokens …
        assert float(logp[probs == 0].max()) == OUTSIDE_SUPPORT_LOGP  # … and those score at the floor


def test_the_test_rejects_the_untransformed_distribution() -> None:
    """The chi-square check can fail: draws at T=0.5 against the T=1 log-probs are rejected."""
    model = peaked_model()
    prompt = list(b"ab")
    uniforms = draw_uniforms(torch.Generator().manual_seed(1), DRAWS, 1)
    drawn = sample(model, [prompt] * DRAWS, 1, uniforms, SamplingTransform(temperature=0.5))
    counts = torch.bincount(torch.tensor([c[0] for c in drawn.completion_ids]), minlength=VOCAB_SIZE).double()
    wrong = one_token_logps(model, prompt, SamplingTransform()).exp()
    assert chi_square_p_value(counts, DRAWS * wrong) < 1e-6


def manual_logp(module: GPTModule, prompt: list[int], completion: list[int], temperature: float, top_k: int,
                top_p: float) -> float:
    """log π(completion | prompt) token by token, one unpadded sequence, no cache: an independent
    implementation of the sampling transform."""
    total = 0.0
    for index, token in enumerate(completion):
        ids = torch.tensor([prompt + completion[:index]])
        with torch.no_grad():
            logits, _ = module(ids, torch.ones_like(ids))
        scaled = logits[0, -1].double() / temperature
        keep = torch.ones_like(scaled, dtype=torch.bool)
        if top_k:
            keep &= scaled >= torch.topk(scaled, top_k).values[-1]
        if top_p < 1.0:
            order = torch.argsort(scaled.masked_fill(~keep, -math.inf), descending=True)
            probs = scaled.masked_fill(~keep, -math.inf).softmax(0)[order]
            before = probs.cumsum(0) - probs
            nucleus = torch.zeros_like(keep)
            nucleus[order[before < top_p]] = True
            keep &= nucleus
        log_probs = scaled.masked_fill(~keep, -math.inf).log_softmax(0)
        total += float(log_probs[token]) if keep[token] else OUTSIDE_SUPPORT_LOGP
    return total


@pytest.mark.parametrize("sampling", [{"temperature": 0.5, "top_k": 20}, {"temperature": 0.7, "top_p": 0.9}],
                         ids=["t0.5-top-k", "t0.7-top-p"])
def test_snapshot_logps_are_those_of_the_sampling_distribution(
        sampling: dict[str, Any], write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config(sampling={"max_new_tokens": 6, **sampling}, samples={"every": 1, "prompts": 3, "mc_samples": 4})
    cfg = load_config(config)
    out = io.StringIO()
    (tmp_path / "run").mkdir()
    trainer = Trainer(cfg, RunDirectory(tmp_path / "run"), Console(out=out, err=out))
    trainer.build()
    with torch.no_grad():  # a policy that is not the reference, so that the three log-probs differ
        for p in trainer.policy.module.parameters():
            p.add_(0.05 * torch.randn_like(p))
    drawn: list[Completions] = []
    original = trainer.sampler.draw

    def recording(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        drawn.append(result.completions)
        return result

    trainer.sampler.draw = recording  # type: ignore[method-assign]
    records = trainer.snapshot_samples()
    policy_rows = drawn[0]  # the policy's draw: two samples per prompt
    s = cfg.sampling
    for g, record in enumerate(records):
        for i, shown in enumerate(record["policy"]):
            row = 2 * g + i
            prompt, completion = policy_rows.prompt_ids[row], policy_rows.completion_ids[row]
            assert shown["text"] == policy_rows.texts[row]
            for role, module in (("policy", trainer.policy.module), ("ref", trainer.ref.module)):
                expected = manual_logp(module, prompt, completion, s.temperature, s.top_k, s.top_p)
                assert shown[f"logp_{role}"] == pytest.approx(expected, abs=2e-4), (role, g, i)
            # The policy's own draws are inside its support, never at the floor.
            assert shown["logp_policy"] > OUTSIDE_SUPPORT_LOGP * len(completion) / 2
