"""The training loop on a tiny random byte GPT, in-process: every algorithm trains, writes files
valid against the shared schemas, and raises an easy reward."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Callable

import pytest
import torch

from bond_trainer.inputs.config import load_config
from bond_trainer.run.console import Console
from bond_trainer.models import load_byte_gpt
from bond_trainer.run.rundir import RunDirectory
from bond_trainer.training.session import run_training

from conftest import assert_run_dir_valid, read_jsonl

# Printable ASCII is ~37% of a random byte model's tokens: a dense, easy reward to raise.
EASY_REWARD = {"type": "keyword", "pattern": "[ -~]"}


def train(config: Path, run_dir: Path) -> tuple[int, str]:
    out = io.StringIO()
    code = run_training(load_config(config), run_dir, False, config, Console(out=out, err=out, min_interval_s=0))
    return code, out.getvalue()


@pytest.mark.parametrize("algorithm", ["bond", "jbond", "reinforce", "bonbon"])
def test_twenty_steps_train_write_valid_files_and_raise_the_reward(
        algorithm: str, write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config(algorithm=algorithm, reward=EASY_REWARD,
                          train={"steps": 20, "lr": 0.01, "batch_size": 8},
                          bond={"n": 4, "k": 8}, jbond={"gamma": 0.1}, bonbon={"n": 4},
                          anchor={"kind": "fixed" if algorithm == "bonbon" else "ema", "ema_eta": 0.1},
                          eval={"every": 10, "prompts": 6, "policy_samples": 8, "mc_samples": 16, "n_max": 8, "bon_n": 4},
                          checkpoint={"every": 10, "keep_last": 1})
    run_dir = tmp_path / "run"
    code, output = train(config, run_dir)
    assert code == 0, output
    assert_run_dir_valid(run_dir)
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "completed" and meta["step"] == 20 and meta["algorithm"] == algorithm
    assert meta["summary"]["step"] == 20
    metrics = read_jsonl(run_dir / "metrics.jsonl")
    train_lines = [m for m in metrics if m["kind"] == "train"]
    eval_lines = [m for m in metrics if m["kind"] == "eval"]
    assert [m["step"] for m in train_lines] == list(range(1, 21))
    assert [m["step"] for m in eval_lines] == [10, 20]
    if algorithm in ("bond", "jbond"):
        assert {"reward/anchor", "reward/bon", "quantile/log_policy"} <= train_lines[0].keys()
    tokens = [m["num_tokens"] for m in train_lines]
    assert all(b > a for a, b in zip(tokens, tokens[1:]))
    if algorithm == "bonbon":
        # No policy samples in a step: the anchor's best and worst, and the margin h against τ.
        assert {"loss/sft", "loss/ipo", "reward/anchor", "reward/bon", "reward/worst", "bonbon/h"} <= train_lines[0].keys()
        assert not {"reward/policy", "kl/policy_ref", "entropy", "loss/forward"} & train_lines[0].keys()
        assert all(m["reward/bon"] >= m["reward/anchor"] >= m["reward/worst"] for m in train_lines)
        assert train_lines[-1]["bonbon/h"] > train_lines[0]["bonbon/h"], "the IPO term widens the margin"
    else:
        # TRL's vocabulary: completion length, the share cut at max_new_tokens, tokens generated so far.
        assert all(m["completions/mean_length"] > 0 and 0 <= m["completions/clipped_ratio"] <= 1 for m in train_lines)
        assert not any("length" in m for m in train_lines), "one name for the completion length: completions/mean_length"
        assert any(m["completions/clipped_ratio"] > 0 for m in train_lines)  # 8 new tokens: most are cut
        assert tokens[0] >= 8 * train_lines[0]["completions/mean_length"]
    # What the editor needs of the algorithm comes from run.json, not from its name.
    assert meta["distilled_n"] == {"bond": 4, "jbond": 2, "reinforce": None, "bonbon": 4}[algorithm]
    assert meta["config_summary"][0] == {"label": "reward", "value": "keyword"}
    for group in meta["metric_groups"]:  # every chart draws metrics the run really writes
        lines = train_lines if group["table"] == "train" else eval_lines
        for series in group["series"]:
            if "every" in series:  # a pass of its own (the reference's, for a metric only): on a cadence
                assert algorithm in ("bond", "jbond") and series["every"] == 10, series
                carrying = [line["step"] for line in lines if series["key"] in line]
                assert carrying == [1, 10, 20], (group["id"], series["key"], carrying)  # the first, every 10th
                continue
            assert all(series["key"] in line for line in lines), (group["id"], series["key"])
    quantile = [g for g in meta["metric_groups"] if g["id"] == "quantile"]
    assert [g["reference"]["value"] for g in quantile] == ([-1 / meta["distilled_n"]] if algorithm in ("bond", "jbond") else [])
    # The parameters moved: the saved policy differs from the reference it started from (the trainer
    # initialises the random model right after seeding with train.seed = 1).
    checkpoints = sorted((run_dir / "checkpoints").iterdir())
    assert [c.name for c in checkpoints] == ["step-20"]  # keep_last = 1
    policy = load_byte_gpt(checkpoints[0]).state_dict()
    torch.manual_seed(1)
    from bond_trainer.models.byte_gpt import GPTModelSpec, GPTModule
    initial = GPTModule(GPTModelSpec(layers=1, heads=2, width=32, context=32)).state_dict()
    moved = [name for name in initial if not torch.equal(initial[name], policy[name])]
    assert len(moved) > len(initial) // 2, f"only {moved} changed"
    # The reward went up, measured on held-out prompts against π_ref's own samples.
    final = eval_lines[-1]
    assert final["eval/reward/policy"] > final["eval/reward/ref"] + 0.3, final
    assert final["eval/kl/policy_ref"] > 0.0
    samples = read_jsonl(run_dir / "samples.jsonl")
    assert {s["step"] for s in samples} == {3, 6, 9, 12, 15, 18, 20}
    assert all(len(s["bon"]["candidates"]) == 4 for s in samples)
    assert "Summary after 20 steps" in output


def test_parameters_change_and_anchor_follows_by_ema(write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config(train={"steps": 4}, anchor={"kind": "ema", "ema_eta": 0.5}, checkpoint={"every": 4})
    run_dir = tmp_path / "run"
    assert train(config, run_dir)[0] == 0
    ckpt = run_dir / "checkpoints" / "step-4"
    policy = load_byte_gpt(ckpt).state_dict()
    anchor = torch.load(ckpt / "anchor.pt", weights_only=True)
    name = "blocks.0.attn.qkv.weight"
    assert not torch.equal(policy[name], anchor[name])  # EMA lags behind the policy
    torch.manual_seed(1)  # the seed the tiny config initialises with
    from bond_trainer.models.byte_gpt import GPTModelSpec, GPTModule
    initial = GPTModule(GPTModelSpec(layers=1, heads=2, width=32, context=32)).state_dict()
    assert not torch.equal(policy[name], initial[name])
    assert not torch.equal(anchor[name], initial[name])


def test_hard_anchor_updates_are_logged(write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config(algorithm="bond", train={"steps": 4}, anchor={"kind": "hard", "period": 2})
    assert train(config, tmp_path / "run")[0] == 0
    log = (tmp_path / "run" / "trainer.log").read_text()
    assert "step 2: hard anchor update" in log and "step 4: hard anchor update" in log


def test_a_failing_user_reward_fails_the_run_and_names_the_input(write_config: Callable[..., Path],
                                                                tmp_path: Path) -> None:
    (tmp_path / "my_reward.py").write_text(
        "def score(prompts, completions):\n"
        "    return [1 / 0 if p == 'p3:' else 1.0 for p in prompts]\n")
    config = write_config(reward={"type": "python", "function": "my_reward.py:score"},
                          data={"train": ["prompts.jsonl"], "eval_fraction": 0.25})
    code, output = train(config, tmp_path / "run")
    assert code == 1
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["status"] == "failed" and meta["error"]["type"] == "reward"
    assert "my_reward.py:score raised ZeroDivisionError" in meta["error"]["message"]
    assert "'p3:'" in meta["error"]["message"] and "'p3:'" in output
    assert_run_dir_valid(tmp_path / "run")


def test_a_nan_reward_fails_the_run(write_config: Callable[..., Path], tmp_path: Path) -> None:
    (tmp_path / "nan_reward.py").write_text("def score(prompts, completions):\n    return [float('nan')] * len(prompts)\n")
    config = write_config(reward={"type": "python", "function": "nan_reward.py:score"})
    code, _ = train(config, tmp_path / "run")
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert code == 1 and "returned nan" in meta["error"]["message"]


def test_heartbeat_refreshes_run_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bond_trainer.run.rundir as rundir
    monkeypatch.setattr(rundir, "HEARTBEAT_SECONDS", 0.05)
    rd = RunDirectory(tmp_path)
    rd.create("x", "jbond", {}, None, 10)
    first = rd.read_meta()["heartbeat_at"]
    rd.start_heartbeat()
    time.sleep(0.3)
    rd.stop_heartbeat()
    assert rd.read_meta()["heartbeat_at"] > first
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temp files
