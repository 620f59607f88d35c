"""A step does only the work it needs, and what it skips or computes another way changes nothing:
- the log-prob kernel (logsumexp and gather, its own backward) equals autograd through the full
  log-softmax, values, gradients and entropy, with and without a temperature;
- log-probs a draw computed equal a full rescore (1e-5) under temperature, top-k and top-p, with
  either engine, and the sampler reuses them only while the weights they were drawn with are in place;
- scoring with each distinct prompt's forward done once equals one forward over the rows (values,
  entropy, gradients), and a subset of a batch still scores bit-equal to the whole;
- the anchor and the reference score only the rows some group asks them for, the reference of a
  J-BOND run (a metric only) on its cadence, and the entropy comes out of the policy's own forward."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Callable

import pytest
import torch

import bond_trainer.sampling.logprobs as logprobs
import bond_trainer.sampling.sequences as sequences
from bond_trainer.inputs.config import load_config
from bond_trainer.run.console import Console
from bond_trainer.run.rundir import RunDirectory
from bond_trainer.sampling.engine import SamplingEngine
from bond_trainer.sampling.sequences import SamplingTransform, draw_uniforms, sample, score, token_scores
from bond_trainer.training.trainer import Trainer
from conftest import read_jsonl
from test_engine import MIXED, byte_model

TRANSFORMS = [SamplingTransform(), SamplingTransform(temperature=0.7), SamplingTransform(temperature=1.3, top_k=20),
              SamplingTransform(top_p=0.85), SamplingTransform(temperature=0.8, top_k=40, top_p=0.9)]
TRANSFORM_IDS = ["plain", "t0.7", "t1.3-top-k", "top-p", "t0.8-top-k-top-p"]


def full_log_softmax(logits: torch.Tensor, transform: SamplingTransform) -> torch.Tensor:
    return torch.log_softmax(transform(logits) if transform.truncates else logits / transform.temperature, dim=-1)


@pytest.mark.parametrize("temperature", [1.0, 0.6])
def test_the_log_prob_kernel_equals_autograd_through_the_full_log_softmax(temperature: float,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """float64, in blocks of 3 positions of one row (as a large batch would be): values, gradients
    and entropy to rounding."""
    monkeypatch.setattr(logprobs, "KERNEL_BLOCK_ELEMENTS", 3 * 40)
    assert len(list(logprobs.blocks(3, sequences.SCORE_CHUNK + 9, 40))) == 3 * 25
    torch.manual_seed(0)
    transform = SamplingTransform(temperature=temperature)
    logits = (3 * torch.randn(3, sequences.SCORE_CHUNK + 9, 40, dtype=torch.float64)).requires_grad_(True)
    targets = torch.randint(0, 40, (3, sequences.SCORE_CHUNK + 9))
    weights = torch.randn(3, sequences.SCORE_CHUNK + 9, dtype=torch.float64)
    logp, entropy = token_scores(logits, targets, transform, with_entropy=True)
    assert entropy is not None and bool(entropy.isnan().all()), "written by the backward, not before"
    (logp * weights).sum().backward()
    ours = logits.grad.clone()
    logits.grad = None
    reference = full_log_softmax(logits, transform)
    expected = reference.gather(2, targets[:, :, None]).squeeze(2)
    (expected * weights).sum().backward()
    assert entropy is not None and not entropy.requires_grad
    torch.testing.assert_close(logp, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(ours, logits.grad, rtol=0, atol=1e-12)
    torch.testing.assert_close(entropy, -(reference.exp() * reference).sum(-1).detach(), rtol=0, atol=1e-12)
    # Without gradient the forward computes it; not asked for, none is.
    no_grad_logp, forward_entropy = token_scores(logits.detach(), targets, transform, with_entropy=True)
    torch.testing.assert_close(no_grad_logp, expected.detach(), rtol=0, atol=1e-12)
    assert forward_entropy is not None
    torch.testing.assert_close(forward_entropy, entropy, rtol=0, atol=1e-12)
    assert token_scores(logits.detach(), targets, transform)[1] is None


def test_the_kernel_keeps_no_float32_copy_of_float32_logits_at_temperature_one() -> None:
    """The identity transform reads the logits themselves (the old path copied them: .float() / T)."""
    logits = torch.randn(2, 5, 30)
    assert logprobs.scaled(logits, 1.0) is logits
    assert logprobs.scaled(logits, 0.5) is not logits


@pytest.mark.parametrize("engine", ["eager", "static"])
@pytest.mark.parametrize("transform", TRANSFORMS, ids=TRANSFORM_IDS)
def test_a_draws_own_log_probs_equal_a_full_rescore(engine: str, transform: SamplingTransform) -> None:
    model = byte_model(eos_bias=0.5)
    prompts = MIXED * 3
    uniforms = draw_uniforms(torch.Generator().manual_seed(5), len(prompts), 10)
    if engine == "eager":
        drawn = sample(model, prompts, 10, uniforms, transform)
    else:
        drawn = SamplingEngine("static", torch.device("cpu")).sample(model, prompts, 10, uniforms, transform, None)
    ended = [not t for t in drawn.truncated]
    assert any(ended) and not all(ended), "the test needs rows that end early and rows that do not"
    assert drawn.sampled_logp is not None and drawn.sampled_logp.dtype == torch.float64
    with torch.no_grad():
        rescored = score(model, drawn, None, transform).logp.double()
    torch.testing.assert_close(drawn.sampled_logp, rescored, rtol=0, atol=1e-5)


def build_trainer(write_config: Callable[..., Path], tmp_path: Path, **sections: Any) -> Trainer:
    config = write_config(**sections)
    out = io.StringIO()
    trainer = Trainer(load_config(config), RunDirectory(tmp_path / "run"), Console(out=out, err=out))
    trainer.build()
    return trainer


class ForwardRows:
    """Counts the rows each role's forward sees, by pass (a wrapper over the role's `forward`)."""

    def __init__(self, trainer: Trainer) -> None:
        self.rows: dict[str, list[int]] = {"policy": [], "anchor": [], "reference": []}
        for name, model in (("policy", trainer.policy), ("anchor", trainer.anchor), ("reference", trainer.ref)):
            if name == "anchor" and model is trainer.ref:
                continue
            self._wrap(name, model)

    def _wrap(self, name: str, model: Any) -> None:
        inner = model.forward

        def counted(ids: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            if not kwargs.get("use_cache", True):  # a scoring pass (sampling runs with a cache)
                self.rows[name].append(ids.shape[0])
            return inner(ids, *args, **kwargs)
        model.forward = counted

    def take(self) -> dict[str, list[int]]:
        taken, self.rows = self.rows, {name: [] for name in self.rows}
        return taken


def test_the_sampler_reuses_a_draws_log_probs_only_while_its_weights_are_in_place(
        write_config: Callable[..., Path], tmp_path: Path) -> None:
    trainer = build_trainer(write_config, tmp_path, sampling={"max_new_tokens": 12, "temperature": 0.9, "top_k": 50})
    sampler, policy = trainer.sampler, trainer.policy
    prompts = trainer.stream.next_batch(4)
    draw = sampler.draw(policy, sampler.encode(prompts), prompts, 2, torch.Generator().manual_seed(1))
    rows = ForwardRows(trainer)
    reused = sampler.logp(policy, draw.completions)
    assert rows.take()["policy"] == [], "the policy's own rows are not scored again"
    with torch.no_grad():
        rescored = score(policy, draw.completions, None, trainer.transform).logp.double()
    rows.take()
    torch.testing.assert_close(reused, rescored, rtol=0, atol=1e-5)
    # Another model's rows, and the same model's once its weights changed, are scored.
    sampler.logp(trainer.ref, draw.completions)
    assert rows.take()["reference"] == [8]
    with torch.no_grad():
        for parameter in policy.module.parameters():
            parameter.add_(0.05)
    sampler.weights_changed()
    after = sampler.logp(policy, draw.completions)
    assert rows.take()["policy"] == [8]
    assert (after - reused).abs().max() > 1e-3  # the weights moved: a stale log-prob would be wrong


def test_jbond_scores_the_anchor_on_the_policy_rows_only_and_the_reference_on_its_cadence(
        write_config: Callable[..., Path], tmp_path: Path) -> None:
    trainer = build_trainer(write_config, tmp_path, algorithm="jbond", jbond={"policy_samples": 2},
                            anchor={"kind": "ema", "ema_eta": 0.1},
                            train={"steps": 7, "batch_size": 4, "lr": 0.01, "warmup_steps": 0, "device": "cpu",
                                   "reference_kl_every": 3})
    assert trainer.algorithm.reference_kl_every == 3
    rows = ForwardRows(trainer)
    seen: dict[int, dict[str, list[int]]] = {}
    metrics: dict[int, dict[str, float]] = {}
    for step in range(1, 8):
        metrics[step] = trainer.train_step(trainer.stream.next_batch(4))
        trainer.step = step
        seen[step] = rows.take()
    # The policy's gradient forward: its 8 samples and the 4 Best-of-2 winners; the anchor: the 8 samples.
    assert all(seen[s]["policy"] == [12] and seen[s]["anchor"] == [8] for s in seen), seen
    due = [s for s in seen if seen[s]["reference"]]
    assert due == [1, 3, 6], seen  # the first step and every 3rd
    assert all(seen[s]["reference"] == [8] for s in due)
    assert [s for s in metrics if "kl/policy_ref" in metrics[s]] == due
    assert all("entropy" in m and "kl/policy_anchor" in m for m in metrics.values())


def test_reinforce_scores_the_reference_every_step_and_entropy_comes_from_the_policy_forward(
        write_config: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The KL penalty is in REINFORCE's loss: the reference is never skipped. No forward computes
    the entropy (the policy's backward does, from the π it rebuilds for the gradient), and the
    metric equals π's entropy computed directly from the policy's logits."""
    trainer = build_trainer(write_config, tmp_path, algorithm="reinforce", reinforce={"samples_per_prompt": 3},
                            train={"steps": 3, "batch_size": 4, "lr": 0.01, "warmup_steps": 0, "device": "cpu"})
    assert trainer.algorithm.reference_kl_every is None
    calls: list[bool] = []
    inner = logprobs.normalised_scores

    def counted(logits: torch.Tensor, targets: torch.Tensor, temperature: float, with_entropy: bool) -> Any:
        calls.append(with_entropy)
        return inner(logits, targets, temperature, with_entropy)
    monkeypatch.setattr(sequences, "normalised_scores", counted)  # no-grad scoring
    monkeypatch.setattr(logprobs, "normalised_scores", counted)   # the gradient forward's kernel
    rows = ForwardRows(trainer)
    for step in range(1, 4):
        metrics = trainer.train_step(trainer.stream.next_batch(4))
        trainer.step = step
        seen = rows.take()
        assert seen["reference"] == [12] and seen["policy"] == [12], seen
        assert "kl/policy_ref" in metrics and "entropy" in metrics
        # the reference's forward and the policy's, each in its two parts (the first completion
        # position from the prompts' pass, then the rest; see shared_prefix.py): no entropy
        assert calls == [False] * 4, calls
        calls.clear()
    # The metric is π's entropy over the policy's samples: recompute it from the policy's logits.
    prompts = trainer.stream.next_batch(4)
    draw = trainer.sampler.draw(trainer.policy, trainer.sampler.encode(prompts), prompts, 3, torch.Generator().manual_seed(4))
    with torch.enable_grad():
        scored = score(trainer.policy, draw.completions, None, trainer.transform, with_entropy=True)
        scored.logp.sum().backward()
    with torch.no_grad():
        direct = score(trainer.policy, draw.completions, None, trainer.transform, with_entropy=True)
    assert scored.entropy is not None and direct.entropy is not None
    torch.testing.assert_close(scored.entropy.double(), direct.entropy.double(), rtol=0, atol=1e-5)


