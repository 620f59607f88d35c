"""Our trainer's steps against TRL's on the same work: TRL's RLOO and GRPO, our `reinforce` and
`jbond`, on the same random GPT-2, the same prompts, reward and shapes, generation of a fixed length
on both sides, rounds interleaved, medians over the timed steps with min and max.

    python bench/trl_compare.py                       # 4 layers × 256, vocabulary 8192; then 6 × 512
    python bench/trl_compare.py --shape small --rounds 5
    python bench/trl_compare.py --smoke               # CI: two tiny steps a side, checks the table's shape

Each side runs in a process of its own per round (A B C D, then the next round in another order), so
that memory is each side's own. Peak memory: the peak of live tensor memory during one more step after
the timed ones, from PyTorch's profiler (profile_memory, at operator granularity; the same on both
sides, independent of how malloc returns memory), and, for reference, the resident set's high-water
mark over the timed steps (reset when they start, Linux's /proc/self/clear_refs) minus what was
resident then, which also counts what the C allocator keeps. Threads: one by default (--threads), the
same on every side.

What is the same on both sides: the model's weights (a seeded random init saved once), dropout off,
fp32 (no autocast, no bf16), no gradient checkpointing, AdamW with a constant learning rate and no
warm-up, gradient clipping at 1, KL weight 0.01 to the initial weights, temperature 1 with no top-k or
top-p, every completion exactly --new-tokens long (TRL: `min_new_tokens`; ours: an end-of-sequence id
the model cannot draw), the same reward (the count of tokens whose number is odd, a cheap function).
Tokens/s counts the tokens each side actually generated (J-BOND's anchor samples included).

TRL is a dev/bench requirement (trainer/requirements-dev.txt), not a dependency of the trainer.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
SIDES = ("trl-rloo", "trl-grpo", "ours-reinforce", "ours-jbond")
BASELINE = "trl-grpo"


@dataclass(frozen=True)
class Shape:
    layers: int
    width: int
    heads: int
    vocab: int
    prompts: int          # per step
    samples: int          # policy samples per prompt
    new_tokens: int
    prompt_tokens: int = 8
    dataset: int = 64     # prompts in the data set

    def describe(self) -> str:
        return (f"GPT-2 {self.layers} layers × {self.width} (heads {self.heads}), vocabulary {self.vocab:,}; "
                f"{self.prompts} prompts × {self.samples} samples × {self.new_tokens} new tokens per step, "
                f"prompts of {self.prompt_tokens} tokens")


SHAPES = {
    "small": Shape(4, 256, 4, 8192, 8, 4, 32),
    "large": Shape(6, 512, 8, 8192, 8, 4, 64),
    # GPT-2's own vocabulary: the output head and the log-softmax weigh as they do in real models
    "large-vocab": Shape(6, 512, 8, 50257, 8, 4, 64),
    "small-gpt2-vocab": Shape(4, 256, 4, 50257, 8, 4, 32),
    "smoke": Shape(2, 64, 2, 512, 2, 2, 4, dataset=16),
}
ODD = re.compile(r"t\d*[13579]\b")


def reward_of(text: str) -> float:
    """The reward both sides use: how many tokens of the completion end in an odd digit."""
    return float(len(ODD.findall(text)))


# --- the shared model and data -------------------------------------------------------------------
def build_work(work: Path, shape: Shape) -> None:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    vocab = {f"t{i}": i for i in range(shape.vocab - 2)}
    vocab.update({"<eos>": shape.vocab - 2, "<pad>": shape.vocab - 1})
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<eos>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##")
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", pad_token="<pad>")
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=shape.vocab, n_positions=256, n_embd=shape.width, n_layer=shape.layers,
                        n_head=shape.heads, eos_token_id=shape.vocab - 2, pad_token_id=shape.vocab - 1,
                        bos_token_id=shape.vocab - 2, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    GPT2LMHeadModel(config).save_pretrained(str(work / "model"))
    tokenizer.save_pretrained(str(work / "model"))
    lines = [json.dumps({"prompt": " ".join(f"t{(37 * i + 11 * j) % (shape.vocab - 2)}" for j in range(shape.prompt_tokens))})
             for i in range(shape.dataset)]
    (work / "prompts.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


# --- peak memory --------------------------------------------------------------------------------------
class TensorPeak:
    """The peak of live tensor memory over what runs between start() and stop(), relative to its
    start, from PyTorch's profiler (profile_memory: each operator's own allocations and frees, in
    order, at operator granularity). Measured on one extra step after the timed ones: the profiler
    slows what it watches."""

    def __init__(self) -> None:
        from torch.profiler import ProfilerActivity, profile
        self.profiler = profile(activities=[ProfilerActivity.CPU], profile_memory=True)

    def start(self) -> None:
        self.profiler.start()

    def stop(self) -> float:
        self.profiler.stop()
        events = sorted(self.profiler.events(), key=lambda e: e.time_range.start)
        live = peak = 0
        for event in events:
            live += event.self_cpu_memory_usage
            peak = max(peak, live)
        return peak / 2**20



def resident_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak() -> float:
    """Resets the resident high-water mark (VmHWM) and returns what is resident now."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    return resident_mib("VmRSS")


