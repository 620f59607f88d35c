"""No dropout noise in π, π_anchor or π_ref; bf16 that learns (fp32 master weights); the LoRA
anchor as an EMA of merged updates. Tiny Hugging Face models on CPU."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Callable

import pytest
import torch

from bond_trainer.inputs.config import load_config
from bond_trainer.run.console import Console
from bond_trainer.models.roles import ANCHOR_ADAPTER, POLICY_ADAPTER, LowRankDelta, build_roles, lora_pairs
from bond_trainer.training.session import run_training
from conftest import read_jsonl
from hf_models import make_causal_lm


@pytest.fixture(scope="module")
def dropout_gpt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_causal_lm(tmp_path_factory.mktemp("dropout") / "gpt2-dropout", "gpt2", dropout=0.1)


def gpt2_config(write_config: Callable[..., Path], model: Path, **sections: Any) -> Path:
    return write_config(**{
        "policy": {"hf": {"model": str(model)}},
        "reward": {"type": "keyword", "pattern": "e"},
        "train": {"steps": 2, "batch_size": 4, "lr": 0.01, "warmup_steps": 0, "seed": 3, "device": "cpu"},
        "sampling": {"max_new_tokens": 6},
        "eval": {"every": 0, "prompts": 4, "policy_samples": 2, "mc_samples": 8, "n_max": 8, "bon_n": 4},
        "samples": {"every": 0},
        "checkpoint": {"every": 0, "keep_last": 1},
        **sections})


def train(config: Path, run_dir: Path, *overrides: str) -> list[dict[str, Any]]:
    out = io.StringIO()
    code = run_training(load_config(config, list(overrides)), run_dir, False, config,
                        Console(out=out, err=out, min_interval_s=0))
    assert code == 0, out.getvalue()
    return read_jsonl(run_dir / "metrics.jsonl")


@pytest.mark.parametrize("variant", ["full", "lora", "dropout-kept"])
def test_identical_weights_give_kl_of_exactly_zero_despite_dropout_in_the_config(
        variant: str, dropout_gpt2: Path, write_config: Callable[..., Path], tmp_path: Path) -> None:
    """GPT-2 with dropout 0.1 everywhere: at step 1 policy, anchor and reference have the same
    weights, so every KL estimate is exactly 0 (train mode used to make them ≈ 0.02 nats). With
    dropout kept, the returns' dropout-free log π of the policy's own samples is the one their draw
    computed (training/sampler.py), equal to a rescore within 1e-5, not bit for bit."""
    policy: dict[str, Any] = {"hf": {"model": str(dropout_gpt2)}}
    if variant == "lora":
        policy["hf"]["lora"] = {"r": 4, "alpha": 8, "dropout": 0.1}
    config = gpt2_config(write_config, dropout_gpt2, policy=policy, train={
        "steps": 1, "batch_size": 4, "lr": 0.01, "warmup_steps": 0, "seed": 3, "device": "cpu",
        "dropout": variant == "dropout-kept"})
    first = train(config, tmp_path / "run")[0]
    assert first["step"] == 1
    if variant == "dropout-kept":
        assert abs(first["kl/policy_ref"]) < 1e-5 and abs(first["kl/policy_anchor"]) < 1e-5, first
    else:
        assert first["kl/policy_ref"] == 0.0 and first["kl/policy_anchor"] == 0.0, first


def test_dropout_is_really_off_in_the_policy_module(dropout_gpt2: Path, write_config: Callable[..., Path]) -> None:
    roles = build_roles(load_config(gpt2_config(write_config, dropout_gpt2)), torch.device("cpu"))
    for module in (roles.policy.module, roles.reference.module, roles.anchor.module):
        assert module is not None
        rates = [m.p for m in module.modules() if isinstance(m, torch.nn.Dropout)]
        assert rates and all(p == 0.0 for p in rates)
    roles.policy.module.train()
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        first = roles.policy.module(input_ids=ids).logits
        second = roles.policy.module(input_ids=ids).logits
    assert torch.equal(first, second)  # train mode, and still deterministic


def parameter_distance(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return sum(float((a[k].float() - b[k].float()).pow(2).sum()) for k in a) ** 0.5


def trained_distances(config: Path, run_dir: Path, start: dict[str, torch.Tensor], *overrides: str) -> tuple[float, float]:
    train(config, run_dir, *overrides)
    step = sorted((run_dir / "checkpoints").iterdir())[-1]
    policy = torch.load(step / "model.pt", weights_only=True)["state_dict"]
    anchor = torch.load(step / "anchor.pt", weights_only=True)
    assert all(v.dtype == torch.float32 for v in policy.values())  # master weights
    return parameter_distance(policy, start), parameter_distance(anchor, start)


def test_a_bf16_run_at_lr_1e5_moves_policy_and_anchor_as_fp32_does(
        hf_models: dict[str, Path], write_config: Callable[..., Path], tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM
    start = {k: v.float() for k, v in AutoModelForCausalLM.from_pretrained(str(hf_models["gpt2"])).state_dict().items()}
    # A bf16 run starts from the weights rounded to bf16 (then held in fp32).
    start_bf16 = {k: v.bfloat16().float() for k, v in start.items()}
    sections = {"train": {"steps": 4, "batch_size": 4, "lr": 1e-5, "warmup_steps": 0, "seed": 3, "device": "cpu",
                          "weight_decay": 0.0},
                "anchor": {"kind": "ema", "ema_eta": 0.02},
                "checkpoint": {"every": 4, "keep_last": 1}}
    config = gpt2_config(write_config, hf_models["gpt2"], **sections)
    fp32 = trained_distances(config, tmp_path / "fp32", start, "policy.hf.dtype=fp32", "train.precision=fp32")
    bf16 = trained_distances(config, tmp_path / "bf16", start_bf16, "policy.hf.dtype=bf16", "train.precision=bf16")
    meta = json.loads((tmp_path / "bf16" / "run.json").read_text())
    assert meta["precision"] == "bf16" and "master weights" in meta["model"]
    assert fp32[0] > 0 and fp32[1] > 0
    for moved_bf16, moved_fp32, role in zip(bf16, fp32, ("policy", "anchor")):
        assert abs(moved_bf16 / moved_fp32 - 1) < 0.2, (role, moved_bf16, moved_fp32)


def test_the_ema_anchor_distance_follows_one_minus_eta_to_the_t_with_bf16_weights(
        hf_models: dict[str, Path], write_config: Callable[..., Path]) -> None:
    cfg = load_config(gpt2_config(write_config, hf_models["gpt2"]), ["policy.hf.dtype=bf16"])
    roles = build_roles(cfg, torch.device("cpu"))
    assert roles.anchor.module is not None and next(roles.reference.module.parameters()).dtype == torch.bfloat16
    with torch.no_grad():  # the policy 1% away from the anchor
        for p in roles.policy.module.parameters():
            p.mul_(1.01)
    anchor_params = list(roles.anchor.module.parameters())
    policy_params = list(roles.policy.module.parameters())

    def distance() -> float:
        return sum(float((a - p).detach().pow(2).sum()) for a, p in zip(anchor_params, policy_params)) ** 0.5

    initial, eta = distance(), 0.02
    for t in range(1, 51):
        roles.ema_anchor(eta)
        if t in (1, 10, 50):
            assert distance() / initial == pytest.approx((1 - eta) ** t, rel=1e-3), t


def lora_roles(write_config: Callable[..., Path], model: Path, anchor_rank: int | None = None) -> Any:
    lora: dict[str, Any] = {"r": 2, "alpha": 4, "target_modules": ["c_attn", "c_fc"]}
    if anchor_rank is not None:
        lora["anchor_rank"] = anchor_rank
    cfg = load_config(gpt2_config(write_config, model, policy={"hf": {"model": str(model), "lora": lora}}))
    return build_roles(cfg, torch.device("cpu"))


def set_policy(pairs: list[Any], deltas: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    for pair, (B, A) in zip(pairs, deltas):
        pair.assign(POLICY_ADAPTER, LowRankDelta(B, A, 1.0))


def drifting_policy(pairs: list[Any], steps: int, straight: bool, seed: int = 0) -> list[list[tuple[torch.Tensor, torch.Tensor]]]:
    """Policy adapters over `steps` steps: B and A drift along a line (straight), or take random
    steps (a random walk, harder for a low-rank anchor)."""
    g = torch.Generator().manual_seed(seed)
    trajectory = []
    current = [(torch.zeros_like(p.factors(POLICY_ADAPTER).B), 0.1 * torch.randn(p.factors(POLICY_ADAPTER).A.shape, generator=g))
               for p in pairs]
    direction = [(0.01 * torch.randn(B.shape, generator=g), 0.01 * torch.randn(A.shape, generator=g)) for B, A in current]
    for _ in range(steps):
        if not straight:
            direction = [(0.01 * torch.randn(B.shape, generator=g), 0.01 * torch.randn(A.shape, generator=g))
                         for B, A in current]
        current = [(B + dB, A + dA) for (B, A), (dB, dA) in zip(current, direction)]
        trajectory.append(current)
    return trajectory


def anchor_error(write_config: Callable[..., Path], model: Path, anchor_rank: int | None, straight: bool,
                 factorwise: bool = False) -> float:
    """Relative Frobenius error of the anchor's merged update against the exact EMA of the policy's
    merged updates, after 30 steps with η = 0.1."""
    roles = lora_roles(write_config, model, anchor_rank)
    pairs = lora_pairs(roles.policy.module)
    eta = 0.1
    exact = [torch.zeros_like(p.factors(POLICY_ADAPTER).dense()) for p in pairs]
    factor_ema = [(torch.zeros_like(p.factors(POLICY_ADAPTER).B), torch.zeros_like(p.factors(POLICY_ADAPTER).A)) for p in pairs]
    for deltas in drifting_policy(pairs, 30, straight):
        set_policy(pairs, deltas)  # assign divides out the adapter's scaling: the update is B·A
        roles.ema_anchor(eta)
        exact = [(1 - eta) * e + eta * B @ A for e, (B, A) in zip(exact, deltas)]
        factor_ema = [((1 - eta) * fB + eta * B, (1 - eta) * fA + eta * A) for (fB, fA), (B, A) in zip(factor_ema, deltas)]
    if factorwise:  # what an EMA of A and B separately would hold
        held = [B @ A for B, A in factor_ema]
    else:
        held = [p.factors(ANCHOR_ADAPTER).dense() for p in pairs]
    error = sum(float((h - e).pow(2).sum()) for h, e in zip(held, exact)) ** 0.5
    return error / sum(float(e.pow(2).sum()) for e in exact) ** 0.5


def test_lora_anchor_is_the_ema_of_merged_updates(hf_models: dict[str, Path], write_config: Callable[..., Path]) -> None:
    model = hf_models["gpt2"]
    # A rank that holds every update (2 per step × 30 steps): exact up to float rounding.
    assert anchor_error(write_config, model, 64, straight=False) < 1e-5
    # The default rank 2r holds an EMA of a straight-line drift exactly (its span is that of B₀, dB).
    assert anchor_error(write_config, model, None, straight=True) < 1e-5
    # A random walk at rank 2r: the best rank-4 approximation. Measured, and far better than an EMA
    # of the factors, which misses even the straight drift.
    truncated = anchor_error(write_config, model, None, straight=False)
    assert truncated < 0.2
    assert anchor_error(write_config, model, None, straight=True, factorwise=True) > 0.05
    assert anchor_error(write_config, model, None, straight=False, factorwise=True) > truncated


def test_hard_copy_into_a_larger_anchor_is_exact(hf_models: dict[str, Path], write_config: Callable[..., Path]) -> None:
    roles = lora_roles(write_config, hf_models["gpt2"], anchor_rank=6)
    pairs = lora_pairs(roles.policy.module)
    set_policy(pairs, drifting_policy(pairs, 3, straight=False)[-1])
    roles.copy_policy_to_anchor()
    for pair in pairs:
        assert pair.factors(ANCHOR_ADAPTER).rank == 6
        assert torch.allclose(pair.factors(ANCHOR_ADAPTER).dense(), pair.factors(POLICY_ADAPTER).dense(), atol=1e-7)


def test_an_anchor_rank_below_r_is_refused(hf_models: dict[str, Path], write_config: Callable[..., Path]) -> None:
    from bond_trainer.inputs.config import ConfigError
    with pytest.raises(ConfigError, match="policy.hf.lora.anchor_rank"):
        lora_roles(write_config, hf_models["gpt2"], anchor_rank=1)


def test_a_lora_run_reports_the_anchor_truncation(hf_models: dict[str, Path], write_config: Callable[..., Path],
                                                  tmp_path: Path) -> None:
    model = hf_models["gpt2"]
    config = gpt2_config(write_config, model, policy={"hf": {"model": str(model), "lora": {"r": 2, "alpha": 4}}},
                         train={"steps": 8, "batch_size": 4, "lr": 0.01, "warmup_steps": 0, "seed": 3, "device": "cpu"},
                         bond={"anchor": "ema", "ema_eta": 0.1})
    lines = [m for m in train(config, tmp_path / "run") if m["kind"] == "train"]
    truncation = [m["anchor/lora_truncation"] for m in lines]
    assert truncation[0] < 1e-12  # the first steps fit in rank 2r exactly
    assert all(0.0 <= t < 0.05 for t in truncation), truncation