def test_a_jbond_run_writes_the_reference_kl_on_its_cadence_and_the_dashboard_contract_says_so(
        write_config: Callable[..., Path], tmp_path: Path) -> None:
    from bond_trainer.training.session import run_training
    from conftest import assert_run_dir_valid
    import json
    config = write_config(algorithm="jbond", train={"steps": 9, "batch_size": 4, "lr": 0.01, "warmup_steps": 0,
                                                    "device": "cpu", "reference_kl_every": 4},
                          eval={"every": 0}, samples={"every": 0}, checkpoint={"every": 0})
    out = io.StringIO()
    assert run_training(load_config(config), tmp_path / "run", False, config, Console(out=out, err=out)) == 0, out.getvalue()
    assert_run_dir_valid(tmp_path / "run")
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    series = [s for g in meta["metric_groups"] for s in g["series"] if s["key"] == "kl/policy_ref"]
    assert series == [{"key": "kl/policy_ref", "label": "KL to reference", "every": 4}]
    lines = [m for m in read_jsonl(tmp_path / "run" / "metrics.jsonl") if m["kind"] == "train"]
    assert [m["step"] for m in lines if "kl/policy_ref" in m] == [1, 4, 8]
    # The final evaluation measures the KL to the reference on held-out prompts whatever the cadence.
    final = [m for m in read_jsonl(tmp_path / "run" / "metrics.jsonl") if m["kind"] == "eval"]
    assert final and "eval/kl/policy_ref" in final[-1]


