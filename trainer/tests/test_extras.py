"""Optional packages: a missing one is named with the pip requirement that brings it, in the
validator's JSON and in export-onnx's failure, so the editor can offer to install it. The package is
made missing for real: the child process blocks its import (sys.modules[name] = None), as Python does."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Callable

from conftest import TRAINER_DIR
from test_cli import environment

from bond_trainer.inputs.extras import OPTIONAL_PACKAGES


def run_without(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m bond_trainer ARGS` in a process where `module` cannot be imported."""
    code = (f"import sys; sys.modules[{module!r}] = None; sys.argv = ['bond_trainer', *{list(args)!r}]; "
            "from bond_trainer.commands.cli import main; sys.exit(main(sys.argv[1:]))")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment(), timeout=300)


def test_the_requirements_are_those_of_requirements_extras() -> None:
    lines = [line.strip() for line in (TRAINER_DIR / "requirements-extras.txt").read_text().splitlines()]
    listed = {re.split(r"[<>=!~]", line)[0]: line for line in lines if line and not line.startswith(("#", "-r"))}
    assert {name: req for name, req in OPTIONAL_PACKAGES.items()} == listed


def test_validate_names_the_package_and_its_requirement(write_config: Callable[..., Path]) -> None:
    config = write_config(logging={"tensorboard": True})
    result = run_without("tensorboard", "validate", "--config", str(config))
    assert result.returncode == 2, result.stderr
    report = json.loads(result.stdout)
    [problem] = report["problems"]
    assert problem["field"] == "logging.tensorboard"
    assert problem["install"] == ["tensorboard>=2.14"]
    assert "pip install 'tensorboard>=2.14'" in problem["message"]
    assert "trainer/" not in problem["message"], "a user's message names no file of this repository"
    # with the package present, the same config is fine and says nothing about installing
    ok = subprocess.run([sys.executable, "-m", "bond_trainer", "validate", "--config", str(config)],
                        capture_output=True, text=True, env=environment(), timeout=300)
    assert json.loads(ok.stdout)["problems"] == []


def test_export_without_onnx_says_what_to_install_and_writes_nothing(tmp_path: Path) -> None:
    model = tmp_path / "model.pt"
    pre = subprocess.run([sys.executable, "-m", "bond_trainer", "pretrain", "--out", str(model), "--steps", "1",
                          "--layers", "1", "--heads", "2", "--width", "16", "--context", "32", "--batch-size", "2"],
                         capture_output=True, text=True, env=environment(), timeout=300)
    assert pre.returncode == 0, pre.stderr
    out = tmp_path / "export"
    result = run_without("onnx", "export-onnx", "--checkpoint", str(model), "--out", str(out), "--role", "reference")
    assert result.returncode == 2, result.stderr
    assert "needs the onnx package" in result.stderr and "trainer/" not in result.stderr
    failure = json.loads(result.stdout.strip().splitlines()[-1])
    assert failure == {"ok": False, "problem": failure["problem"], "install": ["onnx>=1.16"]}
    assert not out.exists()


def test_a_sweep_without_optuna_says_what_to_install_and_writes_nothing(write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config()
    sweep = tmp_path / "s.sweep.json"
    sweep.write_text(json.dumps({"base": config.name, "parameters": {"train.lr": [0.001]},
                                 "objectives": [{"metric": "eval/reward/policy", "goal": "maximize"}]}), encoding="utf-8")
    result = run_without("optuna", "sweep", "--sweep", str(sweep), "--sweep-dir", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    assert "a sweep needs the optuna package" in result.stderr and "Traceback" not in result.stderr
    failure = json.loads(result.stdout.strip().splitlines()[-1])
    assert failure["install"] == ["optuna>=4"]
    assert not (tmp_path / "out").exists()
