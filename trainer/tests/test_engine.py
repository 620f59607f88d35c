"""The static generation engine draws exactly the tokens the eager one draws (same uniforms, same
inverse CDF), for the byte GPT, GPT-2 and Llama; with prompts of mixed lengths in one bucket and
rows that end early; and a run trains the same with either engine."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Callable

import pytest
import torch

from bond_trainer.inputs.config import load_config
from bond_trainer.run.console import Console
from bond_trainer.sampling.engine import SamplingEngine, prompt_bucket, resolve_engine
from bond_trainer.models.byte_gpt import EOS_ID, ByteGPT, GPTModelSpec, GPTModule
from bond_trainer.sampling.sequences import SamplingTransform, draw_uniforms, sample
from bond_trainer.training.session import run_training
from conftest import read_jsonl


def byte_model(seed: int = 0, eos_bias: float = 0.0) -> ByteGPT:
    torch.manual_seed(seed)
    module = GPTModule(GPTModelSpec(layers=2, heads=2, width=32, context=64)).eval()
    with torch.no_grad():
        module.token_embedding.weight.mul_(4.0)
        # The output head is tied to the embeddings: a constant feature after the last LayerNorm, read
        # by EOS's row only, raises EOS's logit by 5·eos_bias (rows end early).
        module.ln_f.bias[0] = 5.0
        module.token_embedding.weight[EOS_ID, 0] += eos_bias
    return ByteGPT(module)


def both_engines(model: Any, prompts: list[list[int]], new: int, transform: SamplingTransform, seed: int = 3) -> tuple[Any, Any]:
    uniforms = draw_uniforms(torch.Generator().manual_seed(seed), len(prompts), new)
    eager = sample(model, prompts, new, uniforms, transform)
    static = SamplingEngine("static", torch.device("cpu")).sample(model, prompts, new, uniforms, transform, None)
    return eager, static


MIXED = [list(b"a"), list(b"the food was"), list(b"p3: aaa bbb ccc ddd eee"), list(b"xy")]


@pytest.mark.parametrize("transform", [SamplingTransform(), SamplingTransform(temperature=0.7, top_k=30),
                                       SamplingTransform(top_p=0.9)], ids=["plain", "t0.7-top-k", "top-p"])
def test_byte_gpt_static_draws_what_eager_draws(transform: SamplingTransform) -> None:
    model = byte_model()
    eager, static = both_engines(model, MIXED * 3, 20, transform)
    assert static.completion_ids == eager.completion_ids
    assert static.truncated == eager.truncated and static.texts == eager.texts


def test_mixed_prompt_lengths_and_early_eos_in_one_bucket() -> None:
    model = byte_model(eos_bias=0.6)
    eager, static = both_engines(model, MIXED * 4, 24, SamplingTransform())
    ended = [not t for t in eager.truncated]
    assert any(ended) and not all(ended), "the test needs rows that end early and rows that do not"
    assert static.completion_ids == eager.completion_ids and static.truncated == eager.truncated
    # One bucket for every prompt length here: 16 (the longest prompt has 23 bytes: 32).
    assert prompt_bucket(23, 40) == 32 and prompt_bucket(1, 40) == 16 and prompt_bucket(30, 20) == 30


def test_every_row_ending_stops_the_loop_on_a_check() -> None:
    """All rows end within a few tokens: the static engine stops at the next check, and its
    completions still equal eager's (which stops at once)."""
    model = byte_model(eos_bias=1.0)
    eager, static = both_engines(model, MIXED, 40, SamplingTransform())
    assert all(not t for t in eager.truncated) and max(len(c) for c in eager.completion_ids) < 8
    assert static.completion_ids == eager.completion_ids


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_hugging_face_static_cache_draws_what_eager_draws(arch: str, hf_models: dict[str, Path]) -> None:
    from test_hf import hf_model
    model = hf_model(hf_models[arch])
    encode = model.tokenizer.encode
    prompts = [encode("the food"), encode("a much longer prompt about the room and the staff"), encode("p1:")] * 2
    eager, static = both_engines(model, prompts, 12, SamplingTransform(temperature=0.8))
    assert static.completion_ids == eager.completion_ids and static.texts == eager.texts


