"""The benchmarks in their CPU smoke modes: each runs every side and prints its whole table (the
figures themselves belong in bench/RESULTS.md)."""

from __future__ import annotations

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


def test_the_trl_comparison_runs_every_side_interleaved_and_prints_its_table() -> None:
    """bench/trl_compare.py --smoke: TRL's RLOO and GRPO and our reinforce and jbond, two rounds of
    two steps each, in processes of their own; a row per side with its ratios to GRPO."""
    result = subprocess.run([sys.executable, str(REPO_ROOT / "bench" / "trl_compare.py"), "--smoke"],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    out = result.stdout
    assert re.search(r"TRL 1\.\d+.*2 interleaved rounds × 2 timed steps", out), out
    assert "| side | steps/s median (min–max) | ÷ GRPO | generated tokens/s median (min–max) | ÷ GRPO " in out, out
    number, spread = r"[\d,.]+", r"[\d,.]+ \([\d,.]+–[\d,.]+\)"
    for side in ("trl-rloo", "trl-grpo", "ours-reinforce", "ours-jbond"):
        row = rf"\| {side} \| {spread} \| {number}× \| {spread} \| {number}× \| {number} \| {number}× \| {number} \|"
        assert re.search(row, out), (side, out)
    assert re.search(r"\| trl-grpo \| [^|]+ \| 1\.00× \|", out), out
    # Each round ran every side (the order rotates between rounds).
    rounds = re.findall(r"round (\d)/2 (\S+):", result.stderr)
    assert sorted(rounds) == sorted((r, s) for r in "12" for s in ("trl-rloo", "trl-grpo", "ours-reinforce", "ours-jbond"))
    assert [s for r, s in rounds if r == "1"] != [s for r, s in rounds if r == "2"]
