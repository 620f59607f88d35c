"""J-BOND on a GPT-2-124M-sized, randomly initialised Hugging Face model: steps/s and peak memory.

Nothing downloads: the model is built from a config and the tokenizer is a synthetic word-level
vocabulary of GPT-2's size (50257), so logits and the KV cache have GPT-2's real shapes. Each
variant runs in its own process (clean peak-memory figures) through the trainer's real `train`
path, and the table compares them in the same run.

    python bench/hf_bench.py --device cuda             # bf16 full fine-tuning, LoRA, fp32 baseline
    python bench/hf_bench.py --device cpu --tiny       # a quick smoke run of the same code
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "trainer"))


def build_model(folder: Path, tiny: bool) -> None:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    vocab_size = 512 if tiny else 50257
    vocab = {f"t{i}": i for i in range(vocab_size - 2)}
    vocab.update({"<eos>": vocab_size - 2, "<pad>": vocab_size - 1})
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<eos>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##")
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", pad_token="<pad>")
    torch.manual_seed(0)
    shape = dict(n_embd=64, n_layer=2, n_head=2) if tiny else dict(n_embd=768, n_layer=12, n_head=12)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=vocab_size, n_positions=1024, eos_token_id=vocab_size - 2,
                                       pad_token_id=vocab_size - 1, bos_token_id=vocab_size - 2, **shape))
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))


def run_variant(folder: Path, variant: str, device: str, steps: int, batch: int, tokens: int) -> dict[str, object]:
    import torch
    from bond_trainer.inputs.config import config_from_dict
    from bond_trainer.run.console import Console
    from bond_trainer.training.session import run_training

    work = Path(tempfile.mkdtemp())
    (work / "prompts.jsonl").write_text("".join(json.dumps({"prompt": f"t{i} t{i + 1} t{i + 2} t{i + 3}"}) + "\n"
                                                for i in range(64)))
    hf: dict[str, object] = {"model": str(folder), "dtype": "fp32" if variant == "fp32 full" else "auto"}
    if variant.startswith("bf16 LoRA"):
        hf["lora"] = {"r": 16, "alpha": 32}
    raw = {"name": "hf-bench", "algorithm": "jbond", "policy": {"hf": hf},
           "reward": {"type": "length", "target_length": 40},
           "data": {"train": ["prompts.jsonl"], "eval_fraction": 0.1},
           "train": {"steps": steps, "batch_size": batch, "lr": 1e-5, "warmup_steps": 0, "device": device,
                     "precision": "fp32"},
           "sampling": {"max_new_tokens": tokens}, "eval": {"every": 0, "prompts": 4, "policy_samples": 2,
                                                            "mc_samples": 8, "n_max": 8, "bon_n": 4},
           "samples": {"every": 0}, "checkpoint": {"every": 0}}
    cfg = config_from_dict(raw, base_dir=work)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    out = io.StringIO()
    start = time.perf_counter()
    code = run_training(cfg, work / "run", False, None, Console(out=out, err=out))
    wall = time.perf_counter() - start
    if code != 0:
        return {"variant": variant, "error": out.getvalue()[-2000:]}
    lines = [json.loads(l) for l in (work / "run" / "metrics.jsonl").read_text().splitlines()]
    train = [l for l in lines if l["kind"] == "train"]
    # The first two steps warm up kernels and allocators: time the rest.
    timed = train[2:] or train
    span = timed[-1]["time"] - timed[0]["time"]
    steps_per_s = (len(timed) - 1) / span if len(timed) > 1 and span > 0 else float("nan")
    meta = json.loads((work / "run" / "run.json").read_text())
    return {"variant": variant, "model": meta.get("model"), "device": meta.get("device"),
            "steps_per_s": steps_per_s, "tokens_per_s": sum(l["perf/tokens_per_s"] for l in timed) / len(timed),
            "sample_s": sum(l["time/sample_s"] for l in timed) / len(timed),
            "update_s": sum(l["time/update_s"] for l in timed) / len(timed),
            "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan"),
            "wall_s": wall}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="a small model: checks the bench itself")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch", type=int, default=16, help="prompts per step")
    parser.add_argument("--tokens", type=int, default=64, help="max new tokens")
    parser.add_argument("--variants", help="comma-separated, in this order (default: bf16 full, bf16 LoRA r=16, fp32 full)")
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        result = run_variant(Path(args.model_dir), args.variant, args.device, args.steps, args.batch, args.tokens)
        print("RESULT " + json.dumps(result))
        return 0
    folder = Path(tempfile.mkdtemp()) / "gpt2-124m-random"
    build_model(folder, args.tiny)
    variants = ["bf16 full", "bf16 LoRA r=16", "fp32 full"] if args.device == "cuda" else ["fp32 full"]
    if args.variants:
        variants = [v.strip() for v in args.variants.split(",")]
    try:
        import peft  # noqa: F401
    except ImportError:
        variants = [v for v in variants if "LoRA" not in v]
        print("(peft is not installed here: no LoRA row)")
    rows = []
    for variant in variants:
        command = [sys.executable, __file__, "--variant", variant, "--model-dir", str(folder), "--device", args.device,
                   "--steps", str(args.steps), "--batch", str(args.batch), "--tokens", str(args.tokens)]
        done = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, PYTHONWARNINGS="ignore"))
        found = [l for l in done.stdout.splitlines() if l.startswith("RESULT ")]
        rows.append(json.loads(found[-1][7:]) if found else {"variant": variant, "error": done.stderr[-2000:]})
    print(f"J-BOND, {args.batch} prompts/step, {args.tokens} new tokens, {args.steps} steps (first 2 untimed)\n")
    print("| variant | steps/s | tokens/s | sample s/step | update s/step | peak GiB |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['variant']} | failed: {str(r['error']).strip().splitlines()[-1] if r['error'] else '?'} |||||")
            continue
        print(f"| {r['variant']} | {r['steps_per_s']:.2f} | {r['tokens_per_s']:.0f} | {r['sample_s']:.3f} | "
              f"{r['update_s']:.3f} | {r['peak_gib']:.2f} |")
    for r in rows:
        if "model" in r:
            print(f"\n{r['variant']}: {r['model']} on {r['device']}")
    base = next((r for r in rows if r.get("variant") == "fp32 full" and "steps_per_s" in r), None)
    if base:
        for r in rows:
            if "steps_per_s" in r and r is not base:
                print(f"{r['variant']}: {r['steps_per_s'] / base['steps_per_s']:.2f}x the steps/s of fp32 full fine-tuning")
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