# --- one side, one round (a process of its own) ----------------------------------------------------
def run_trl(side: str, work: Path, shape: Shape, warmup: int, steps: int) -> dict[str, Any]:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer, RLOOConfig, RLOOTrainer

    prompts = [json.loads(line)["prompt"] for line in (work / "prompts.jsonl").read_text().splitlines()]
    model = AutoModelForCausalLM.from_pretrained(str(work / "model"))
    tokenizer = AutoTokenizer.from_pretrained(str(work / "model"))
    tokenizer.padding_side = "left"

    def reward(completions: list[str], **_: Any) -> list[float]:
        return [reward_of(text) for text in completions]

    times: list[float] = []
    state: dict[str, float] = {}
    tensors = TensorPeak()

    class StepTimer(TrainerCallback):  # type: ignore[misc]
        def on_step_begin(self, args: Any, trainer_state: Any, control: Any, **kwargs: Any) -> None:
            if trainer_state.global_step == warmup:
                state["baseline_mib"] = reset_peak()
            if trainer_state.global_step == warmup + steps:
                state["rss_mib"] = resident_mib("VmHWM") - state["baseline_mib"]
                tensors.start()
            state["start"] = time.perf_counter()

        def on_step_end(self, args: Any, trainer_state: Any, control: Any, **kwargs: Any) -> None:
            if trainer_state.global_step == warmup + steps + 1:
                state["tensor_mib"] = tensors.stop()
            elif trainer_state.global_step > warmup:
                times.append(time.perf_counter() - state["start"])

    rows = shape.prompts * shape.samples
    common = dict(output_dir=str(work / f"out-{side}"), per_device_train_batch_size=rows, num_generations=shape.samples,
                  max_completion_length=shape.new_tokens, generation_kwargs={"min_new_tokens": shape.new_tokens},
                  beta=0.01, learning_rate=1e-5, lr_scheduler_type="constant", warmup_steps=0, max_grad_norm=1.0,
                  optim="adamw_torch", bf16=False, fp16=False, gradient_checkpointing=False, use_cpu=True,
                  report_to=[], logging_steps=10_000, save_strategy="no", max_steps=warmup + steps + 1,
                  disable_dropout=True, temperature=1.0, top_p=1.0, top_k=0, num_iterations=1, seed=0,
                  dataloader_num_workers=0, log_completions=False)
    config_class, trainer_class = (RLOOConfig, RLOOTrainer) if side == "trl-rloo" else (GRPOConfig, GRPOTrainer)
    trainer = trainer_class(model=model, reward_funcs=reward, args=config_class(**common),
                            train_dataset=Dataset.from_list([{"prompt": p} for p in prompts]),
                            processing_class=tokenizer, callbacks=[StepTimer()])
    trainer.train()
    tokens = [float(rows * shape.new_tokens)] * len(times)  # min_new_tokens = max: every completion is full length
    return {"seconds": times, "tokens": tokens, "rss_mib": state["rss_mib"], "tensor_mib": state["tensor_mib"]}