def test_gpt2_loads_with_a_fused_gelu_and_a_contiguous_head_input_and_computes_what_transformers_does(
        hf_models: dict[str, Path]) -> None:
    """The two changes the loader makes to a Hugging Face model (models/hf.py) leave its function
    alone: logits equal transformers' own model's to float rounding, with and without gradient, at
    the positions a scoring forward keeps."""
    from transformers import AutoModelForCausalLM
    from transformers.activations import NewGELUActivation
    from bond_trainer.models.hf import load_causal_lm
    ours, _, _ = load_causal_lm(str(hf_models["gpt2"]), Path("."), torch.float32, "policy.hf.model")
    theirs = AutoModelForCausalLM.from_pretrained(str(hf_models["gpt2"]))
    assert not any(isinstance(m, NewGELUActivation) for m in ours.modules())
    assert sum(isinstance(m, NewGELUActivation) for m in theirs.modules()) == 2  # one per layer: swapped
    ids = torch.randint(0, theirs.config.vocab_size - 3, (3, 17))
    for grad in (False, True):
        with torch.set_grad_enabled(grad):
            mine = ours(input_ids=ids, logits_to_keep=9).logits
            reference = theirs(input_ids=ids, logits_to_keep=9).logits
        assert mine.requires_grad == grad
        torch.testing.assert_close(mine, reference, rtol=0, atol=1e-5)


