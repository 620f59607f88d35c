"""TensorBoard event files read back with TensorBoard's own reader; a tracker whose package is
missing is a config error naming it (W&B cannot be installed from the package index the tests
use, so its run is not exercised here: see bench/RESULTS.md and the README)."""

from __future__ import annotations

import io
import json
import signal
from pathlib import Path
from typing import Callable

import pytest

from bond_trainer.inputs.config import load_config
from bond_trainer.run.console import Console
from bond_trainer.run.trackers import _sample_rows, wandb_run_id
from bond_trainer.training.session import run_training
from conftest import read_jsonl
from test_cli import run_cli, start, wait_for_steps


def events(run_dir: Path) -> object:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    accumulator = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0, "tensors": 0})
    accumulator.Reload()
    return accumulator


def test_tensorboard_holds_every_scalar_eval_metric_and_sample_snapshot(write_config: Callable[..., Path],
                                                                       tmp_path: Path) -> None:
    config = write_config(train={"steps": 4}, eval={"every": 2}, samples={"every": 2, "prompts": 2, "mc_samples": 4},
                          logging={"tensorboard": True})
    run_dir = tmp_path / "run"
    out = io.StringIO()
    assert run_training(load_config(config), run_dir, False, config, Console(out=out, err=out)) == 0, out.getvalue()
    accumulator = events(run_dir)
    tags = accumulator.Tags()  # type: ignore[attr-defined]
    metrics = read_jsonl(run_dir / "metrics.jsonl")
    train_lines = [m for m in metrics if m["kind"] == "train"]
    for name in ("loss/total", "kl/policy_ref", "reward/bon", "completions/clipped_ratio", "num_tokens", "eval/effective_n"):
        assert name in tags["scalars"], (name, tags["scalars"])
    written = accumulator.Scalars("loss/total")  # type: ignore[attr-defined]
    assert [e.step for e in written] == [1, 2, 3, 4]
    assert [e.value for e in written] == pytest.approx([m["loss/total"] for m in train_lines], rel=1e-6)
    assert [e.step for e in accumulator.Scalars("eval/effective_n")] == [2, 4]  # type: ignore[attr-defined]
    # Each snapshot prompt as a text summary: prompt, policy, anchor and Best-of-N with rewards.
    text_tags = [t for t in tags["tensors"] if t.startswith("samples/prompt_")]
    assert text_tags, tags
    snapshot = read_jsonl(run_dir / "samples.jsonl")[0]
    text = accumulator.Tensors(f"samples/prompt_{snapshot['prompt_id']}/text_summary")[0]  # type: ignore[attr-defined]
    body = text.tensor_proto.string_val[0].decode("utf-8")
    assert "Best-of-4" in body and "policy 1" in body and "anchor 2" in body and f"{snapshot['bon']['best']['reward']:.3f}" in body


def test_a_resumed_run_replaces_the_replayed_steps_in_tensorboard(write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config(train={"steps": 30}, checkpoint={"every": 5, "keep_last": 2}, eval={"every": 0},
                          samples={"every": 0}, logging={"tensorboard": True})
    run_dir = tmp_path / "run"
    process = start("train", "--config", str(config), "--run-dir", str(run_dir))
    wait_for_steps(run_dir, 7, process)
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=120)
    stopped = json.loads((run_dir / "run.json").read_text())["step"]
    assert run_cli("train", "--config", str(config), "--run-dir", str(run_dir), "--resume").returncode == 0
    steps = [e.step for e in events(run_dir).Scalars("loss/total")]  # type: ignore[attr-defined]
    assert steps == list(range(1, 31)), (stopped, steps)  # each step once: the purge drops what was replayed


def test_asking_for_a_tracker_whose_package_is_missing_is_a_config_error(write_config: Callable[..., Path],
                                                                        tmp_path: Path) -> None:
    import importlib.util
    if importlib.util.find_spec("wandb") is not None:
        pytest.skip("wandb is installed here; this checks the message a Python without it gives")
    config = write_config(logging={"wandb": {"project": "bond", "mode": "offline"}})
    result = run_cli("train", "--config", str(config), "--run-dir", str(tmp_path / "run"))
    assert result.returncode == 2
    assert "logging.wandb" in result.stderr and "pip install 'wandb>=0.16'" in result.stderr
    assert not (tmp_path / "run").exists()
    disabled = run_cli("validate", "--config", str(config), "--set", "logging.wandb.mode=disabled")
    assert disabled.returncode == 0, disabled.stdout


def test_wandb_ids_and_sample_rows() -> None:
    assert wandb_run_id("demo-jbond-20261130-073014") == "demo-jbond-20261130-073014"
    assert wandb_run_id("a b/c:d") == "a-b-c-d"
    record = {"prompt_id": 3, "prompt": "p", "policy": [{"text": "x", "reward": 1.0}], "anchor": [{"text": "y", "reward": 0.0}],
              "bon": {"n": 4, "best": {"text": "z", "reward": 2.0}}}
    assert _sample_rows(7, record) == [[7, 3, "p", "policy 1", "x", 1.0], [7, 3, "p", "anchor 1", "y", 0.0],
                                       [7, 3, "p", "Best-of-4", "z", 2.0]]
