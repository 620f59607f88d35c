"""The benchmarks in their CPU smoke modes: each runs every side and prints its whole table (the
figures themselves belong in bench/RESULTS.md)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys

from conftest import REPO_ROOT


def test_the_jbond_step_benchmark_runs_and_prints_its_table() -> None:
    result = subprocess.run([sys.executable, str(REPO_ROOT / "bench" / "jbond_step.py"), "--device", "cpu", "--tiny",
                             "--engine", "static", "--steps", "2"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert re.search(r"step\s+prompts/s\s+sampling tokens/s\s+update tokens/s\s+MFU\s+peak GiB", out), out
    for name in ("naive \\(HF generate\\)", "ours \\(engine static\\)"):
        assert re.search(name + r"\s+[\d.]+\s+[\d,]+\s+[\d,]+", out), (name, out)
    assert re.search(r"ratio ours/naive \(prompts/s\): [\d.]+x \(per interleaved pair: min [\d.]+, max [\d.]+, over 2 pairs", out), out
    assert re.search(r"update vs plain autocast training step \(tokens/s\): [\d.]+", out), out


def test_the_trl_comparison_runs_every_side_and_prints_its_table() -> None:
    """bench/trl_compare.py --smoke: TRL's RLOO and GRPO and our reinforce and jbond, one round of
    two steps each, in processes of their own; a row per side with its ratios to GRPO."""
    result = subprocess.run([sys.executable, str(REPO_ROOT / "bench" / "trl_compare.py"), "--smoke"],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    out = result.stdout
    assert re.search(r"TRL 1\.\d+.*1 interleaved rounds × 2 timed steps", out), out
    assert "| side | steps/s median (min–max) | ÷ GRPO | generated tokens/s median (min–max) | ÷ GRPO " in out, out
    number, spread = r"[\d,.]+", r"[\d,.]+ \([\d,.]+–[\d,.]+\)"
    for side in ("trl-rloo", "trl-grpo", "ours-reinforce", "ours-jbond"):
        row = rf"\| {side} \| {spread} \| {number}× \| {spread} \| {number}× \| {number} \| {number}× \| {number} \|"
        assert re.search(row, out), (side, out)
    assert re.search(r"\| trl-grpo \| [^|]+ \| 1\.00× \|", out), out
    assert sorted(re.findall(r"round 1/1 (\S+):", result.stderr)) == sorted(("trl-rloo", "trl-grpo", "ours-reinforce", "ours-jbond"))


def test_the_trl_comparisons_rounds_run_every_side_each_in_a_rotating_order() -> None:
    """The interleaving the bench's real runs (3 rounds and more) rest on: every round runs each side
    once, and no side goes first twice in a row."""
    spec = importlib.util.spec_from_file_location("trl_compare", REPO_ROOT / "bench" / "trl_compare.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench  # its dataclasses look their module up
    spec.loader.exec_module(bench)
    orders = bench.round_orders(5)
    assert all(sorted(order) == sorted(bench.SIDES) for order in orders), orders
    firsts = [order[0] for order in orders]
    assert all(a != b for a, b in zip(firsts, firsts[1:])) and len(set(firsts)) == len(bench.SIDES), orders