def shared_and_single_scores(model: Any, transform: SamplingTransform, monkeypatch: pytest.MonkeyPatch,
                             ) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """(log-probs, entropy, gradient of every parameter) of one batch scored with the prompt's forward
    shared, then in one forward: prompts repeated over rows of mixed completion lengths, one of a
    single token (scored by the prompts' pass alone: its row in the second part is padding only)."""
    prompts = [MIXED[i % 3] for i in (0, 0, 0, 1, 1, 2, 2, 2, 2)] + [MIXED[3]]
    torch.manual_seed(3)
    lengths = [7, 1, 4, 7, 2, 5, 7, 3, 6, 7]
    completions = sequences.Completions(prompts, [torch.randint(3, 120, (n,)).tolist() for n in lengths],
                                        [True] * len(prompts), [""] * len(prompts))
    results = []
    for shared in (True, False):
        monkeypatch.setattr(sequences, "shares_prompts", lambda: shared)
        model.module.zero_grad()
        scores = score(model, completions, None, transform, with_entropy=True)
        (scores.logp * torch.linspace(-1, 1, len(prompts))).sum().backward()
        grads = torch.cat([p.grad.flatten() for p in model.module.parameters() if p.grad is not None])
        assert scores.entropy is not None and not bool(scores.entropy.isnan().any())
        results.append((scores.logp.detach(), scores.entropy, grads))
    return results


