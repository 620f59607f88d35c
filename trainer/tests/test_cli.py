"""The command line as the extension uses it: real child processes, real signals, real files."""

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

# Fields that legitimately differ between two runs of the same seed: wall-clock time, speed, and the machine.
VOLATILE_PREFIXES = ("time", "perf/", "system/")


def trainer_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "bond_trainer", *args]


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(TRAINER_DIR)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(trainer_command(*args), capture_output=True, text=True, env=environment(), timeout=timeout)


def start(*args: str, **kwargs: Any) -> subprocess.Popen[str]:
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen(trainer_command(*args), text=True, env=environment(), **kwargs)


def stable(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if not k.startswith(VOLATILE_PREFIXES)} for r in records]


def wait_for_steps(run_dir: Path, steps: int, process: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        metrics = run_dir / "metrics.jsonl"
        if metrics.exists() and sum(1 for line in metrics.read_text().splitlines() if '"train"' in line) >= steps:
            return
        assert process.poll() is None, f"trainer exited early: {process.communicate()}"
        time.sleep(0.05)
    raise AssertionError(f"no {steps} steps within {timeout} s")


def test_check_reports_python_torch_and_devices() -> None:
    result = run_cli("check")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["torch"]["meets_minimum"] is True
    assert report["python"]["version"].startswith("3.")
    assert any(d["type"] == "cpu" for d in report["devices"])
    assert set(report["extras"]) >= {"transformers", "safetensors", "onnx"}


def test_validate_prints_problems_as_json(write_config: Callable[..., Path]) -> None:
    good = run_cli("validate", "--config", str(write_config()))
    assert good.returncode == 0 and json.loads(good.stdout) == {"ok": True, "config": str(write_config()), "problems": [],
                                                                "warnings": []}
    bad = run_cli("validate", "--config", str(write_config(eval={"n_max": 64, "mc_samples": 8})), "--set", "bond.n=1")
    assert bad.returncode == 2
    report = json.loads(bad.stdout)
    assert report["ok"] is False
    assert report["problems"][0]["field"] == "bond.n" and report["problems"][0]["check"] == "schema"
    semantic = json.loads(run_cli("validate", "--config", str(write_config(eval={"n_max": 64, "mc_samples": 8}))).stdout)
    assert [(p["field"], p["check"]) for p in semantic["problems"]] == [("eval.n_max", "semantic")]


@pytest.mark.parametrize("engine", ["eager", "static"])
def test_stop_and_resume_reproduce_an_uninterrupted_run(engine: str, write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config(train={"steps": 14}, checkpoint={"every": 5, "keep_last": 3}, sampling={"max_new_tokens": 8, "engine": engine})
    straight = tmp_path / "straight"
    result = run_cli("train", "--config", str(config), "--run-dir", str(straight))
    assert result.returncode == 0, result.stderr

    interrupted = tmp_path / "interrupted"
    process = start("train", "--config", str(config), "--run-dir", str(interrupted))
    wait_for_steps(interrupted, 2, process)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    meta = json.loads((interrupted / "run.json").read_text())
    assert meta["status"] == "stopped", meta
    stopped_at = meta["step"]
    assert 2 <= stopped_at < 14
    assert (interrupted / "checkpoints" / f"step-{stopped_at}" / "checkpoint.json").exists()
    assert "stop requested" in out
    assert_run_dir_valid(interrupted)

    resumed = run_cli("train", "--config", str(config), "--run-dir", str(interrupted), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming from step {stopped_at}" in resumed.stdout
    meta = json.loads((interrupted / "run.json").read_text())
    assert meta["status"] == "completed" and meta["resume_count"] == 1
    assert stable(read_jsonl(interrupted / "metrics.jsonl")) == stable(read_jsonl(straight / "metrics.jsonl"))
    assert stable(read_jsonl(interrupted / "samples.jsonl")) == stable(read_jsonl(straight / "samples.jsonl"))
    assert_run_dir_valid(interrupted)


def test_a_crash_resumes_from_the_last_checkpoint_and_replays_later_steps(
        write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config(train={"steps": 10}, checkpoint={"every": 3, "keep_last": 2})
    straight = tmp_path / "straight"
    assert run_cli("train", "--config", str(config), "--run-dir", str(straight)).returncode == 0
    crashed = tmp_path / "crashed"
    process = start("train", "--config", str(config), "--run-dir", str(crashed))
    wait_for_steps(crashed, 5, process)
    process.kill()  # SIGKILL: no handler runs
    process.communicate()
    assert json.loads((crashed / "run.json").read_text())["status"] == "running"  # lost, as the UI will say
    resumed = run_cli("train", "--config", str(config), "--run-dir", str(crashed), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert stable(read_jsonl(crashed / "metrics.jsonl")) == stable(read_jsonl(straight / "metrics.jsonl"))


def test_a_second_signal_exits_at_once_and_leaves_only_complete_files(
        write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config(train={"steps": 400}, checkpoint={"every": 1, "keep_last": 2})
    run_dir = tmp_path / "run"
    process = start("train", "--config", str(config), "--run-dir", str(run_dir))
    wait_for_steps(run_dir, 3, process)
    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=60)
    assert process.returncode == 0
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "stopped"
    for checkpoint in (run_dir / "checkpoints").glob("step-*"):
        assert (checkpoint / "checkpoint.json").exists() and (checkpoint / "model.pt").exists()
    assert_run_dir_valid(run_dir)
    resumed = run_cli("train", "--config", str(config), "--run-dir", str(run_dir), "--resume", "--set", "train.steps=6")
    assert resumed.returncode == 0, resumed.stderr
    assert not list((run_dir / "checkpoints").glob(".tmp-*"))


def test_a_closed_stdout_does_not_stop_training(write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config(train={"steps": 12})
    run_dir = tmp_path / "run"
    process = start("train", "--config", str(config), "--run-dir", str(run_dir))
    assert process.stdout is not None and process.stderr is not None
    wait_for_steps(run_dir, 1, process)
    process.stdout.close()  # the editor that started it went away
    process.stderr.close()
    assert process.wait(timeout=120) == 0
    assert json.loads((run_dir / "run.json").read_text())["status"] == "completed"


def test_sigterm_stops_like_sigint(write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config(train={"steps": 400})
    run_dir = tmp_path / "run"
    process = start("train", "--config", str(config), "--run-dir", str(run_dir))
    wait_for_steps(run_dir, 1, process)
    process.terminate()
    process.communicate(timeout=120)
    assert process.returncode == 0
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "stopped" and meta["checkpoints"][-1]["step"] == meta["step"]


@pytest.mark.parametrize("mutation, field, phrase", [
    ({"bond": {"n": 4, "betta": 0.5}}, "bond.betta", "did you mean 'beta'"),
    ({"bond": {"beta": 2}}, "bond.beta", "must be ≤ 1"),
    ({"data": {"train": ["missing.jsonl"]}}, "data.train[0]", "does not exist"),
])
def test_bad_config_exits_2_naming_the_field_and_creates_nothing(
        mutation: dict[str, Any], field: str, phrase: str, write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config(**mutation)
    run_dir = tmp_path / "run"
    result = run_cli("train", "--config", str(config), "--run-dir", str(run_dir))
    assert result.returncode == 2
    assert str(config) in result.stderr and field in result.stderr and phrase in result.stderr, result.stderr
    assert not run_dir.exists()


def test_bad_override_and_bad_arguments_exit_2(write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config()
    result = run_cli("train", "--config", str(config), "--run-dir", str(tmp_path / "r"), "--set", "train.steps=-1")
    assert result.returncode == 2 and "train.steps: must be ≥ 1" in result.stderr
    result = run_cli("train", "--config", str(config))
    assert result.returncode == 2 and "--run-dir" in result.stderr
    result = run_cli("train", "--config", str(tmp_path / "nope.bond.json"), "--run-dir", str(tmp_path / "r"))
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_demo_reference_elsewhere_is_for_prepare_only(tmp_path: Path) -> None:
    # A demo workspace's reference goes to its own build/ folder; the demo run itself uses the checkout's.
    result = run_cli("demo", "--reference", str(tmp_path / "build" / "reference.pt"), "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode == 2 and "--reference applies with --prepare-only" in result.stderr
    assert not (tmp_path / "runs").exists() and not (tmp_path / "build").exists()


def test_a_bad_prompt_line_exits_2_with_file_and_line(write_config: Callable[..., Path], tmp_path: Path) -> None:
    (tmp_path / "broken.jsonl").write_text('{"prompt": "ok"}\n{"text": "wrong key"}\n')
    config = write_config(data={"train": ["broken.jsonl"], "eval_fraction": 0.5})
    result = run_cli("train", "--config", str(config), "--run-dir", str(tmp_path / "run"))
    assert result.returncode == 2
    assert "broken.jsonl:2" in result.stderr and "'prompt'" in result.stderr
    assert not (tmp_path / "run").exists(), "a run that could not start leaves nothing behind"


def test_an_existing_run_is_never_overwritten_or_resumed_by_accident(
        write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config(train={"steps": 2})
    run_dir = tmp_path / "run"
    assert run_cli("train", "--config", str(config), "--run-dir", str(run_dir)).returncode == 0
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    again = run_cli("train", "--config", str(config), "--run-dir", str(run_dir))
    assert again.returncode == 2 and "--resume" in again.stderr
    completed = run_cli("train", "--config", str(config), "--run-dir", str(run_dir), "--resume")
    assert completed.returncode == 2 and "already completed" in completed.stderr
    after = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    assert before == after
    missing = run_cli("train", "--config", str(config), "--run-dir", str(tmp_path / "none"), "--resume")
    assert missing.returncode == 2 and "no run" in missing.stderr


def test_a_failing_user_reward_exits_1_and_keeps_earlier_checkpoints(
        write_config: Callable[..., Path], tmp_path: Path) -> None:
    (tmp_path / "late.py").write_text(
        "import os\nCALLS = [0]\n"
        "def score(prompts, completions):\n"
        "    CALLS[0] += 1\n"
        "    if CALLS[0] > 40:\n"
        "        raise RuntimeError('reward server went away')\n"
        "    return [float(len(c)) for c in completions]\n")
    config = write_config(reward={"type": "python", "function": "late.py:score"}, train={"steps": 30},
                          checkpoint={"every": 2, "keep_last": 5}, samples={"every": 0}, eval={"every": 0})
    run_dir = tmp_path / "run"
    result = run_cli("train", "--config", str(config), "--run-dir", str(run_dir))
    assert result.returncode == 1
    assert "late.py:score raised RuntimeError: reward server went away" in result.stderr
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "failed" and meta["error"]["step"] >= 2
    assert "Traceback" in (run_dir / "trainer.log").read_text()
    steps = [c["step"] for c in meta["checkpoints"]]
    assert steps and all((run_dir / c["path"] / "checkpoint.json").exists() for c in meta["checkpoints"])
    assert_run_dir_valid(run_dir)


def test_a_resume_with_a_changed_config_records_a_segment_and_keeps_what_ran(
        write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config(train={"steps": 4}, checkpoint={"every": 2, "keep_last": 2})
    run_dir = tmp_path / "run"
    first = run_cli("train", "--config", str(config), "--run-dir", str(run_dir))
    assert first.returncode == 0, first.stderr
    meta = json.loads((run_dir / "run.json").read_text())
    assert [s["start_step"] for s in meta["segments"]] == [0]
    assert meta["segments"][0]["config"] == meta["config"] and meta["segments"][0]["changes"] == []
    original = meta["config"]
    # The user edits the config, then trains further: validate says what would change, the resume prints it.
    data = json.loads(config.read_text())
    data.setdefault("jbond", {})["beta"] = 0.9
    data["train"]["lr"] = 0.05
    config.write_text(json.dumps(data))
    said = run_cli("validate", "--config", str(config), "--set", "train.steps=6", "--diff-run", str(run_dir))
    changes = {c["field"]: (c["before"], c["after"]) for c in json.loads(said.stdout)["changes"]}
    assert changes == {"jbond.beta": (original["jbond"]["beta"], 0.9), "train.lr": (0.003, 0.05), "train.steps": (4, 6)}
    resumed = run_cli("train", "--config", str(config), "--run-dir", str(run_dir), "--resume", "--set", "train.steps=6")
    assert resumed.returncode == 0, resumed.stderr
    assert "jbond.beta" in resumed.stdout and "→ 0.9" in resumed.stdout, resumed.stdout
    meta = json.loads((run_dir / "run.json").read_text())
    assert_run_dir_valid(run_dir)
    first_segment, second = meta["segments"]
    assert first_segment["config"] == original, "the first segment keeps the config its steps ran with"
    assert second["start_step"] == 4 and second["config"]["jbond"]["beta"] == 0.9
    assert {c["field"] for c in second["changes"]} == {"jbond.beta", "train.lr", "train.steps"}
    assert meta["config"]["jbond"]["beta"] == 0.9 and meta["step"] == 6
    # A resume with the same config adds no segment.
    again = run_cli("train", "--config", str(config), "--run-dir", str(run_dir), "--resume", "--set", "train.steps=6",
                    "--set", "train.steps=8")
    assert again.returncode == 0, again.stderr
    assert [s["start_step"] for s in json.loads((run_dir / "run.json").read_text())["segments"]] == [0, 4, 6]
    same = run_cli("train", "--config", str(config), "--run-dir", str(run_dir), "--resume", "--set", "train.steps=8")
    assert same.returncode == 2  # completed all 8: nothing to do, and nothing rewritten
    assert [s["start_step"] for s in json.loads((run_dir / "run.json").read_text())["segments"]] == [0, 4, 6]


def test_one_trainer_per_run_folder_two_real_processes_racing(write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config(train={"steps": 20}, eval={"every": 0}, samples={"every": 0}, checkpoint={"every": 10, "keep_last": 2})
    run_dir = tmp_path / "run"
    first = start("train", "--config", str(config), "--run-dir", str(run_dir))
    time.sleep(0.05)
    second = start("train", "--config", str(config), "--run-dir", str(run_dir))
    out2, err2 = second.communicate(timeout=120)
    out1, err1 = first.communicate(timeout=300)
    codes = sorted([first.returncode, second.returncode])
    assert codes == [0, 2], (err1, err2)
    refused = err2 if second.returncode == 2 else err1
    winner = first if first.returncode == 0 else second
    assert "another trainer is writing this run folder" in refused and f"pid {winner.pid}" in refused, refused
    train_lines = [r for r in read_jsonl(run_dir / "metrics.jsonl") if r["kind"] == "train"]
    assert [r["step"] for r in train_lines] == list(range(1, 21)), "one writer: every step once, in order"
    # The completed run resumed twice at once: one trains, the other is refused; nothing doubles.
    a = start("train", "--config", str(config), "--run-dir", str(run_dir), "--resume", "--set", "train.steps=100000")
    wait_for_steps(run_dir, 21, a)
    b = start("train", "--config", str(config), "--run-dir", str(run_dir), "--resume", "--set", "train.steps=100000")
    _, err_b = b.communicate(timeout=120)
    assert b.returncode == 2 and f"pid {a.pid}" in err_b, err_b
    assert a.poll() is None, "the holder trains on"
    a.send_signal(signal.SIGINT)
    a.communicate(timeout=300)
    assert a.returncode == 0
    steps = [r["step"] for r in read_jsonl(run_dir / "metrics.jsonl") if r["kind"] == "train"]
    assert steps == list(range(1, steps[-1] + 1)) and steps[-1] > 21
    # After the holder is gone (here: it ended), the lock is free again without any clean-up.
    assert (run_dir / ".lock").exists()
    done = run_cli("train", "--config", str(config), "--run-dir", str(run_dir), "--resume", "--set", "train.steps=41")
    assert done.returncode == 0, done.stderr


def test_a_sigkilled_holder_leaves_a_free_lock(write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config(train={"steps": 400}, eval={"every": 0}, samples={"every": 0}, checkpoint={"every": 2, "keep_last": 2})
    run_dir = tmp_path / "run"
    holder = start("train", "--config", str(config), "--run-dir", str(run_dir))
    wait_for_steps(run_dir, 3, holder)
    busy = run_cli("train", "--config", str(config), "--run-dir", str(run_dir), "--resume")
    assert busy.returncode == 2 and f"pid {holder.pid}" in busy.stderr, busy.stderr
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    reached = sum(1 for r in read_jsonl(run_dir / "metrics.jsonl") if r["kind"] == "train")
    resumed = start("train", "--config", str(config), "--run-dir", str(run_dir), "--resume", "--set", f"train.steps={reached + 4}")
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err


@pytest.mark.parametrize("source, said", [
    ("import sys\nsys.exit(0)\ndef score(prompts, completions):\n    return [0.0] * len(completions)\n",
     "importing {path} called sys.exit(0)"),
    ("import sys\ndef score(prompts, completions):\n    sys.exit(3)\n", "exits.py:score called sys.exit(3)"),
    ("def score(prompts, completions):\n    raise KeyboardInterrupt\n", "exits.py:score raised KeyboardInterrupt"),
    ("def score(prompts, completions):\n    exit()\n", "exits.py:score called sys.exit()"),
], ids=["exit-0-at-import", "exit-3-in-score", "keyboard-interrupt", "exit-builtin"])
def test_any_exit_from_user_code_fails_the_run_naming_the_reward(
        source: str, said: str, write_config: Callable[..., Path], tmp_path: Path) -> None:
    (tmp_path / "exits.py").write_text(source)
    config = write_config(reward={"type": "python", "function": "exits.py:score"}, samples={"every": 0}, eval={"every": 0})
    run_dir = tmp_path / "run"
    result = run_cli("train", "--config", str(config), "--run-dir", str(run_dir))
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert said.format(path=tmp_path / "exits.py") in result.stderr, result.stderr
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "failed", "never left starting or running behind a dead process"
    assert meta["error"]["type"] == "reward"
    assert_run_dir_valid(run_dir)


def test_a_resume_after_a_kill_past_the_final_checkpoint_finishes_the_run(
        write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config(train={"steps": 10}, checkpoint={"every": 5, "keep_last": 2}, samples={"every": 0}, eval={"every": 0})
    run_dir = tmp_path / "run"
    assert run_cli("train", "--config", str(config), "--run-dir", str(run_dir)).returncode == 0
    finished = json.loads((run_dir / "run.json").read_text())
    # What a SIGKILL right after checkpoints/step-10 was renamed into place leaves: run.json still
    # says running at step 10 with the old list, no summary; a pruning cut short leaves a renamed-away
    # folder and a half-deleted step folder without its manifest.
    killed = {**finished, "status": "running", "summary": None, "ended_at": None, "pid": 999_999_999,
              "checkpoints": [{"step": 5, "path": "checkpoints/step-5"}]}
    (run_dir / "run.json").write_text(json.dumps(killed))
    (run_dir / "checkpoints" / ".tmp-pruned-step-1-4242").mkdir()
    (run_dir / "checkpoints" / "step-2").mkdir()
    (run_dir / "checkpoints" / "step-2" / "model.pt").write_bytes(b"half")
    resumed = run_cli("train", "--config", str(config), "--run-dir", str(run_dir), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "completed"
    assert meta["summary"] is not None and meta["summary"]["step"] == 10
    on_disk = sorted(int(p.name[5:]) for p in (run_dir / "checkpoints").iterdir()
                     if p.name.startswith("step-") and (p / "checkpoint.json").exists())
    assert [c["step"] for c in meta["checkpoints"]] == on_disk == [5, 10]
    assert not any(p.name.startswith(".tmp-") for p in (run_dir / "checkpoints").iterdir())
    evals = [r for r in read_jsonl(run_dir / "metrics.jsonl") if r["kind"] == "eval"]
    assert [r["step"] for r in evals] == [10], "the final evaluation once, not twice"
    assert_run_dir_valid(run_dir)


def test_a_hung_reward_times_out_naming_it(write_config: Callable[..., Path], tmp_path: Path) -> None:
    (tmp_path / "hangs.py").write_text("import time\ndef score(prompts, completions):\n    while True:\n        time.sleep(1)\n")
    config = write_config(reward={"type": "python", "function": "hangs.py:score", "timeout_s": 1.5},
                          samples={"every": 0}, eval={"every": 0})
    run_dir = tmp_path / "run"
    started = time.time()
    result = run_cli("train", "--config", str(config), "--run-dir", str(run_dir), timeout=120)
    assert result.returncode == 1, result.stderr
    assert "reward hangs.py:score did not return within reward.timeout_s = 1.5 s" in result.stderr, result.stderr
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "failed" and meta["error"]["type"] == "timeout"
    assert time.time() - started < 60


@pytest.mark.parametrize("where", ["train", "eval"])
def test_stop_ends_a_run_stuck_in_a_reward_within_seconds_with_a_checkpoint_of_the_last_step(
        where: str, write_config: Callable[..., Path], tmp_path: Path) -> None:
    # The reward works for the first steps' calls, then hangs in a busy loop that ignores exceptions
    # of its own kind (as a careless `except Exception` would); in eval, only the evaluation's calls hang.
    calls_before_hang = 6 if where == "train" else 10_000
    (tmp_path / "stuck.py").write_text(
        "import os\nCALLS = [0]\n"
        "def score(prompts, completions):\n"
        "    CALLS[0] += 1\n"
        f"    hang = CALLS[0] > {calls_before_hang} or (os.environ.get('BOND_TEST_EVAL') and len(completions) == 12)\n"
        "    while hang:\n"
        "        try:\n            sum(range(1000))\n        except Exception:\n            pass\n"
        "    return [float(len(c)) for c in completions]\n")
    evals = {"every": 3, "prompts": 4, "policy_samples": 3, "mc_samples": 8, "n_max": 8, "bon_n": 4} if where == "eval" else {"every": 0}
    config = write_config(reward={"type": "python", "function": "stuck.py:score"}, train={"steps": 1000},
                          samples={"every": 0}, eval=evals, checkpoint={"every": 1000, "keep_last": 2})
    run_dir = tmp_path / "run"
    env = environment()
    if where == "eval":
        env["BOND_TEST_EVAL"] = "1"
    process = subprocess.Popen(trainer_command("train", "--config", str(config), "--run-dir", str(run_dir)),
                               text=True, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline:  # until it is stuck: its heartbeat goes on, its steps do not
        lines = read_jsonl(run_dir / "metrics.jsonl") if (run_dir / "metrics.jsonl").exists() else []
        if lines and time.time() - (run_dir / "metrics.jsonl").stat().st_mtime > 2:
            break
        assert process.poll() is None, process.communicate()
        time.sleep(0.2)
    done = [r["step"] for r in read_jsonl(run_dir / "metrics.jsonl") if r["kind"] == "train"]
    assert done, "it trained a little before it hung"
    asked = time.time()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert time.time() - asked < 10, f"the first Stop took {time.time() - asked:.1f} s"
    assert process.returncode == 0, err
    assert ("inside the reward of step" if where == "train" else "during the evaluation of step") in out, out
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "stopped" and meta["step"] == done[-1]
    assert meta["checkpoints"][-1]["step"] == done[-1], "a checkpoint of the last completed step"
    assert_run_dir_valid(run_dir)


def test_validate_checks_unsaved_text_from_stdin_with_paths_from_the_file_and_suggests_renames(
        write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config()
    text = config.read_text().replace('"beta"', '"betta"') if '"beta"' in config.read_text() else \
        config.read_text().replace('"bond": {', '"bond": {"betta": 0.5, ', 1)
    result = subprocess.run(trainer_command("validate", "--config", str(config), "--stdin"), input=text, capture_output=True,
                            text=True, env=environment(), timeout=120)
    assert result.returncode == 2
    [problem] = json.loads(result.stdout)["problems"]
    assert problem["field"] == "bond.betta" and problem["rename_to"] == "beta", problem
    # relative paths resolve against the file's folder, not the working directory
    ok = subprocess.run(trainer_command("validate", "--config", str(config), "--stdin"), input=config.read_text(),
                        capture_output=True, text=True, env=environment(), timeout=120, cwd="/")
    assert json.loads(ok.stdout)["problems"] == [], ok.stdout


def test_pretraining_says_its_first_step_at_once_then_often() -> None:
    """The walkthrough's notification reads these lines: the first comes at step 1, not after 100."""
    import io

    from bond_trainer.commands.demo import pretrain_reporter
    from bond_trainer.run.console import Console
    out = io.StringIO()
    report = pretrain_reporter(Console(out=out, err=out), 700, every_s=3600)
    for step in range(1, 701):
        report(step, 1.0)
    steps = [int(line.split()[2].split("/")[0]) for line in out.getvalue().splitlines()]
    assert steps == [1, 100, 200, 300, 400, 500, 600, 700]
    out = io.StringIO()
    report = pretrain_reporter(Console(out=out, err=out), 700, every_s=0.0)  # a slow machine: by the clock
    for step in range(1, 6):
        report(step, 1.0)
    assert len(out.getvalue().splitlines()) == 5


def test_stop_ends_a_run_stuck_while_loading_within_seconds(write_config: Callable[..., Path], tmp_path: Path) -> None:
    """A reward file whose import never ends (as a model or data set that never arrives): the first
    Stop ends the run within seconds, status stopped, nothing trained, and a resume then trains."""
    (tmp_path / "slow_import.py").write_text(
        "import os, time\n"
        "while os.environ.get('BOND_TEST_HANG_IMPORT'):\n"
        "    try:\n        time.sleep(0.05)\n    except Exception:\n        pass\n"
        "def score(prompts, completions):\n    return [float(len(c)) for c in completions]\n")
    config = write_config(reward={"type": "python", "function": "slow_import.py:score"}, train={"steps": 4},
                          samples={"every": 0}, eval={"every": 0}, checkpoint={"every": 2, "keep_last": 2})
    run_dir = tmp_path / "run"
    env = {**environment(), "BOND_TEST_HANG_IMPORT": "1"}
    process = subprocess.Popen(trainer_command("train", "--config", str(config), "--run-dir", str(run_dir)),
                               text=True, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    log = run_dir / "trainer.log"
    deadline = time.time() + 120
    while time.time() < deadline and not (log.exists() and "starting" in log.read_text()):
        assert process.poll() is None, process.communicate()
        time.sleep(0.1)
    time.sleep(3)  # well inside the import that never ends
    assert process.poll() is None, process.communicate()
    assert json.loads((run_dir / "run.json").read_text())["status"] == "starting"
    asked = time.time()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert time.time() - asked < 10, f"the first Stop took {time.time() - asked:.1f} s"
    assert process.returncode == 0, err
    assert "stopped while loading" in out, out
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "stopped" and meta["step"] == 0 and meta["checkpoints"] == [], meta
    assert not (run_dir / "metrics.jsonl").exists() or not read_jsonl(run_dir / "metrics.jsonl")
    resumed = run_cli("train", "--config", str(config), "--run-dir", str(run_dir), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert [r["step"] for r in read_jsonl(run_dir / "metrics.jsonl") if r["kind"] == "train"] == [1, 2, 3, 4]
    assert_run_dir_valid(run_dir)


def test_a_stop_asked_for_outside_a_reward_stops_at_the_next_reward_call(write_config: Callable[..., Path], tmp_path: Path) -> None:
    """The signal found nothing to interrupt (it came during sampling, or just before an evaluation),
    so it only set the flag: the next reward call, which may never return, raises StopNow instead of
    starting (CI caught an evaluation's hung reward after a stop asked for during the step before)."""
    from bond_trainer.inputs.config import load_config
    from bond_trainer.run.console import Console
    from bond_trainer.run.rundir import RunDirectory
    from bond_trainer.training.trainer import StopNow, Trainer
    import io
    config = write_config(train={"steps": 4, "batch_size": 4}, samples={"every": 0}, eval={"every": 0})
    out = io.StringIO()
    trainer = Trainer(load_config(config), RunDirectory(tmp_path / "run"), Console(out=out, err=out))
    trainer.build()
    trainer.train_step(trainer.stream.next_batch(4))  # rewards are called while no stop is asked for
    trainer.stop_requested = True
    with pytest.raises(StopNow):
        trainer.train_step(trainer.stream.next_batch(4))


@pytest.mark.parametrize("where", ["samples", "eval", "last"])
def test_a_stop_during_a_steps_held_out_pass_is_made_up_on_resume(
        where: str, write_config: Callable[..., Path], tmp_path: Path) -> None:
    """A stop after a step's update but during its sample snapshot or evaluation keeps the step and
    drops the pass (it may hang); the resume takes that pass first, so the run's records equal an
    uninterrupted run's (CI caught a resumed run without step 3's evaluation)."""
    # From the step given on, every reward call hangs: the first is that step's held-out pass.
    (tmp_path / "hangs_late.py").write_text(
        "import json, os, time\n"
        "def score(prompts, completions):\n"
        "    run, after = os.environ.get('BOND_TEST_RUN'), int(os.environ.get('BOND_TEST_HANG_AFTER', '0'))\n"
        "    metrics = os.path.join(run, 'metrics.jsonl') if run else ''\n"
        "    done = sum('\"train\"' in line for line in open(metrics)) if metrics and os.path.exists(metrics) else 0\n"
        "    while after and done >= after:\n"
        "        time.sleep(0.05)\n"
        "    return [float(c.count('a')) for c in completions]\n")
    hang_after = 6 if where == "last" else 3
    config = write_config(reward={"type": "python", "function": "hangs_late.py:score"}, train={"steps": 6},
                          samples={"every": 0 if where == "eval" else 3}, checkpoint={"every": 3, "keep_last": 3})
    straight = tmp_path / "straight"
    assert run_cli("train", "--config", str(config), "--run-dir", str(straight)).returncode == 0

    interrupted = tmp_path / "interrupted"
    env = {**environment(), "BOND_TEST_RUN": str(interrupted), "BOND_TEST_HANG_AFTER": str(hang_after)}
    process = subprocess.Popen(trainer_command("train", "--config", str(config), "--run-dir", str(interrupted)),
                               text=True, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for_steps(interrupted, hang_after, process)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    part = "sample snapshot" if where in ("samples", "last") else "evaluation"
    assert f"stop requested during the {part} of step {hang_after}" in out, out
    meta = json.loads((interrupted / "run.json").read_text())
    assert meta["status"] == "stopped" and meta["step"] == hang_after, meta
    recorded = read_jsonl(interrupted / "metrics.jsonl")
    assert not [r for r in recorded if r["kind"] == "eval" and r["step"] == hang_after], "the cut pass is not recorded"
    assert_run_dir_valid(interrupted)

    resumed = run_cli("train", "--config", str(config), "--run-dir", str(interrupted), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming from step {hang_after}" in resumed.stdout
    assert f"step {hang_after}'s " in resumed.stdout and "was not recorded before the run stopped" in resumed.stdout
    assert json.loads((interrupted / "run.json").read_text())["status"] == "completed"
    assert stable(read_jsonl(interrupted / "metrics.jsonl")) == stable(read_jsonl(straight / "metrics.jsonl"))
    assert stable(read_jsonl(interrupted / "samples.jsonl")) == stable(read_jsonl(straight / "samples.jsonl"))
    assert_run_dir_valid(interrupted)