def test_auto_is_static_on_cuda_only_and_an_unsupported_model_falls_back_with_the_reason(
        caplog: pytest.LogCaptureFixture) -> None:
    assert resolve_engine("auto", torch.device("cuda")) == "static"
    assert resolve_engine("auto", torch.device("cpu")) == "eager"

    class NoStaticCache(ByteGPT):
        def static_cache(self, batch: int, length: int, dtype: torch.dtype) -> Any:
            raise NotImplementedError("this architecture keeps no static cache")

    model = NoStaticCache(byte_model().module)
    uniforms = draw_uniforms(torch.Generator().manual_seed(1), 4, 6)
    engine = SamplingEngine("static", torch.device("cpu"))
    with caplog.at_level("WARNING", logger="bond_trainer"):
        drawn = engine.sample(model, MIXED, 6, uniforms, SamplingTransform(), None)
    assert drawn.completion_ids == sample(model, MIXED, 6, uniforms).completion_ids
    assert "this architecture keeps no static cache" in caplog.text and "eager engine" in caplog.text

    class BreaksOnFirstUse(ByteGPT):
        calls = 0

        def static_cache(self, batch: int, length: int, dtype: torch.dtype) -> Any:
            BreaksOnFirstUse.calls += 1
            if BreaksOnFirstUse.calls == 1:
                return super().static_cache(batch, length, dtype)
            raise RuntimeError("the cache broke")

    # Served once, failing later: a real error, not a silent switch of engines.
    served = BreaksOnFirstUse(byte_model().module)
    engine.sample(served, MIXED, 6, uniforms, SamplingTransform(), None)
    with pytest.raises(RuntimeError, match="the cache broke"):
        engine.sample(served, MIXED * 2, 6, draw_uniforms(torch.Generator().manual_seed(1), 8, 6), SamplingTransform(), None)
    # Failing on its first draw with any error: eager from then on, the reason logged.
    caplog.clear()
    first = NoStaticCache(byte_model().module)
    first.static_cache = lambda *_: (_ for _ in ()).throw(ValueError("attention refuses a static cache"))  # type: ignore[method-assign]
    with caplog.at_level("WARNING", logger="bond_trainer"):
        assert engine.sample(first, MIXED, 6, uniforms, SamplingTransform(), None).completion_ids == drawn.completion_ids
    assert "ValueError: attention refuses a static cache" in caplog.text


