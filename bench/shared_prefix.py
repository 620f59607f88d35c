"""Scoring with each distinct prompt's forward done once (sampling/shared_prefix.py) against one
forward over every row, on the same random GPT-2 as bench/trl_compare.py, through the trainer's own
`score` and Hugging Face adapter: the gradient pass (forward, backward, entropy) and the no-grad pass.

    python bench/shared_prefix.py                     # trl_compare's small and large shapes
    python bench/shared_prefix.py --shape small --pairs 20

Pairs interleaved (one forward, then shared), one thread; medians over the pairs, and the spread of
the per-pair ratio.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "trainer"))
sys.path.insert(0, str(ROOT / "bench"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", action="append", choices=["small", "large", "small-gpt2-vocab"])
    parser.add_argument("--pairs", type=int, default=10)
    args = parser.parse_args()
    import torch

    import bond_trainer.sampling.sequences as sequences
    from bond_trainer.models.hf import HFCausalLM, HFTokenizer, load_causal_lm
    from bond_trainer.sampling.sequences import Completions, SamplingTransform, score
    from trl_compare import SHAPES, build_work

    torch.set_num_threads(1)
    print("| shape | pass | one forward ms | shared ms | shared ÷ one (min–max over pairs) |")
    print("|---|---|---:|---:|---:|")
    for name in args.shape or ["small", "large"]:
        shape = SHAPES[name]
        work = Path(tempfile.mkdtemp(prefix="shared-prefix-"))
        build_work(work, shape)
        module, tokenizer, _ = load_causal_lm(str(work / "model"), work, torch.float32, "policy.hf.model")
        shutil.rmtree(work)  # the model is in memory: its folder is not needed
        model = HFCausalLM(module.eval(), HFTokenizer(tokenizer, False, "policy.hf"), 256, name)
        generator = torch.Generator().manual_seed(0)
        prompts = [torch.randint(0, shape.vocab - 2, (shape.prompt_tokens,), generator=generator).tolist()
                   for _ in range(shape.prompts)]
        rows = [p for p in prompts for _ in range(shape.samples)]
        completions = Completions(rows, [torch.randint(0, shape.vocab - 2, (shape.new_tokens,), generator=generator).tolist()
                                         for _ in rows], [True] * len(rows), [""] * len(rows))

        def timed(shared: bool, grad: bool) -> float:
            sequences.shares_prompts = lambda: shared  # type: ignore[assignment]
            module.zero_grad()
            begin = time.perf_counter()
            if grad:
                scores = score(model, completions, None, SamplingTransform(), with_entropy=True)
                scores.logp.sum().backward()
            else:
                with torch.no_grad():
                    score(model, completions, None, SamplingTransform())
            return time.perf_counter() - begin

        for grad in (True, False):
            timed(False, grad), timed(True, grad)  # warm-up
            one, shared = [], []
            for _ in range(args.pairs):
                one.append(timed(False, grad))
                shared.append(timed(True, grad))
            ratios = [s / o for s, o in zip(shared, one)]
            print(f"| {name}: {shape.prompts} prompts × {shape.samples} samples, {shape.prompt_tokens} + {shape.new_tokens} tokens "
                  f"| {'forward + backward' if grad else 'no grad'} | {statistics.median(one) * 1000:,.0f} "
                  f"| {statistics.median(shared) * 1000:,.0f} | {statistics.median(ratios):.3f} ({min(ratios):.3f}–{max(ratios):.3f}) |",
                  flush=True)


if __name__ == "__main__":
    main()
