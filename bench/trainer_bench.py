"""Trainer benchmarks; prints tables. Not a test: numbers vary by machine, so every figure is
reported next to a baseline measured in the same run.

1. Sampling: the KV-cache sampler against re-running the whole prefix for every new token.
2. J-BOND steps per second on the demo's model size (random weights), with the time per phase.

    PYTHONPATH=trainer .venv/bin/python bench/trainer_bench.py [--device cpu|cuda] [--steps 20]
        [--precision auto|fp32|bf16] [--layers 2 --width 128] [--skip-sampler]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import warnings

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "trainer"))

from bond_trainer.models import ByteGPT, GPTModelSpec  # noqa: E402
from bond_trainer.models.byte_gpt import EOS_ID, GPTModule  # noqa: E402
from bond_trainer.sampling.sequences import draw_uniforms, left_pad, sample  # noqa: E402


@torch.no_grad()
def sample_without_cache(model: ByteGPT, prompts: list[list[int]], new_tokens: int, generator: torch.Generator) -> int:
    device = next(model.module.parameters()).device
    ids, mask = left_pad(prompts, model.tokenizer.pad_id, device)
    for _ in range(new_tokens):
        logits, _ = model.forward(ids, mask)
        token = torch.multinomial(logits[:, -1].float().softmax(-1), 1, generator=generator)
        ids = torch.cat([ids, token], dim=1)
        mask = torch.cat([mask, torch.ones_like(token)], dim=1)
    return ids.shape[0] * new_tokens


def timed(fn, repeats: int) -> float:  # type: ignore[no-untyped-def]
    fn()  # warm-up
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_sampler(device: torch.device, repeats: int) -> None:
    torch.manual_seed(0)
    spec = GPTModelSpec(layers=2, heads=4, width=128, context=128)
    model = ByteGPT(GPTModule(spec).to(device).eval())
    # Keep EOS out of reach so both samplers generate exactly `new_tokens` tokens.
    with torch.no_grad():
        model.module.head.weight[EOS_ID].zero_()
    print(f"\n## Sampling ({device}, model {spec.layers}x{spec.width}, prompts of 24 bytes)\n")
    print("| batch | new tokens | KV cache tokens/s | full prefix tokens/s | speed-up |")
    print("|---:|---:|---:|---:|---:|")
    for batch, new_tokens in ((16, 32), (64, 64), (256, 96)):
        prompts = [list(b"the movie was honestly a")] * batch
        generator = torch.Generator(device=device).manual_seed(0)
        uniforms = draw_uniforms(torch.Generator().manual_seed(0), batch, new_tokens)
        cached = timed(lambda: sample(model, prompts, new_tokens, uniforms), repeats)
        full = timed(lambda: sample_without_cache(model, prompts, new_tokens, generator), repeats)
        tokens = batch * new_tokens
        print(f"| {batch} | {new_tokens} | {tokens / cached:,.0f} | {tokens / full:,.0f} | {full / cached:.2f}x |")


def bench_training(device: str, steps: int, precision: str, layers: int, width: int) -> None:
    from bond_trainer.inputs.config import config_from_dict
    from bond_trainer.run.console import Console
    from bond_trainer.training.session import run_training
    import io
    demo = ROOT / "examples" / "demo"
    raw = json.loads("\n".join(line.split("//")[0] for line in (demo / "demo.bond.json").read_text().splitlines()))
    raw["policy"] = {"checkpoint": None, "gpt": {"layers": layers, "heads": 4, "width": width, "context": 128}}
    raw["train"].update(steps=steps, device=device, precision=precision)
    raw["eval"]["every"] = 0
    raw["samples"]["every"] = 0
    raw["checkpoint"]["every"] = 0
    print(f"\n## Training steps (demo config, random weights, model {layers}x{width}, {device}, {precision}, "
          f"batch {raw['train']['batch_size']})\n")
    print("| algorithm | steps/s | samples/s | tokens/s | sample s | score s | update s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for algorithm in ("jbond", "bond", "reinforce"):
        raw["algorithm"] = algorithm
        cfg = config_from_dict(raw, base_dir=demo)
        with tempfile.TemporaryDirectory() as tmp:
            run_dir = Path(tmp) / "run"
            out = io.StringIO()
            code = run_training(cfg, run_dir, False, None, Console(out=out, err=out))
            assert code == 0, out.getvalue()
            lines = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]
            train = [l for l in lines if l["kind"] == "train"][2:]  # skip warm-up steps
            step_s = statistics.median(l["time/sample_s"] + l["time/score_s"] + l["time/update_s"] for l in train)
            med = lambda key: statistics.median(l[key] for l in train)  # noqa: E731
            print(f"| {algorithm} | {1 / step_s:.2f} | {med('perf/samples_per_s'):,.0f} | {med('perf/tokens_per_s'):,.0f} | "
                  f"{med('time/sample_s'):.3f} | {med('time/score_s'):.3f} | {med('time/update_s'):.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--layers", type=int, default=2, help="training bench model depth (the demo's is 2)")
    parser.add_argument("--width", type=int, default=128, help="training bench model width (the demo's is 128)")
    parser.add_argument("--skip-sampler", action="store_true")
    args = parser.parse_args()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"# trainer bench — torch {torch.__version__}, {name}")
    if not args.skip_sampler:
        bench_sampler(device, args.repeats)
    bench_training(args.device, args.steps, args.precision, args.layers, args.width)


if __name__ == "__main__":
    main()