@pytest.mark.parametrize("algorithm", ["bond", "jbond"])
def test_a_run_trains_the_same_with_either_engine(algorithm: str, write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config(algorithm=algorithm, train={"steps": 4, "batch_size": 4, "lr": 0.01, "warmup_steps": 0,
                                                      "seed": 2, "device": "cpu"},
                          eval={"every": 2, "prompts": 2, "policy_samples": 2, "mc_samples": 8, "n_max": 8, "bon_n": 4},
                          samples={"every": 2, "prompts": 2, "mc_samples": 4}, checkpoint={"every": 0, "keep_last": 1})
    lines = {}
    for engine in ("eager", "static"):
        out = io.StringIO()
        run_dir = tmp_path / engine
        assert run_training(load_config(config, [f"sampling.engine={engine}"]), run_dir, False, config,
                            Console(out=out, err=out)) == 0, out.getvalue()
        lines[engine] = [{k: v for k, v in m.items() if not k.startswith(("time", "perf/", "system/"))}
                         for m in read_jsonl(run_dir / "metrics.jsonl")]
        assert f"sampling engine {engine}" in (run_dir / "trainer.log").read_text()
    # Training is bit for bit the same. An evaluation's KL of the policy to the reference and the anchor
    # takes the policy's log-probs from its draw (training/sampler.py), which each engine computes in
    # its own kernels: equal to a rescore within 1e-5 nats per sequence, not bit for bit.
    from_draw = ("eval/kl/policy_ref", "eval/kl/policy_anchor")
    exact = [{k: v for k, v in m.items() if k not in from_draw} for m in lines["static"]]
    assert exact == [{k: v for k, v in m.items() if k not in from_draw} for m in lines["eager"]]
    for static, eager in zip(lines["static"], lines["eager"]):
        for key in from_draw:
            assert (key in static) == (key in eager)
            if key in static:
                assert static[key] == pytest.approx(eager[key], abs=1e-5), (key, static["step"])


def test_lora_roles_share_a_base_and_draw_alike_with_either_engine_across_draws(
        hf_models: dict[str, Path], write_config: Callable[..., Path]) -> None:
    """Policy, anchor and reference are one peft model with adapters switched; each keeps its own
    static buffers, reused draw after draw."""
    from bond_trainer.models.roles import build_roles
    cfg = load_config(write_config(policy={"hf": {"model": str(hf_models["gpt2"]), "lora": {"r": 4}}}))
    roles = build_roles(cfg, torch.device("cpu"))
    with torch.no_grad():  # adapters that matter: B is zero at initialisation
        for name, param in roles.policy.module.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    engine = SamplingEngine("static", torch.device("cpu"))
    encode = roles.policy.tokenizer.encode
    prompts = [encode("the food"), encode("p1: aaaa bbbb")]
    drawn = {}
    for trial in range(3):
        for role in (roles.policy, roles.anchor, roles.reference):
            uniforms = draw_uniforms(torch.Generator().manual_seed(trial), 2, 8)
            static = engine.sample(role, prompts, 8, uniforms, SamplingTransform(), None)
            assert static.completion_ids == sample(role, prompts, 8, uniforms).completion_ids, (trial, role.adapter)
            drawn[(trial, role.adapter, role.use_base)] = static.completion_ids
    assert drawn[(0, "policy", False)] != drawn[(0, None, True)]  # the roles really differ


@pytest.mark.parametrize("algorithm", ["bond", "jbond", "reinforce", "bonbon"])
def test_micro_batches_give_the_gradient_of_the_whole_batch(algorithm: str, write_config: Callable[..., Path],
                                                            tmp_path: Path) -> None:
    """train.micro_batch_size: the same losses and, after several updates, the same weights (also for
    BoNBoN, whose loss is not linear in the log-probs: the micro-batches take its gradient with
    respect to them)."""
    from bond_trainer.models import load_byte_gpt
    config = write_config(algorithm=algorithm, train={"steps": 4, "batch_size": 8, "lr": 0.01, "warmup_steps": 0,
                                                      "seed": 2, "device": "cpu"},
                          eval={"every": 0}, samples={"every": 0}, checkpoint={"every": 4, "keep_last": 1})
    weights, lines = {}, {}
    for micro in (0, 3):
        out = io.StringIO()
        run_dir = tmp_path / f"micro-{micro}"
        assert run_training(load_config(config, [f"train.micro_batch_size={micro}"]), run_dir, False, config,
                            Console(out=out, err=out)) == 0, out.getvalue()
        lines[micro] = [m for m in read_jsonl(run_dir / "metrics.jsonl") if m["kind"] == "train"]
        weights[micro] = load_byte_gpt(run_dir / "checkpoints" / "step-4").state_dict()
    for whole, parts in zip(lines[0], lines[3]):
        keys = [k for k in whole if k.startswith("loss/")] + [k for k in ("kl/policy_ref", "grad_norm", "entropy",
                                                                           "bonbon/h") if k in whole]
        assert len(keys) >= 4, keys
        for key in keys:
            # loss/backward is a mean of advantage × log π with log π ≈ −40: float32 rounding of log π in
            # another batch shape (≈1e-7 relative) reaches it as ≈1e-5 after an update; a wrong gradient
            # is orders of magnitude more.
            assert parts[key] == pytest.approx(whole[key], rel=1e-4, abs=3e-5), (key, whole["step"])
    # Four AdamW steps of lr 0.01 move weights by up to 0.04; float rounding in other batch shapes,
    # which Adam's normalisation amplifies for near-zero gradients, stays orders of magnitude below.
    drift = max(float((weights[0][k] - weights[3][k]).abs().max()) for k in weights[0])
    assert drift < 5e-4, drift
