"""contracts/fixtures/runs: run folders written by the real trainer, which the TypeScript side's
tests read too. They must validate against the schemas and stay in step with what the trainer
writes today. Regenerate with: BOND_REGENERATE_FIXTURES=1 pytest tests/test_contract_fixtures.py"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from bond_trainer.inputs.config import load_config
from bond_trainer.run.console import Console
from bond_trainer.training.session import run_training

from conftest import CONTRACTS, assert_run_dir_valid, read_jsonl, tiny_config

RUNS = CONTRACTS / "fixtures" / "runs"
KEPT_FILES = ("run.json", "metrics.jsonl", "samples.jsonl")


def make_run(workdir: Path, kind: str) -> Path:
    sections: dict[str, Any] = {"train": {"steps": 4}, "eval": {"every": 2, "prompts": 2, "policy_samples": 2,
                                                             "mc_samples": 8, "n_max": 8, "bon_n": 4},
                                "samples": {"every": 2, "prompts": 2, "mc_samples": 4}, "checkpoint": {"every": 2}}
    if kind == "failed":
        (workdir / "flaky.py").write_text(
            "CALLS = [0]\ndef score(prompts, completions):\n    CALLS[0] += 1\n"
            "    if CALLS[0] > 12:\n        raise ValueError('reward service unavailable')\n"
            "    return [float(len(c)) for c in completions]\n")
        sections["reward"] = {"type": "python", "function": "flaky.py:score"}
    config = workdir / f"{kind}.bond.json"
    config.write_text(json.dumps(tiny_config(workdir, name=f"fixture-{kind}", **sections)))
    run_dir = workdir / f"fixture-{kind}"
    out = io.StringIO()
    run_training(load_config(config), run_dir, False, config, Console(out=out, err=out))
    return run_dir


def sanitise(run_dir: Path, target: Path) -> None:
    """Copy the record files; make machine-specific values neutral so the fixture is stable."""
    target.mkdir(parents=True, exist_ok=True)
    for name in KEPT_FILES:
        shutil.copy(run_dir / name, target / name)
    meta = json.loads((target / "run.json").read_text())
    meta.update(config_path=f"/workspace/{meta['name']}.bond.json", host="fixture-host", pid=4242)
    # Resolved paths name the test's temporary folder: the fixture's workspace is /workspace.
    workspace = str(run_dir.parent)
    meta["paths"] = json.loads(json.dumps(meta["paths"]).replace(workspace, "/workspace"))
    if meta["error"]:
        meta["error"]["traceback"] = "Traceback (most recent call last):\n  ...\nValueError: reward service unavailable\n"
    (target / "run.json").write_text(json.dumps(meta, indent=2) + "\n")


@pytest.mark.parametrize("kind", ["completed", "failed"])
def test_fixture_runs_are_valid_and_current(kind: str, tmp_path: Path) -> None:
    fresh = make_run(tmp_path, kind)
    if os.environ.get("BOND_REGENERATE_FIXTURES") == "1":
        sanitise(fresh, RUNS / kind)
    fixture = RUNS / kind
    assert_run_dir_valid(fixture)
    stored, current = json.loads((fixture / "run.json").read_text()), json.loads((fresh / "run.json").read_text())
    assert stored["status"] == current["status"] == kind
    assert stored.keys() == current.keys()
    # The same metric names, line by line kind: a renamed metric makes the fixture stale.
    def names(path: Path) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for record in read_jsonl(path):
            found.setdefault(record["kind"], set()).update(record)
        return found
    assert names(fixture / "metrics.jsonl") == names(fresh / "metrics.jsonl"), "regenerate the fixtures"
    if kind == "completed":
        assert read_jsonl(fixture / "samples.jsonl")[0].keys() == read_jsonl(fresh / "samples.jsonl")[0].keys()
