"""A J-BOND step built naively from Hugging Face parts against ours, in one process, on the same
GPT-2-124M-sized random-init model: prompts/s, sampling tokens/s, update tokens/s, MFU, peak
memory (each step's own, beyond what was held when it started), and the ratio.

The same work on both sides: one policy and two anchor samples per prompt, every completion exactly
--new-tokens long, dropout off, the anchor scores the policy's samples, no reference pass (ours:
train.reference_kl_every beyond the timed steps), tokens counted as generated. Steps are
interleaved (naive, ours, ours, naive, …) after one warm-up each; the table has medians over
--steps steps a side, and the ratio its spread over the interleaved pairs.

(a) naive: `generate` for one policy sample and two anchor samples per prompt, log-probs from a full
    fp32 log-softmax, a plain autocast update, the EMA anchor (the losses are ours: the same math).
(b) ours: the trainer's own `train_step` (sampling.engine auto: static with CUDA graphs on CUDA;
    fused AdamW; the log-prob kernel of sampling/logprobs.py).
(c) a plain autocast training step of the same model on the same number of tokens: the update's
    ceiling ("update vs plain").

    python bench/jbond_step.py --device cuda                  # 128 prompts × 3 samples × 128 new tokens
    python bench/jbond_step.py --device cpu --tiny            # the CI smoke run: the same table, small
    python bench/jbond_step.py --device cuda --engine eager   # ours without the static engine

Nothing downloads: the model comes from a config, the tokenizer is a synthetic word-level vocabulary
of GPT-2's size (bench/hf_bench.py builds both).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "trainer"))
sys.path.insert(0, str(ROOT / "bench"))

import torch  # noqa: E402

from hf_bench import build_model  # noqa: E402

H100_BF16_TFLOPS = 989.0  # dense bf16 peak of an H100/H200 SXM, for MFU


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn: Callable[[], Any], device: torch.device) -> tuple[Any, float]:
    synchronize(device)
    start = time.perf_counter()
    result = fn()
    synchronize(device)
    return result, time.perf_counter() - start


def prompts_file(work: Path, count: int) -> Path:
    path = work / "prompts.jsonl"
    path.write_text("".join(json.dumps({"prompt": " ".join(f"t{(7 * i + j) % 400}" for j in range(8))}) + "\n"
                            for i in range(count)), encoding="utf-8")
    return path


def reward(texts: list[str]) -> list[float]:
    return [float(sum(ch in "13579" for ch in text)) for text in texts]  # any cheap, deterministic score


def naive_setup(folder: Path, device: torch.device, prompts: list[str], new_tokens: int) -> Callable[[], dict[str, float]]:
    """The naive step's models and optimizer, built once; returns the step."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from bond_trainer.algorithms.objectives import jbond_loss
    from bond_trainer.models.dropout import disable_dropout

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    tokenizer.padding_side = "left"
    policy = AutoModelForCausalLM.from_pretrained(str(folder)).to(device)
    anchor = AutoModelForCausalLM.from_pretrained(str(folder)).to(device).eval().requires_grad_(False)
    disable_dropout(policy)  # as ours does: no dropout in any forward (GPT-2 has 0.1)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=1e-5)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    encoded = tokenizer(prompts, return_tensors="pt", padding=True).to(device)
    width = encoded["input_ids"].shape[1]

    def generate(model: Any, copies: int) -> torch.Tensor:
        with torch.no_grad(), autocast:
            return model.generate(**encoded, do_sample=True, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                                  num_return_sequences=copies, pad_token_id=tokenizer.pad_token_id)

    def logp(model: Any, sequences: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        with autocast:
            logits = model(input_ids=sequences, attention_mask=mask).logits
        log_probs = torch.log_softmax(logits[:, width - 1:-1].float(), dim=-1)  # the full [B, T, V] fp32 tensor
        return log_probs.gather(2, sequences[:, width:, None]).squeeze(2).sum(dim=1)

    def step() -> dict[str, float]:
        synchronize(device)
        t0 = time.perf_counter()
        y = generate(policy.eval(), 1)
        pair = generate(anchor, 2)
        synchronize(device)
        t1 = time.perf_counter()
        texts_y = tokenizer.batch_decode(y[:, width:])
        texts_pair = tokenizer.batch_decode(pair[:, width:])
        r_y = torch.tensor(reward(texts_y), dtype=torch.float64).view(-1, 1)
        r_pair = torch.tensor(reward(texts_pair), dtype=torch.float64).view(-1, 2)
        best = pair.view(len(prompts), 2, -1)[torch.arange(len(prompts)), r_pair.argmax(dim=1)]
        mask_y = torch.ones_like(y)
        mask_y[:, :width] = encoded["attention_mask"]
        policy.train()
        lp = logp(policy, y, mask_y)
        lb = logp(policy, best, mask_y)
        with torch.no_grad():
            la = logp(anchor, y, mask_y)
        terms = jbond_loss(lp.view(-1, 1), la.view(-1, 1).detach(), r_y.to(device), r_pair.to(device), lb, 0.5, 0.0)
        optimizer.zero_grad(set_to_none=True)
        terms.total.backward()
        optimizer.step()
        with torch.no_grad():
            for a, p in zip(anchor.parameters(), policy.parameters()):
                a.lerp_(p, 0.02)
        synchronize(device)
        t2 = time.perf_counter()
        generated = float(y.shape[0] * (y.shape[1] - width) + pair.shape[0] * (pair.shape[1] - width))
        return {"sample_s": t1 - t0, "update_s": t2 - t1, "total_s": t2 - t0, "generated": generated}

    return step


def our_setup(folder: Path, device: torch.device, work: Path, batch: int, new_tokens: int, steps: int,
              engine: str) -> tuple[Callable[[], dict[str, float]], str]:
    """Our trainer, built once; returns its step and the engine it samples with. The same work as the
    naive step: one policy and two anchor samples per prompt, fixed-length completions (an
    end-of-sequence id the model cannot draw), the anchor scores the policy's samples, and no
    reference pass (the naive step has none: train.reference_kl_every beyond the timed steps)."""
    from bond_trainer.inputs.config import config_from_dict
    from bond_trainer.run.console import Console
    from bond_trainer.run.rundir import RunDirectory
    from bond_trainer.training.trainer import Trainer

    raw = {"name": "jbond-step", "algorithm": "jbond", "policy": {"hf": {"model": str(folder)}},
           "reward": {"type": "keyword", "pattern": "[13579]"}, "data": {"train": ["prompts.jsonl"], "eval_fraction": 0.05},
           "jbond": {"policy_samples": 1}, "anchor": {"kind": "ema", "ema_eta": 0.02},
           "train": {"steps": 2 * steps + 4, "batch_size": batch, "lr": 1e-5, "warmup_steps": 0, "device": device.type,
                     "reference_kl_every": 1_000_000},
           "sampling": {"max_new_tokens": new_tokens, "engine": engine},
           "eval": {"every": 0, "prompts": 2, "policy_samples": 2, "mc_samples": 4, "n_max": 4, "bon_n": 2},
           "samples": {"every": 0}, "checkpoint": {"every": 0}}
    cfg = config_from_dict(raw, base_dir=work)
    (work / "run").mkdir(exist_ok=True)
    out = io.StringIO()
    trainer = Trainer(cfg, RunDirectory(work / "run"), Console(out=out, err=out))
    trainer.build()
    vocabulary = trainer.policy.tokenizer.vocab_size
    for role in (trainer.policy, trainer.anchor, trainer.ref):
        role.tokenizer.eos_id = vocabulary + 1  # fixed length, as the naive side's min_new_tokens

    def step() -> dict[str, float]:
        before = trainer.num_tokens
        metrics, seconds = timed(lambda: trainer.train_step(trainer.stream.next_batch(batch)), device)
        trainer.step += 1
        return {"sample_s": metrics["time/sample_s"], "update_s": metrics["time/score_s"] + metrics["time/update_s"],
                "total_s": seconds, "generated": float(trainer.num_tokens - before)}

    return step, trainer.engine.engine


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def plain_step(folder: Path, device: torch.device, rows: int, length: int, steps: int) -> float:
    """Seconds of one plain autocast training step (forward, cross-entropy, backward, AdamW) on rows × length tokens."""
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(str(folder)).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, **({"fused": True} if device.type == "cuda" else {}))
    ids = torch.randint(0, model.config.vocab_size - 2, (rows, length), device=device)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = model(input_ids=ids, labels=ids).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()
    times = [timed(step, device)[1] for _ in range(steps)]
    return sum(times) / len(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tiny", action="store_true", help="a small model and batch: the CI smoke run")
    parser.add_argument("--prompts", type=int, default=None)
    parser.add_argument("--new-tokens", type=int, default=None)
    parser.add_argument("--steps", type=int, default=10, help="timed steps a side, interleaved")
    parser.add_argument("--engine", default="auto", choices=["auto", "eager", "static"], help="our step's sampling.engine")
    parser.add_argument("--peak-tflops", type=float, default=H100_BF16_TFLOPS, help="the device's dense bf16 peak, for MFU")
    args = parser.parse_args()
    device = torch.device(args.device)
    batch = args.prompts or (4 if args.tiny else 128)
    new_tokens = args.new_tokens or (8 if args.tiny else 128)
    steps = args.steps
    work = Path(tempfile.mkdtemp(prefix="jbond-step-"))
    folder = work / "model"
    build_model(folder, args.tiny)
    prompts_file(work, max(2 * batch * (steps + 2), 64))
    prompts = [json.loads(line)["prompt"] for line in (work / "prompts.jsonl").read_text().splitlines()][:batch]
    from transformers import AutoConfig
    parameters = sum(p.numel() for p in __import__("transformers").AutoModelForCausalLM.from_config(
        AutoConfig.from_pretrained(str(folder))).parameters())

    naive_step = naive_setup(folder, device, prompts, new_tokens)
    ours_step, ours_engine = our_setup(folder, device, work, batch, new_tokens, steps, args.engine)
    naive_step(), ours_step()  # warm-up (and graph capture)

    def measured(step_fn: Callable[[], dict[str, float]]) -> dict[str, float]:
        """A step, with the device memory it allocated beyond what was held when it started (GiB)."""
        held = 0
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
            held = torch.cuda.memory_allocated()
        result = step_fn()
        result["peak_gib"] = (torch.cuda.max_memory_allocated() - held) / 2**30 if device.type == "cuda" else float("nan")
        return result

    # Interleaved: naive, ours, ours, naive, …, so that neither side always runs first or on a warmer machine.
    naive_runs: list[dict[str, float]] = []
    ours_runs: list[dict[str, float]] = []
    for index in range(steps):
        order = [(naive_step, naive_runs), (ours_step, ours_runs)]
        for step_fn, runs in (order if index % 2 == 0 else order[::-1]):
            runs.append(measured(step_fn))
    naive, ours = median_of(naive_runs), median_of(ours_runs)
    for result, runs in ((naive, naive_runs), (ours, ours_runs)):
        result["peak_gib"] = max(r["peak_gib"] for r in runs)
    ratios = sorted(n["total_s"] / o["total_s"] for n, o in zip(naive_runs, ours_runs))
    prompt_tokens = 8
    plain = plain_step(folder, device, 2 * batch, prompt_tokens + new_tokens, steps)

    sampled = ours["generated"]                    # one policy and two anchor samples per prompt, as generated
    assert naive["generated"] == sampled, (naive["generated"], sampled)  # the same work on both sides
    updated = 2 * batch * (prompt_tokens + new_tokens)  # the policy's rows and the Best-of-2 winners
    # FLOPs: 2·N per sampled token (forward), 6·N per updated token (forward and backward) + 2·N per
    # token of the anchor's scoring pass over the policy's samples (half the updated rows).
    flops = 2 * parameters * sampled + 6 * parameters * updated + parameters * updated

    def row(name: str, r: dict[str, float]) -> list[str]:
        mfu = f"{100 * flops / r['total_s'] / (args.peak_tflops * 1e12):.1f}%" if device.type == "cuda" else "n/a (CPU)"
        peak = "n/a" if r["peak_gib"] != r["peak_gib"] else f"{r['peak_gib']:.1f}"
        return [name, f"{batch / r['total_s']:.2f}", f"{sampled / r['sample_s']:,.0f}", f"{updated / r['update_s']:,.0f}",
                mfu, peak]

    header = ["step", "prompts/s", "sampling tokens/s", "update tokens/s", "MFU", "peak GiB"]
    table = [header, row("naive (HF generate)", naive), row(f"ours (engine {ours_engine})", ours)]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    print(f"J-BOND step, {parameters / 1e6:.1f}M parameters, {batch} prompts × 3 samples × {new_tokens} new tokens, "
          f"{device} ({torch.cuda.get_device_name() if device.type == 'cuda' else 'CPU'}), torch {torch.__version__}")
    for r in table:
        print("  ".join(cell.rjust(w) for cell, w in zip(r, widths)))
    print(f"ratio ours/naive (prompts/s): {statistics.median(ratios):.2f}x (per interleaved pair: min {ratios[0]:.2f}, "
          f"max {ratios[-1]:.2f}, over {len(ratios)} pairs; medians over the steps above)")
    print(f"update vs plain autocast training step (tokens/s): {updated / ours['update_s'] / (updated / plain):.2f}")


if __name__ == "__main__":
    main()
