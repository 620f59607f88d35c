"""torchrun: 2 CPU processes (gloo) against 1, stop and resume, a failing rank. Real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from conftest import TRAINER_DIR, assert_run_dir_valid, read_jsonl

VOLATILE = ("time", "perf/", "time/", "system/")


def torchrun(nproc: int, *args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
            "-m", "bond_trainer", *args]


def environment() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(TRAINER_DIR), PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    return env


def run(command: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, env=environment(), timeout=timeout)


def losses(run_dir: Path) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if not k.startswith(VOLATILE)}
            for r in read_jsonl(run_dir / "metrics.jsonl")]


def close(a: list[dict[str, Any]], b: list[dict[str, Any]], tol: float = 1e-4) -> bool:
    """Equal within float32 tolerance (gradients summed in another order drift by ~1e-7 a step)."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x.keys() != y.keys():
            return False
        for key, value in x.items():
            other = y[key]
            # The regulariser averages log-ratio × log π, products of sums of ~40 nats: its float32
            # rounding is ~1e-4 nats absolute, whatever its (small) value.
            scale = 10.0 if key == "loss/regulariser" else max(1.0, abs(value)) if isinstance(value, float) else 1.0
            if isinstance(value, float) and abs(value - other) > tol * scale:
                return False
            if isinstance(value, list) and any(abs(u - v) > tol * max(1.0, abs(u)) for u, v in zip(value, other)):
                return False
    return True


@pytest.mark.parametrize("strategy,micro", [("ddp", 0), ("fsdp", 0), ("ddp", 3), ("fsdp", 3)],
                         ids=["ddp", "fsdp", "ddp-micro-batches", "fsdp-micro-batches"])
