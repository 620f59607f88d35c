"""bench/jbond_step.py in its CPU smoke mode: it runs both steps and prints the whole table (the
figures themselves belong in bench/RESULTS.md, measured on a GPU)."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import REPO_ROOT


def test_the_jbond_step_benchmark_runs_and_prints_its_table() -> None:
    result = subprocess.run([sys.executable, str(REPO_ROOT / "bench" / "jbond_step.py"), "--device", "cpu", "--tiny",
                             "--engine", "static"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert re.search(r"step\s+prompts/s\s+sampling tokens/s\s+update tokens/s\s+MFU\s+peak GiB", out), out
    for name in ("naive \\(HF generate\\)", "ours \\(engine static\\)"):
        assert re.search(name + r"\s+[\d.]+\s+[\d,]+\s+[\d,]+", out), (name, out)
    assert re.search(r"ratio ours/naive \(prompts/s\): [\d.]+x", out), out
    assert re.search(r"update vs plain autocast training step \(tokens/s\): [\d.]+", out), out