@pytest.mark.parametrize("transform", TRANSFORMS, ids=TRANSFORM_IDS)
@pytest.mark.parametrize("arch", ["byte", "gpt2", "llama"])
def test_scoring_with_each_prompts_forward_shared_equals_one_forward_over_the_rows(
        arch: str, transform: SamplingTransform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Log-probs, entropy and gradients (1e-5) under temperature, top-k and top-p, for our byte GPT
    and transformers' GPT-2 and Llama (whose cache is indexed by row through its own API)."""
    if arch == "byte":
        model: Any = byte_model(eos_bias=0.5)
    else:
        from hf_models import make_causal_lm
        from test_hf import hf_model
        model = hf_model(make_causal_lm(tmp_path / arch, arch))  # type: ignore[arg-type]
    (shared_logp, shared_entropy, shared_grads), (logp, entropy, grads) = shared_and_single_scores(model, transform, monkeypatch)
    torch.testing.assert_close(shared_logp, logp, rtol=0, atol=1e-5)
    torch.testing.assert_close(shared_entropy, entropy, rtol=0, atol=1e-5)
    torch.testing.assert_close(shared_grads, grads, rtol=1e-4, atol=1e-5)
    assert grads.abs().max() > 1e-3, "the gradient reaches the weights (the comparison can fail)"


def test_the_shared_path_runs_each_distinct_prompt_once_and_a_subset_scores_bit_equal_to_the_whole() -> None:
    """The prompt pass sees the distinct prompts only; rows scored apart, padded to the whole batch's
    widths, give the bit-equal log-probs the anchor's KL of exactly 0 rests on."""
    model = byte_model()
    seen: list[tuple[int, bool]] = []
    inner = model.forward

    def counted(ids: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        seen.append((ids.shape[0], kwargs.get("use_cache", True)))
        return inner(ids, *args, **kwargs)
    model.forward = counted  # type: ignore[method-assign]
    prompts = [MIXED[0]] * 4 + [MIXED[2]] * 4
    completions = sequences.Completions(prompts, [list(b"abcdef"[:n]) for n in (6, 3, 6, 1, 2, 6, 5, 4)],
                                        [True] * 8, [""] * 8)
    with torch.no_grad():
        whole = score(model, completions).logp
        assert seen == [(2, True), (8, False)], seen
        part = score(model, completions.select([1, 5, 6]), pad_to=completions.widths()).logp
    assert torch.equal(part, whole[[1, 5, 6]])


@pytest.mark.parametrize("shared", [True, False], ids=["shared", "one-forward"])
def test_a_model_that_ignores_keep_last_scores_the_same(shared: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """keep_last is a hint (transformers' logits_to_keep, which not every model takes): a model that
    returns every position's logits is sliced to the completion's, in both scoring paths."""
    model = byte_model()
    prompts = [MIXED[0]] * 3 + [MIXED[2]] * 2
    completions = sequences.Completions(prompts, [list(b"abcdef"[:n]) for n in (6, 3, 1, 2, 5)], [True] * 5, [""] * 5)
    monkeypatch.setattr(sequences, "shares_prompts", lambda: shared)
    with torch.no_grad():
        expected = score(model, completions).logp
        inner = model.forward
        model.forward = lambda ids, mask, **kwargs: inner(ids, mask, **{**kwargs, "keep_last": None})  # type: ignore[method-assign]
        every = torch.tensor([MIXED[2]])
        assert model.forward(every, torch.ones_like(every), keep_last=1)[0].shape[1] == len(MIXED[2]), "every position"
        ignored = score(model, completions).logp
    torch.testing.assert_close(ignored, expected, rtol=0, atol=1e-6)
