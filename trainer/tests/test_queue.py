"""`python -m bond_trainer queue` end to end: a real runner process over real trainer runs, with
queue.json rewritten while it works (as the editor does: reorder, remove, add, pause), a stop by
signal, and a second runner continuing what the first stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from conftest import TRAINER_DIR, assert_run_dir_valid, schema_validator, tiny_config


def write_queue(folder: Path, entries: list[dict[str, Any]], **fields: Any) -> None:
    """queue.json as the editor writes it: atomically, the whole file."""
    folder.mkdir(parents=True, exist_ok=True)
    record = {"format_version": 1, "workers": 1, "devices": [], "paused": False, "runs_dir": str(folder.parent / "runs"),
              "entries": entries, **fields}
    assert not [e.message for e in schema_validator("queue").iter_errors(record)]
    temp = folder / "queue.json.tmp"
    temp.write_text(json.dumps(record), encoding="utf-8")
    os.replace(temp, folder / "queue.json")


def entry(config: Path, id: str, steps: int) -> dict[str, Any]:
    return {"id": id, "config": str(config), "name": id, "overrides": [f"train.steps={steps}"], "added_at": time.time()}


def start_runner(folder: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "bond_trainer", "queue", "--queue-dir", str(folder)], cwd=TRAINER_DIR,
                            env={**os.environ, "PYTHONPATH": str(TRAINER_DIR)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def state(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / "queue-state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def wait_until(check: Callable[[], bool], what: str, process: subprocess.Popen[str], timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return
        if process.poll() is not None and not check():
            raise AssertionError(f"the runner exited before {what}: {process.communicate()[0]}")
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"timed out waiting for {what}: {process.communicate()[0]}")


def run_step(folder: Path, entry_id: str) -> int:
    run_dir = state(folder).get("entries", {}).get(entry_id, {}).get("run_dir")
    try:
        return int(json.loads((Path(run_dir) / "run.json").read_text())["step"]) if run_dir else -1
    except (OSError, ValueError, KeyError):
        return -1


def test_the_queue_follows_its_file_as_it_changes_one_runner_at_a_time(tmp_path: Path) -> None:
    config = tmp_path / "tiny.bond.json"
    config.write_text(json.dumps(tiny_config(tmp_path, checkpoint={"every": 1000})), encoding="utf-8")
    folder = tmp_path / "queue"
    write_queue(folder, [entry(config, "a", 30), entry(config, "b", 2), entry(config, "c", 2)])
    runner = start_runner(folder)
    wait_until(lambda: run_step(folder, "a") >= 2, "entry a training", runner)
    # while a trains, the editor removes b and puts d before c (at once: on a loaded machine a's
    # remaining steps took less than the second runner's start-up below)
    write_queue(folder, [entry(config, "a", 30), entry(config, "d", 2), entry(config, "c", 2)])
    # one runner per queue (the first has d's and c's trainers to start after a: it is still running)
    second = subprocess.run([sys.executable, "-m", "bond_trainer", "queue", "--queue-dir", str(folder)], cwd=TRAINER_DIR,
                            env={**os.environ, "PYTHONPATH": str(TRAINER_DIR)}, capture_output=True, text=True, timeout=60)
    assert second.returncode == 2 and "already running" in second.stderr, (second.returncode, second.stderr)
    output = runner.communicate(timeout=300)[0]
    assert runner.returncode == 0, output
    final = state(folder)
    assert not [e.message for e in schema_validator("queue-state").iter_errors(final)]
    assert final["status"] == "idle"
    entries = final["entries"]
    assert sorted(entries) == ["a", "c", "d"], "b was removed before it started"
    assert all(e["status"] == "completed" for e in entries.values()), entries
    assert entries["a"]["started_at"] < entries["d"]["started_at"] < entries["c"]["started_at"], "the file's new order"
    assert entries["d"]["started_at"] >= entries["a"]["ended_at"], "one at a time (workers 1)"
    for record in entries.values():
        assert_run_dir_valid(Path(record["run_dir"]))
        assert Path(record["run_dir"]).parent == tmp_path / "runs"
    assert json.loads((Path(entries["a"]["run_dir"]) / "run.json").read_text())["step"] == 30


def test_pause_holds_the_queue_a_stop_checkpoints_and_the_next_runner_continues(tmp_path: Path) -> None:
    config = tmp_path / "tiny.bond.json"
    config.write_text(json.dumps(tiny_config(tmp_path, checkpoint={"every": 1000})), encoding="utf-8")
    folder = tmp_path / "queue"
    entries = [entry(config, "a", 40), entry(config, "b", 2)]
    write_queue(folder, entries)
    runner = start_runner(folder)
    wait_until(lambda: run_step(folder, "a") >= 3, "entry a training", runner)
    write_queue(folder, entries, paused=True)
    runner.send_signal(signal.SIGINT)
    output = runner.communicate(timeout=120)[0]
    assert runner.returncode == 0, output
    stopped = state(folder)
    assert stopped["status"] == "stopped" and stopped["entries"]["a"]["status"] == "stopped", stopped
    assert "b" not in stopped["entries"], "paused: nothing new started"
    stopped_at = json.loads((Path(stopped["entries"]["a"]["run_dir"]) / "run.json").read_text())["step"]
    assert 3 <= stopped_at < 40
    # paused: a runner started now has nothing to start, and says so by exiting at once
    idle = start_runner(folder)
    assert idle.wait(timeout=60) == 0 and state(folder)["status"] == "paused"
    write_queue(folder, entries, paused=False)
    runner = start_runner(folder)
    output = runner.communicate(timeout=400)[0]
    assert runner.returncode == 0, output
    final = state(folder)["entries"]
    assert final["a"]["status"] == final["b"]["status"] == "completed" and final["a"]["resumed"] is True
    meta = json.loads((Path(final["a"]["run_dir"]) / "run.json").read_text())
    assert meta["resume_count"] == 1 and meta["step"] == 40
    steps = [json.loads(line)["step"] for line in (Path(final["a"]["run_dir"]) / "metrics.jsonl").read_text().splitlines() if '"train"' in line]
    assert steps == list(range(1, 41)), "every step once"


def test_two_runners_started_at_the_same_moment_share_nothing_one_takes_the_queue(tmp_path: Path) -> None:
    config = tmp_path / "tiny.bond.json"
    config.write_text(json.dumps(tiny_config(tmp_path)), encoding="utf-8")
    folder = tmp_path / "queue"
    write_queue(folder, [entry(config, "a", 3), entry(config, "b", 3)], workers=2)
    runners = [start_runner(folder), start_runner(folder)]  # before either has written its state
    outputs = [r.communicate(timeout=300)[0] for r in runners]
    codes = sorted(r.returncode for r in runners)
    assert codes == [0, 2], outputs
    assert any("already running" in o for o in outputs)
    final = state(folder)["entries"]
    assert sorted(final) == ["a", "b"] and all(e["status"] == "completed" for e in final.values())
    assert len(list((tmp_path / "runs").iterdir())) == 2, "each entry trained once"