def run_ours(side: str, work: Path, shape: Shape, warmup: int, steps: int) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "trainer"))
    from bond_trainer.inputs.config import config_from_dict
    from bond_trainer.run.console import Console
    from bond_trainer.run.rundir import RunDirectory
    from bond_trainer.training.trainer import Trainer

    algorithm = side.removeprefix("ours-")
    section: dict[str, Any] = ({"reinforce": {"samples_per_prompt": shape.samples, "beta_kl": 0.01}} if algorithm == "reinforce"
                               else {"jbond": {"policy_samples": shape.samples}, "anchor": {"kind": "ema", "ema_eta": 0.02}})
    raw = {"name": f"bench-{algorithm}", "algorithm": algorithm, "policy": {"hf": {"model": str(work / "model"), "dtype": "fp32"}},
           "reward": {"type": "keyword", "pattern": ODD.pattern}, **section,
           "data": {"train": [str(work / "prompts.jsonl")], "eval_fraction": 0.05},
           "train": {"steps": warmup + steps + 2, "batch_size": shape.prompts, "lr": 1e-5, "warmup_steps": 0,
                     "device": "cpu", "precision": "fp32", "grad_clip": 1.0},
           "sampling": {"max_new_tokens": shape.new_tokens, "engine": "eager"},
           "eval": {"every": 0, "prompts": 2, "policy_samples": 2, "mc_samples": 4, "n_max": 4, "bon_n": 2},
           "samples": {"every": 0}, "checkpoint": {"every": 0}}
    cfg = config_from_dict(raw, base_dir=work)
    run = work / f"run-{side}-{os.getpid()}"
    run.mkdir()
    out = io.StringIO()
    trainer = Trainer(cfg, RunDirectory(run), Console(out=out, err=out))
    trainer.build()
    for role in (trainer.policy, trainer.anchor, trainer.ref):
        role.tokenizer.eos_id = shape.vocab + 1  # fixed-length generation: an end-of-sequence id the model cannot draw
    step: Callable[[], dict[str, float]] = lambda: trainer.train_step(trainer.stream.next_batch(shape.prompts))
    for _ in range(warmup):
        step()
    baseline = reset_peak()
    times, tokens = [], []
    for _ in range(steps):
        start = time.perf_counter()
        before = trainer.num_tokens
        step()
        times.append(time.perf_counter() - start)
        tokens.append(float(trainer.num_tokens - before))
    rss = resident_mib("VmHWM") - baseline
    tensors = TensorPeak()
    tensors.start()
    step()
    return {"seconds": times, "tokens": tokens, "rss_mib": rss, "tensor_mib": tensors.stop()}


def worker(side: str, work: Path, shape: Shape, warmup: int, steps: int) -> None:
    import torch
    torch.manual_seed(0)
    result = (run_trl if side.startswith("trl-") else run_ours)(side, work, shape, warmup, steps)
    print("RESULT " + json.dumps(result))


# --- the orchestrator ------------------------------------------------------------------------------
def round_orders(rounds: int) -> list[list[str]]:
    """Each round runs every side once; the order rotates so that no side always goes first."""
    return [list(SIDES[r % len(SIDES):] + SIDES[:r % len(SIDES)]) for r in range(rounds)]


def run_side(side: str, work: Path, shape_name: str, warmup: int, steps: int, threads: int) -> dict[str, Any]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "TOKENIZERS_PARALLELISM": "false", "TRANSFORMERS_VERBOSITY": "error", "HF_HUB_OFFLINE": "1",
           "CUDA_VISIBLE_DEVICES": "", "ACCELERATE_USE_CPU": "true", "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", side, "--work", str(work), "--shape", shape_name,
               "--warmup", str(warmup), "--steps", str(steps), "--threads", str(threads)]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"{side} failed (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return json.loads(lines[-1].removeprefix("RESULT "))


