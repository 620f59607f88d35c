"""Checkpoints that can be trusted: hashed manifests, resume from the newest intact checkpoint,
pruning that never leaves the run without one, and extending a completed run."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Callable

import pytest

from bond_trainer.run.rundir import RunDirectory

from bond_trainer.run.files import checkpoint_damage
from conftest import assert_run_dir_valid, read_jsonl, run_folder_validator
from test_cli import run_cli, stable


def test_the_manifest_lists_every_file_with_its_size_and_sha256(write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config(train={"steps": 3}, checkpoint={"every": 3, "keep_last": 1})
    run_dir = tmp_path / "run"
    assert run_cli("train", "--config", str(config), "--run-dir", str(run_dir)).returncode == 0
    folder = run_dir / "checkpoints" / "step-3"
    manifest = json.loads((folder / "checkpoint.json").read_text())
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p.name != "checkpoint.json"}
    assert set(manifest["files"]) == on_disk and {"model.pt", "trainer_state.pt", "anchor.pt"} <= on_disk
    for name, entry in manifest["files"].items():
        data = (folder / name).read_bytes()
        assert entry == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert checkpoint_damage(folder) is None


def damage(folder: Path, how: str) -> str:
    """Damage one file of a checkpoint; returns the words the resume must use."""
    target = folder / ("model.pt" if how != "truncate" else "trainer_state.pt")
    if how == "flip":
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0xFF
        target.write_bytes(bytes(data))
        return "model.pt does not match its sha256"
    if how == "truncate":
        target.write_bytes(target.read_bytes()[:100])
        return "trainer_state.pt has 100 bytes"
    target.unlink()
    return "model.pt is missing"


@pytest.mark.parametrize("how", ["flip", "truncate", "delete"])
def test_resume_skips_a_damaged_checkpoint_and_replays_from_the_newest_intact_one(
        how: str, write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config(train={"steps": 10}, checkpoint={"every": 3, "keep_last": 5})
    straight = tmp_path / "straight"
    assert run_cli("train", "--config", str(config), "--run-dir", str(straight)).returncode == 0
    # A run that crashed after its step-6 checkpoint, which the crash (or the disk) damaged.
    crashed = tmp_path / "crashed"
    shutil.copytree(straight, crashed)
    for step in (9, 10):
        shutil.rmtree(crashed / "checkpoints" / f"step-{step}")
    meta = json.loads((crashed / "run.json").read_text())
    (crashed / "run.json").write_text(json.dumps({**meta, "status": "failed", "step": 7, "summary": None}))
    reason = damage(crashed / "checkpoints" / "step-6", how)

    resumed = run_cli("train", "--config", str(config), "--run-dir", str(crashed), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "checkpoint step-6 is damaged" in resumed.stdout and reason in resumed.stdout
    assert "resuming from step 3" in resumed.stdout
    assert reason in (crashed / "trainer.log").read_text()
    assert (crashed / "checkpoints" / "step-6.damaged").is_dir()  # kept for inspection, never listed
    assert stable(read_jsonl(crashed / "metrics.jsonl")) == stable(read_jsonl(straight / "metrics.jsonl"))
    assert stable(read_jsonl(crashed / "samples.jsonl")) == stable(read_jsonl(straight / "samples.jsonl"))
    meta = json.loads((crashed / "run.json").read_text())
    assert meta["status"] == "completed" and [c["step"] for c in meta["checkpoints"]] == [3, 6, 9, 10]
    assert_run_dir_valid(crashed)


def test_a_failed_write_keeps_every_earlier_checkpoint(tmp_path: Path) -> None:
    rd = RunDirectory(tmp_path)
    rd.create("r", "jbond", {}, None, 10)
    rd.write_checkpoint(3, {"model.pt": {"w": 1}}, {}, keep_last=1)

    def disk_full(_target: Path) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        rd.write_checkpoint(6, {"model.pt": disk_full}, {}, keep_last=1)
    assert [step for step, _ in rd.list_checkpoints()] == [3]  # the only intact one survives
    assert checkpoint_damage(tmp_path / "checkpoints" / "step-3") is None
    # The next complete one replaces it; a replayed step replaces its own folder whole.
    rd.write_checkpoint(6, {"model.pt": {"w": 2}}, {}, keep_last=1)
    rd.write_checkpoint(6, {"model.pt": {"w": 3}}, {}, keep_last=1)
    assert [step for step, _ in rd.list_checkpoints()] == [6]
    rd.clean_partial_checkpoints()
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step-6"]


def test_a_completed_run_is_extended_by_resuming_with_more_steps(write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config(train={"steps": 10}, checkpoint={"every": 3, "keep_last": 2})
    straight = tmp_path / "straight"
    assert run_cli("train", "--config", str(config), "--run-dir", str(straight)).returncode == 0
    run_dir = tmp_path / "run"
    assert run_cli("train", "--config", str(config), "--run-dir", str(run_dir), "--set", "train.steps=6").returncode == 0
    first = json.loads((run_dir / "run.json").read_text())
    assert first["status"] == "completed" and first["summary"]["step"] == 6
    same = run_cli("train", "--config", str(config), "--run-dir", str(run_dir), "--resume", "--set", "train.steps=6")
    assert same.returncode == 2 and "already completed all 6 steps" in same.stderr and "train.steps=12" in same.stderr

    extended = run_cli("train", "--config", str(config), "--run-dir", str(run_dir), "--resume")
    assert extended.returncode == 0, extended.stderr
    assert "resuming from step 6" in extended.stdout
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "completed" and meta["step"] == 10 and meta["total_steps"] == 10
    assert meta["summary"]["step"] == 10 and meta["resume_count"] == 1
    # A constant schedule: six steps, then four more, train exactly as ten in one go.
    assert stable(read_jsonl(run_dir / "metrics.jsonl")) == stable(read_jsonl(straight / "metrics.jsonl"))
    assert_run_dir_valid(run_dir)


def test_a_ranks_error_file_follows_the_run_folder_contract(tmp_path: Path) -> None:
    rd = RunDirectory(tmp_path)
    rd.write_rank_error(1, {"message": "rank 1: out of memory", "type": "internal", "traceback": "…"})
    error = rd.first_rank_error()
    assert error is not None and error["rank"] == 1
    assert not list(run_folder_validator("rankError").iter_errors(error))
    assert list(run_folder_validator("rankError").iter_errors({**error, "type": "mystery"}))  # the validator can fail