def test_two_processes_give_the_losses_of_one_for_the_same_global_batch(
        strategy: str, micro: int, write_config: Callable[..., Path], tmp_path: Path) -> None:
    # 5 held-out prompts over 2 ranks: uneven shares (FSDP pads them so every rank runs the same forwards).
    # micro: each rank back-propagates its 8 update rows 3 at a time, synchronising with the last.
    config = write_config(train={"steps": 4, "batch_size": 8, "micro_batch_size": micro}, eval={"every": 2, "prompts": 5},
                          checkpoint={"every": 2}, samples={"every": 2, "prompts": 3},
                          distributed={"nproc_per_node": 2, "strategy": strategy})
    one, two = tmp_path / "one", tmp_path / "two"
    single = run([sys.executable, "-m", "bond_trainer", "train", "--config", str(config), "--run-dir", str(one)])
    assert single.returncode == 0, single.stderr
    double = run(torchrun(2, "train", "--config", str(config), "--run-dir", str(two)))
    assert double.returncode == 0, double.stderr
    # no module hands FSDP a view it warns could skip its hooks (wrong gradients)
    assert "returned a view tensor" not in double.stderr, double.stderr[-3000:]
    assert_run_dir_valid(two)
    meta = json.loads((two / "run.json").read_text())
    assert meta["world_size"] == 2 and meta["status"] == "completed"
    a, b = losses(one), losses(two)
    assert [r["step"] for r in a] == [r["step"] for r in b]
    assert close(a, b), (a, b)
    # Samples are gathered to rank 0, in prompt order.
    assert [s["prompt_id"] for s in read_jsonl(two / "samples.jsonl")] == [s["prompt_id"] for s in read_jsonl(one / "samples.jsonl")]
    # The same configuration with a different seed does differ: the comparison can fail.
    other = run([sys.executable, "-m", "bond_trainer", "train", "--config", str(config), "--run-dir",
                 str(tmp_path / "seed"), "--set", "train.seed=7"])
    assert other.returncode == 0 and not close(losses(tmp_path / "seed"), b)


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_sigint_stops_every_rank_with_one_checkpoint_and_the_run_resumes_on_one_process(
        strategy: str, write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config(train={"steps": 60, "batch_size": 8}, eval={"every": 20}, samples={"every": 20},
                          checkpoint={"every": 50, "keep_last": 3}, distributed={"strategy": strategy})
    straight = tmp_path / "straight"
    assert run([sys.executable, "-m", "bond_trainer", "train", "--config", str(config), "--run-dir", str(straight)]).returncode == 0
    run_dir = tmp_path / "run"
    process = subprocess.Popen(torchrun(2, "train", "--config", str(config), "--run-dir", str(run_dir)),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment(),
                               start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        metrics = run_dir / "metrics.jsonl"
        if metrics.exists() and metrics.read_text().count('"train"') >= 3:
            break
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGINT)  # what the extension's stop does: the whole group
    out, err = process.communicate(timeout=120)
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "stopped", (meta, err)
    stopped_at = meta["step"]
    assert 3 <= stopped_at < 60
    assert [c["step"] for c in meta["checkpoints"]] == [stopped_at]
    # Resume at a different world size: one process.
    resumed = run([sys.executable, "-m", "bond_trainer", "train", "--config", str(config), "--run-dir", str(run_dir), "--resume"])
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((run_dir / "run.json").read_text())["status"] == "completed"
    assert close(losses(run_dir), losses(straight)), "resumed run differs from the uninterrupted one"
    assert_run_dir_valid(run_dir)


def test_a_failing_rank_fails_the_run_with_its_error_instead_of_hanging(
        write_config: Callable[..., Path], tmp_path: Path) -> None:
    (tmp_path / "rank_reward.py").write_text(
        "import os\n"
        "def score(prompts, completions):\n"
        "    if os.environ.get('RANK') == '1':\n"
        "        raise ValueError('the reward service is down on rank 1')\n"
        "    return [float(len(c)) for c in completions]\n")
    config = write_config(reward={"type": "python", "function": "rank_reward.py:score"}, train={"steps": 5})
    run_dir = tmp_path / "run"
    started = time.time()
    result = run(torchrun(2, "train", "--config", str(config), "--run-dir", str(run_dir)), timeout=120)
    assert result.returncode != 0
    assert time.time() - started < 90
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "failed", meta
    assert meta["error"]["rank"] == 1 and "reward service is down on rank 1" in meta["error"]["message"]
    assert meta["error"]["type"] == "reward"


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_a_lora_hf_policy_with_an_hf_reward_model_gives_the_same_losses_on_two_processes(
        strategy: str, write_config: Callable[..., Path], tmp_path: Path, hf_models: dict[str, Path]) -> None:
    config = write_config(distributed={"strategy": strategy}, policy={"hf": {"model": str(hf_models["gpt2"]), "lora": {"r": 4}}},
                          reward={"type": "hf", "model": str(hf_models["reward"])},
                          train={"steps": 3, "batch_size": 4}, sampling={"max_new_tokens": 6, "engine": "static"},
                          eval={"every": 3, "prompts": 3}, samples={"every": 3, "prompts": 3},
                          checkpoint={"every": 3})
    # The static engine (transformers' StaticCache through peft) here; the byte-GPT tests above use eager.
    one, two = tmp_path / "one", tmp_path / "two"
    assert run([sys.executable, "-m", "bond_trainer", "train", "--config", str(config), "--run-dir", str(one)]).returncode == 0
    double = run(torchrun(2, "train", "--config", str(config), "--run-dir", str(two)))
    assert double.returncode == 0, double.stderr
    assert json.loads((two / "run.json").read_text())["world_size"] == 2
    assert close(losses(one), losses(two)), (losses(one), losses(two))
    assert (two / "checkpoints" / "step-3" / "hf" / "adapter_config.json").exists()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_ranks_die_with_a_killed_launcher(write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config(train={"steps": 100000, "batch_size": 8}, eval={"every": 0}, samples={"every": 0},
                          checkpoint={"every": 0})
    run_dir = tmp_path / "run"
    process = subprocess.Popen(torchrun(2, "train", "--config", str(config), "--run-dir", str(run_dir)),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment(), start_new_session=True)
    ranks: list[int] = []
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not ((run_dir / "metrics.jsonl").exists() and (run_dir / "metrics.jsonl").stat().st_size):
            time.sleep(0.1)
        ranks = _children(process.pid)
        assert len(ranks) == 2, ranks
        process.kill()  # the launcher alone, as the editor's stop does when a run will not stop
        process.wait(timeout=30)
        deadline = time.time() + 30
        while time.time() < deadline and any(Path(f"/proc/{pid}").exists() for pid in ranks):
            time.sleep(0.1)
        assert not [pid for pid in ranks if Path(f"/proc/{pid}").exists()], "ranks outlived their launcher"
    finally:
        # Ranks run in sessions of their own (torchrun's choice): clean up each, whatever happened.
        for pid in [process.pid, *ranks]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_accelerate_launch_trains_like_torchrun(write_config: Callable[..., Path], tmp_path: Path) -> None:
    """`accelerate launch --multi_gpu` starts the ranks through torch.distributed.run with the same
    variables torchrun sets; on CPU the ranks use gloo. Two processes give one process's losses."""
    config = write_config(train={"steps": 3, "batch_size": 8}, eval={"every": 3, "prompts": 4}, checkpoint={"every": 3},
                          samples={"every": 3, "prompts": 2})
    one, two = tmp_path / "one", tmp_path / "two"
    assert run([sys.executable, "-m", "bond_trainer", "train", "--config", str(config), "--run-dir", str(one)]).returncode == 0
    env_home = tmp_path / "home"  # no accelerate config file of the user's gets in the way
    env_home.mkdir()
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "bond_trainer", "train", "--config", str(config),
               "--run-dir", str(two)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(TRAINER_DIR), "HOME": str(env_home), "HF_HOME": str(env_home)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((two / "run.json").read_text())["world_size"] == 2
    assert close(losses(one), losses(two)), (losses(one), losses(two))
