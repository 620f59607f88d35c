"""Hugging Face policies and reward models, on tiny random models built in the tests (CPU)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Callable

import pytest
import torch

from bond_trainer.inputs.config import load_config
from bond_trainer.run.console import Console
from bond_trainer.models.hf import HFCausalLM, HFTokenizer, load_causal_lm
from bond_trainer.models.roles import build_roles
from bond_trainer.sampling.sequences import Completions, draw_uniforms, inverse_cdf, sample, score
from bond_trainer.training.session import run_training
from conftest import assert_run_dir_valid, read_jsonl, run_folder_validator


def hf_model(folder: Path, chat: bool = False) -> HFCausalLM:
    module, tokenizer, _ = load_causal_lm(str(folder), folder, torch.float32, "policy.hf.model")
    return HFCausalLM(module.eval(), HFTokenizer(tokenizer, chat, "policy.hf"), 96, folder.name)


def train(config: Path, run_dir: Path, resume: bool = False) -> tuple[int, str]:
    out = io.StringIO()
    code = run_training(load_config(config), run_dir, resume, config, Console(out=out, err=out, min_interval_s=0))
    return code, out.getvalue()


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_log_probs_of_a_left_padded_batch_equal_one_by_one(arch: str, hf_models: dict[str, Path]) -> None:
    model = hf_model(hf_models[arch])
    encode = model.tokenizer.encode
    batch = Completions(prompt_ids=[encode("the food"), encode("a much longer prompt about the room"), encode("p1:")],
                        completion_ids=[encode(" was great") + [model.tokenizer.eos_id], encode(" ok"),
                                        encode(" and the staff were friendly and kind")],
                        truncated=[False, True, True], texts=["", "", ""])
    together = score(model, batch).logp
    alone = torch.cat([score(model, batch.select([i])).logp for i in range(3)])
    assert torch.allclose(together, alone, atol=1e-4), (together, alone)
    # Against transformers itself, unpadded, for row 1.
    ids = torch.tensor([batch.prompt_ids[1] + batch.completion_ids[1]])
    logits = model.module(input_ids=ids).logits
    start = len(batch.prompt_ids[1])
    expected = logits.log_softmax(-1)[0, start - 1:-1].gather(1, ids[0, start:, None]).sum()
    assert torch.allclose(together[1], expected, atol=1e-4)


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_kv_cache_sampling_equals_full_prefix_decoding(arch: str, hf_models: dict[str, Path]) -> None:
    model = hf_model(hf_models[arch])
    prompts = [model.tokenizer.encode(p) for p in ("the", "we loved the view", "Review:")]
    uniforms = draw_uniforms(torch.Generator().manual_seed(4), 3, 10)
    completions = sample(model, prompts, 10, uniforms)
    rows, done = [list(p) for p in prompts], [False] * 3
    produced: list[list[int]] = [[] for _ in prompts]
    for position in range(10):
        with torch.no_grad():
            probs = torch.stack([model.module(input_ids=torch.tensor([r])).logits[0, -1].softmax(-1) for r in rows])
        for i, token in enumerate(inverse_cdf(probs, uniforms[:, position]).tolist()):
            if not done[i]:
                produced[i].append(token)
                rows[i].append(token)
                done[i] = token == model.tokenizer.eos_id
    assert completions.completion_ids == produced


def hf_config(tmp_path: Path, hf_models: dict[str, Path], write_config: Callable[..., Path], **sections: Any) -> Path:
    return write_config(**{
        "policy": {"hf": {"model": str(hf_models["gpt2"])}},
        "reward": {"type": "hf", "model": str(hf_models["reward"]), "template": "Q: {prompt}\nA: {completion}", "batch_size": 7},
        "train": {"steps": 10, "batch_size": 4, "lr": 0.01, "warmup_steps": 0, "seed": 3, "device": "cpu"},
        "sampling": {"max_new_tokens": 6},
        "eval": {"every": 5, "prompts": 4, "policy_samples": 2, "mc_samples": 8, "n_max": 8, "bon_n": 4},
        "checkpoint": {"every": 5, "keep_last": 1},
        **sections})


def test_ten_jbond_steps_of_a_gpt2_policy_with_a_reward_model_of_another_vocabulary(
        tmp_path: Path, hf_models: dict[str, Path], write_config: Callable[..., Path]) -> None:
    config = hf_config(tmp_path, hf_models, write_config)
    run_dir = tmp_path / "run"
    code, out = train(config, run_dir)
    assert code == 0, out
    assert_run_dir_valid(run_dir)
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "completed" and meta["world_size"] == 1
    assert meta["model"].startswith("tiny-gpt2 (gpt2)") and "full fine-tuning" in meta["model"]
    assert meta["model"].endswith("reward: hf(tiny-reward)")
    train_lines = [r for r in read_jsonl(run_dir / "metrics.jsonl") if r["kind"] == "train"]
    assert len(train_lines) == 10
    rewards = {r["reward/policy"] for r in train_lines}
    assert len(rewards) > 1  # the reward model scored real, varying text
    # The policy moved, the reference did not; the checkpoint holds a folder transformers can load.
    from transformers import AutoModelForCausalLM
    trained = AutoModelForCausalLM.from_pretrained(str(run_dir / "checkpoints" / "step-10" / "hf"))
    original = AutoModelForCausalLM.from_pretrained(str(hf_models["gpt2"]))
    with torch.no_grad():
        moved = sum(float((a - b).abs().sum()) for a, b in zip(trained.parameters(), original.parameters()))
    assert moved > 0
    samples = read_jsonl(run_dir / "samples.jsonl")
    assert samples and all(isinstance(s["policy"][0]["text"], str) for s in samples)


def test_lora_with_a_chat_template_trains_adapters_only_and_the_anchor_follows_by_ema(
        tmp_path: Path, hf_models: dict[str, Path], write_config: Callable[..., Path]) -> None:
    lora = {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]}
    config = hf_config(tmp_path, hf_models, write_config,
                       policy={"hf": {"model": str(hf_models["llama"]), "chat_template": True, "lora": lora}},
                       reward={"type": "hf", "model": str(hf_models["reward"]), "chat_template": True},
                       bond={"ema_eta": 0.2})
    cfg = load_config(config)
    roles = build_roles(cfg, torch.device("cpu"))
    assert roles.lora and roles.policy.module is roles.anchor.module is roles.reference.module  # one base
    trainable = roles.trainable_parameters()
    assert trainable and all(".policy." in n for n, p in roles.policy.module.named_parameters() if p.requires_grad)
    # The chat template wraps the prompt as a user turn.
    tok = roles.policy.tokenizer
    assert tok.encode("hi")[0] == tok.hf.convert_tokens_to_ids("<|user|>")

    run_dir = tmp_path / "run"
    code, out = train(config, run_dir)
    assert code == 0, out
    assert_run_dir_valid(run_dir)
    meta = json.loads((run_dir / "run.json").read_text())
    assert "LoRA r=4" in meta["model"]
    step = run_dir / "checkpoints" / "step-10"
    policy = torch.load(step / "model.pt", weights_only=True)["state_dict"]
    anchor = torch.load(step / "anchor.pt", weights_only=True)
    assert set(policy) == set(anchor) and all("lora_" in name for name in policy)
    start = dict(roles._trainable_named("policy"))  # the adapters as initialised (anchor = policy at step 0)
    b_weights = [name for name in policy if "lora_B" in name]
    # B starts at zero: the policy moved it, and the anchor followed part of the way (EMA, η = 0.2).
    assert all(float(start[name].detach().abs().sum()) == 0 for name in b_weights)
    policy_moved = sum(float(policy[name].abs().sum()) for name in b_weights)
    # The anchor is an EMA of merged updates B·A, held at rank 2r (lora.anchor_rank's default).
    assert all(anchor[name].shape[1] == 2 * policy[name].shape[1] for name in b_weights)
    merged = [(policy[b] @ policy[b.replace("lora_B", "lora_A")], anchor[b] @ anchor[b.replace("lora_B", "lora_A")])
              for b in b_weights]
    policy_delta = sum(float(p.abs().sum()) for p, _ in merged)
    anchor_delta = sum(float(a.abs().sum()) for _, a in merged)
    gap = sum(float((2 * p - a).abs().sum()) for p, a in merged)  # scaling alpha/r = 2 for the policy, 1 for the anchor
    assert policy_moved > 0 and policy_delta > 0 and anchor_delta > 0 and gap > 0
    # The base weights never change: the saved adapter folder holds adapters only.
    saved = sorted(p.name for p in (step / "hf").iterdir())
    assert "adapter_config.json" in saved and "config.json" not in saved
    from peft import PeftModel
    from transformers import AutoModelForCausalLM
    loaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(hf_models["llama"])), str(step / "hf"))
    loaded_b = {n: p for n, p in loaded.named_parameters() if "lora_B" in n}
    assert sum(float(p.detach().abs().sum()) for p in loaded_b.values()) == pytest.approx(policy_moved, rel=1e-5)


def test_a_missing_model_fails_clearly_naming_the_path_and_how_to_fetch_it(
        tmp_path: Path, hf_models: dict[str, Path], write_config: Callable[..., Path]) -> None:
    config = hf_config(tmp_path, hf_models, write_config, policy={"hf": {"model": "models/not-fetched-yet"}})
    run_dir = tmp_path / "run"
    code, message = train(config, run_dir)
    assert code == 2
    assert not run_dir.exists(), "a run that could not start leaves nothing behind"
    assert "policy.hf.model" in message and "models/not-fetched-yet" in message and "hf download" in message


def test_a_reward_model_with_several_labels_is_refused(tmp_path: Path, hf_models: dict[str, Path],
                                                      write_config: Callable[..., Path]) -> None:
    from transformers import AutoConfig
    folder = tmp_path / "two-labels"
    import shutil
    shutil.copytree(hf_models["reward"], folder)
    cfg = AutoConfig.from_pretrained(str(folder))
    cfg.num_labels = 2
    cfg.save_pretrained(str(folder))
    config = hf_config(tmp_path, hf_models, write_config,
                       reward={"type": "hf", "model": str(folder)})
    code, out = train(config, tmp_path / "run")
    assert code == 2, out
    assert "2 output labels" in out and "reward.model" in out


@pytest.mark.parametrize("algorithm,invariant", [("bond", True), ("jbond", True), ("reinforce", False)])
def test_standardised_rewards_change_nothing_for_bond_and_jbond_but_do_for_reinforce(
        algorithm: str, invariant: bool, tmp_path: Path, write_config: Callable[..., Path]) -> None:
    # On the built-in model: the point is the objective, not the model.
    losses = {}
    for mode in ("none", "standardize"):
        config = write_config(f"{mode}.bond.json", algorithm=algorithm, reward={"type": "keyword", "pattern": "[a-m]",
                                                                                 "normalize": mode},
                              train={"steps": 4}, eval={"every": 0}, samples={"every": 0})
        run_dir = tmp_path / mode
        code, out = train(config, run_dir)
        assert code == 0, out
        losses[mode] = [r["loss/total"] for r in read_jsonl(run_dir / "metrics.jsonl") if r["kind"] == "train"]
    same = all(abs(a - b) < 1e-9 for a, b in zip(losses["none"], losses["standardize"]))
    assert same is invariant, losses


def test_gradient_checkpointing_trains_the_same_as_without(tmp_path: Path, hf_models: dict[str, Path],
                                                           write_config: Callable[..., Path]) -> None:
    runs = {}
    for checkpointing in (False, True):
        config = hf_config(tmp_path, hf_models, write_config,
                           policy={"hf": {"model": str(hf_models["llama"]), "gradient_checkpointing": checkpointing}},
                           train={"steps": 3, "batch_size": 4, "lr": 0.01, "warmup_steps": 0, "seed": 3, "device": "cpu"},
                           eval={"every": 0}, samples={"every": 0})
        assert build_roles(load_config(config), torch.device("cpu")).policy.module.is_gradient_checkpointing is checkpointing
        run_dir = tmp_path / f"gc-{checkpointing}"
        code, out = train(config, run_dir)
        assert code == 0, out
        runs[checkpointing] = [r["loss/total"] for r in read_jsonl(run_dir / "metrics.jsonl") if r["kind"] == "train"]
    assert runs[True] == pytest.approx(runs[False], rel=1e-5)


def ort_logits(folder: Path, ids: torch.Tensor, mask: torch.Tensor) -> tuple[Any, dict[str, Any]]:
    """Full-prefix logits from an exported model, then one cached step with token 5 (the KV path)."""
    import numpy as np
    import onnxruntime as ort
    info = json.loads((folder / "model.json").read_text())
    session = ort.InferenceSession(str(folder / "model.onnx"))
    feeds = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
    for name in info["inputs"][2:]:
        feeds[name] = np.zeros((ids.shape[0], info["heads"], 0, info["head_dim"]), np.float32)
    first = session.run(None, feeds)
    step = {"input_ids": np.full((ids.shape[0], 1), 5, np.int64),
            "attention_mask": np.concatenate([mask.numpy(), np.ones((ids.shape[0], 1), np.int64)], 1)}
    for i, name in enumerate(info["inputs"][2:]):
        step[name] = first[1 + i]
    return (first[0], session.run(None, step)[0]), info


def torch_logits(model: Any, ids: torch.Tensor, mask: torch.Tensor) -> tuple[Any, Any]:
    def run(i: torch.Tensor, m: torch.Tensor) -> Any:
        with torch.no_grad():
            return model(input_ids=i, attention_mask=m, position_ids=(m.cumsum(1) - 1).clamp(min=0)).logits.numpy()
    longer = torch.cat([ids, torch.full((ids.shape[0], 1), 5)], 1)
    return run(ids, mask), run(longer, torch.cat([mask, torch.ones(ids.shape[0], 1, dtype=torch.long)], 1))


def assert_parity(exported: tuple[Any, Any], reference: tuple[Any, Any], mask: torch.Tensor) -> None:
    import numpy as np
    real = mask.bool().numpy()
    assert np.abs(exported[0] - reference[0])[real].max() <= 1e-4
    assert np.abs(exported[1][:, -1] - reference[1][:, -1]).max() <= 1e-4


def test_export_onnx_writes_every_role_of_a_lora_chat_run_with_its_tokenizer_and_matches_pytorch(
        tmp_path: Path, hf_models: dict[str, Path], write_config: Callable[..., Path]) -> None:
    config = hf_config(tmp_path, hf_models, write_config,
                       policy={"hf": {"model": str(hf_models["llama"]), "chat_template": True, "lora": {"r": 4}}},
                       train={"steps": 3, "batch_size": 4, "lr": 0.05, "warmup_steps": 0, "seed": 3, "device": "cpu"},
                       eval={"every": 0}, samples={"every": 0}, checkpoint={"every": 3}, export={"onnx": True})
    run_dir = tmp_path / "run"
    code, out = train(config, run_dir)
    assert code == 0, out
    step = run_dir / "exports" / "step-3"
    assert sorted(p.name for p in step.iterdir()) == ["anchor", "policy", "reference"]
    from peft import PeftModel
    from transformers import AutoModelForCausalLM
    trained = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(hf_models["llama"])),
                                        str(run_dir / "checkpoints" / "step-3" / "hf")).merge_and_unload().eval()
    base = AutoModelForCausalLM.from_pretrained(str(hf_models["llama"])).eval()
    for batch, length in ((1, 4), (3, 7)):
        ids = torch.randint(3, 200, (batch, length), generator=torch.Generator().manual_seed(length))
        mask = torch.ones(batch, length, dtype=torch.long)
        mask[1:, :2] = 0  # left padding in the rows after the first
        exported, info = ort_logits(step / "policy", ids, mask)
        assert_parity(exported, torch_logits(trained, ids, mask), mask)
        assert_parity(ort_logits(step / "reference", ids, mask)[0], torch_logits(base, ids, mask), mask)
    assert info["tokenizer"]["type"] == "hf" and (step / "policy" / "tokenizer.json").exists()
    assert info["tokenizer"]["chat"] == {"prefix": "<|user|>", "suffix": "<|end|><|assistant|>"}
    assert info["heads"] == 2 and info["layers"] == 2  # the KV heads (grouped-query attention)


def test_an_hf_checkpoint_exports_from_the_command_line(tmp_path: Path, hf_models: dict[str, Path],
                                                        write_config: Callable[..., Path]) -> None:
    config = hf_config(tmp_path, hf_models, write_config, train={"steps": 2, "batch_size": 4, "warmup_steps": 0,
                                                                  "device": "cpu"},
                       eval={"every": 0}, samples={"every": 0}, checkpoint={"every": 2})
    run_dir = tmp_path / "run"
    assert train(config, run_dir)[0] == 0
    from bond_trainer.models.export import export_onnx
    checkpoint = run_dir / "checkpoints" / "step-2"
    export_onnx(checkpoint, tmp_path / "policy", "policy", 2)
    from transformers import AutoModelForCausalLM
    trained = AutoModelForCausalLM.from_pretrained(str(checkpoint / "hf")).eval()
    ids, mask = torch.randint(3, 200, (2, 5)), torch.ones(2, 5, dtype=torch.long)
    assert_parity(ort_logits(tmp_path / "policy", ids, mask)[0], torch_logits(trained, ids, mask), mask)
    anchor = export_onnx(checkpoint, tmp_path / "anchor", "anchor", 2)
    assert anchor.role == "anchor" and (tmp_path / "anchor" / "model.onnx").exists()


def test_a_model_torch_onnx_cannot_export_is_recorded_and_training_goes_on(
        tmp_path: Path, hf_models: dict[str, Path], write_config: Callable[..., Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("Unsupported: ONNX export of operator foo")
    monkeypatch.setattr(torch.onnx, "export", refuse)
    config = hf_config(tmp_path, hf_models, write_config, train={"steps": 2, "batch_size": 4, "warmup_steps": 0,
                                                                  "device": "cpu"},
                       eval={"every": 0}, samples={"every": 0}, checkpoint={"every": 2}, export={"onnx": True})
    run_dir = tmp_path / "run"
    code, out = train(config, run_dir)
    assert code == 0, out
    errors = json.loads((run_dir / "exports" / "step-2" / "errors.json").read_text())
    assert not list(run_folder_validator("exportErrors").iter_errors(errors))
    assert set(errors) == {"policy", "anchor", "reference"}
    assert "torch.onnx could not export this gpt2 model" in errors["policy"] and "operator foo" in errors["policy"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message a machine without CUDA gives")
def test_a_reward_model_on_a_missing_gpu_is_a_config_error(tmp_path: Path, hf_models: dict[str, Path],
                                                          write_config: Callable[..., Path]) -> None:
    config = hf_config(tmp_path, hf_models, write_config,
                       reward={"type": "hf", "model": str(hf_models["reward"]), "device": "cuda"})
    code, out = train(config, tmp_path / "run")
    assert code == 2, out
    assert "reward.device" in out and "use auto or cpu" in out