@dataclass
class Summary:
    side: str
    steps_per_s: tuple[float, float, float]    # median, min, max over every timed step
    tokens_per_s: tuple[float, float, float]
    tensor_mib: float                          # peak live tensor memory of a step, the largest over the rounds
    rss_mib: float                             # resident high-water mark over the timed steps, the largest
    timed_steps: int


def summarise(side: str, results: list[dict[str, Any]]) -> Summary:
    rates = [1.0 / s for r in results for s in r["seconds"]]
    token_rates = [t / s for r in results for s, t in zip(r["seconds"], r["tokens"])]

    def spread(values: list[float]) -> tuple[float, float, float]:
        return statistics.median(values), min(values), max(values)
    return Summary(side, spread(rates), spread(token_rates), max(r["tensor_mib"] for r in results),
                   max(r["rss_mib"] for r in results), len(rates))


def table(shape: Shape, summaries: list[Summary], threads: int, rounds: int, warmup: int, steps: int) -> list[str]:
    import torch
    import transformers
    import trl
    base = next(s for s in summaries if s.side == BASELINE)
    lines = [f"{shape.describe()}; fp32, {threads} thread(s), CPU; torch {torch.__version__}, transformers "
             f"{transformers.__version__}, TRL {trl.__version__}; {rounds} interleaved rounds × {steps} timed steps "
             f"(after {warmup} warm-up) a side",
             "| side | steps/s median (min–max) | ÷ GRPO | generated tokens/s median (min–max) | ÷ GRPO "
             "| peak tensor MiB | ÷ GRPO | peak RSS MiB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for s in summaries:
        (rate, low, high), (tok, tok_low, tok_high) = s.steps_per_s, s.tokens_per_s
        lines.append(f"| {s.side} | {rate:.3f} ({low:.3f}–{high:.3f}) | {rate / base.steps_per_s[0]:.2f}× | "
                     f"{tok:,.0f} ({tok_low:,.0f}–{tok_high:,.0f}) | {tok / base.tokens_per_s[0]:.2f}× | "
                     f"{s.tensor_mib:,.1f} | {s.tensor_mib / base.tensor_mib:.2f}× | {s.rss_mib:,.0f} |")
    return lines


def compare(shape_name: str, rounds: int, warmup: int, steps: int, threads: int, keep: bool) -> list[Summary]:
    shape = SHAPES[shape_name]
    work = Path(tempfile.mkdtemp(prefix=f"trl-compare-{shape_name}-"))
    build_work(work, shape)
    results: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
    for index, order in enumerate(round_orders(rounds)):
        for side in order:
            result = run_side(side, work, shape_name, warmup, steps, threads)
            results[side].append(result)
            print(f"round {index + 1}/{rounds} {side}: median {statistics.median(result['seconds']):.3f} s/step",
                  file=sys.stderr, flush=True)
    summaries = [summarise(side, results[side]) for side in SIDES]
    print("\n".join(table(shape, summaries, threads, rounds, warmup, steps)))
    print("JSON " + json.dumps({"shape": asdict(shape), "sides": [asdict(s) for s in summaries]}))
    if not keep:
        import shutil
        shutil.rmtree(work, ignore_errors=True)
    return summaries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=sorted(SHAPES), action="append", help="small and large unless given")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5, help="timed steps a side per round")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--smoke", action="store_true", help="the CI run: the tiny shape, 1 round of 2 steps a side")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--worker", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        import torch
        torch.set_num_threads(args.threads)
        worker(args.worker, args.work, SHAPES[args.shape[0]], args.warmup, args.steps)
        return
    if args.smoke:
        compare("smoke", 1, 1, 2, 1, args.keep)
        return
    for shape_name in args.shape or ["small", "large"]:
        compare(shape_name, args.rounds, args.warmup, args.steps, args.threads, args.keep)


if __name__ == "__main__":
    main()
