"""System metrics per step (the dashboard's System section): the trainer's CPU use and memory, with
psutil and without it (blocked for real in the child), named in the run's metric groups."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

from conftest import read_jsonl
from test_cli import environment


@pytest.mark.parametrize("psutil", ["present", "blocked"])
def test_each_step_reports_cpu_and_memory(psutil: str, write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config(train={"steps": 3}, eval={"every": 0}, samples={"every": 0})
    run_dir = tmp_path / "run"
    block = "sys.modules['psutil'] = None; " if psutil == "blocked" else ""
    code = (f"import sys; {block}from bond_trainer.commands.cli import main; "
            f"sys.exit(main(['train', '--config', {str(config)!r}, '--run-dir', {str(run_dir)!r}]))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment(), timeout=300)
    assert result.returncode == 0, result.stderr
    train = [r for r in read_jsonl(run_dir / "metrics.jsonl") if r["kind"] == "train"]
    assert len(train) == 3
    for record in train:
        assert 0 <= record["system/cpu_percent"] < 100 * 64, record["system/cpu_percent"]
        assert 20 < record["system/memory_mib"] < 64 * 1024, "a Python with torch loaded holds tens of MiB at least"
        assert not any(key.startswith("system/gpu") for key in record), "no GPU charts on a CPU run"
    groups = {g["id"]: g for g in json.loads((run_dir / "run.json").read_text())["metric_groups"]}
    assert groups["system_cpu"]["section"] == "system"
    assert [s["key"] for s in groups["system_memory"]["series"]] == ["system/memory_mib"]
