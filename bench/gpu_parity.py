"""CUDA parity check (run on a GPU machine; prints a table, asserts nothing CI depends on).

Scores the same sampled completions of the demo's reference model on CPU fp32, CUDA fp32 and CUDA
bf16 autocast, and reports the largest sequence log-prob difference against the CPU baseline, plus
whether the KV-cache sampler and a full re-score agree on CUDA.

    PYTHONPATH=trainer python bench/gpu_parity.py
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "trainer"))

from bond_trainer.models.byte_gpt import ByteGPT, load_byte_gpt  # noqa: E402
from bond_trainer.sampling.sequences import draw_uniforms, encode_prompts, sample, score  # noqa: E402


def main() -> None:
    reference = ROOT / "examples" / "demo" / "build" / "reference.pt"
    prompts = [json.loads(line)["prompt"]
               for line in (ROOT / "examples" / "demo" / "prompts-eval.jsonl").read_text().splitlines() if line.strip()]
    device = os.environ.get("BOND_PARITY_DEVICE", "cuda")  # "cpu" only to try the script without a GPU
    cpu_model = ByteGPT(load_byte_gpt(reference, "cpu"))
    ids = encode_prompts(cpu_model, prompts * 4, 40)
    uniforms = draw_uniforms(torch.Generator().manual_seed(0), len(ids), 40)  # the same numbers on every device
    completions = sample(cpu_model, ids, 40, uniforms)
    with torch.no_grad():
        base = score(cpu_model, completions).logp.double()
        cuda_model = ByteGPT(load_byte_gpt(reference).to(device))
        fp32 = score(cuda_model, completions).logp.double().cpu()
        bf16 = score(cuda_model, completions, torch.bfloat16 if device == "cuda" else None).logp.double().cpu()
    print(f"# CUDA parity — {torch.cuda.get_device_name() if device == 'cuda' else device}, torch {torch.__version__}, {len(prompts) * 4} sequences\n")
    print("| scoring | max abs Δ log p vs CPU fp32 | mean abs Δ | mean log p |")
    print("|---|---:|---:|---:|")
    print(f"| CPU fp32 (baseline) | 0 | 0 | {base.mean():.3f} |")
    for name, values in (("CUDA fp32", fp32), ("CUDA bf16 autocast", bf16)):
        delta = (values - base).abs()
        print(f"| {name} | {delta.max():.2e} | {delta.mean():.2e} | {values.mean():.3f} |")
    cuda_ids = sample(cuda_model, ids, 40, uniforms)
    same = sum(a == b for a, b in zip(cuda_ids.completion_ids, completions.completion_ids))
    lengths = [len(c) for c in cuda_ids.completion_ids]
    print(f"\nCUDA KV-cache sampling: {len(lengths)} completions, mean length {sum(lengths) / len(lengths):.1f} tokens, "
          f"truncated {sum(cuda_ids.truncated)}; {same}/{len(lengths)} identical to the CPU's draw from the same uniforms")


if __name__ == "__main__":
    main()
