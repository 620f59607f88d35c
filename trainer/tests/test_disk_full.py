"""A full disk, for real: the run folder on a small tmpfs (needs root to mount; CI runs as root).
The run fails with the path and what was being written, status failed (disk_full), no partial or
temporary file stays, and a resume after freeing space finishes with every step exactly once."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Callable, Iterator

import pytest

from conftest import assert_run_dir_valid, read_jsonl
from test_cli import run_cli


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    mounts: list[Path] = []

    def mount(size: str) -> Path:
        point = tmp_path / f"disk{len(mounts)}"
        point.mkdir()
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)], capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"mounting a tmpfs needs root (CI runs as root): {result.stderr.strip()}")
        mounts.append(point)
        return point

    yield mount
    for point in mounts:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def resize(point: Path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(point)], check=True)


def leftovers(run_dir: Path) -> list[str]:
    return sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if ".tmp" in p.name)


def test_a_full_disk_during_a_checkpoint_fails_the_run_cleanly_and_a_resume_finishes_it(
        small_disk: Callable[[str], Path], write_config: Callable[..., Path]) -> None:
    config = write_config(train={"steps": 30}, checkpoint={"every": 2, "keep_last": 3}, eval={"every": 0}, samples={"every": 0})
    disk = small_disk("1200k")
    run_dir = disk / "run"
    result = run_cli("train", "--config", str(config), "--run-dir", str(run_dir))
    assert result.returncode == 1, result.stderr
    meta = json.loads((run_dir / "run.json").read_text())
    step = meta["error"]["step"]
    assert f"error: no space left on device while writing {run_dir / 'checkpoints' / f'step-{step}'} (checkpoint step {step}); " \
           "free space, then resume" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert meta["status"] == "failed" and meta["error"]["type"] == "disk_full"
    assert leftovers(run_dir) == [], "no partial checkpoint, no temporary run.json"
    on_disk = sorted(int(p.name[5:]) for p in (run_dir / "checkpoints").iterdir() if p.name.startswith("step-"))
    assert [c["step"] for c in meta["checkpoints"]] == on_disk and on_disk, "the list is what is on disk"
    assert_run_dir_valid(run_dir)
    resize(disk, "8m")  # the user frees space
    resumed = run_cli("train", "--config", str(config), "--run-dir", str(run_dir), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "completed"
    steps = [r["step"] for r in read_jsonl(run_dir / "metrics.jsonl") if r["kind"] == "train"]
    assert steps == list(range(1, 31)), "every step exactly once"
    assert leftovers(run_dir) == []


def test_a_full_disk_during_an_onnx_export_removes_the_temporary_export(
        small_disk: Callable[[str], Path], write_config: Callable[..., Path]) -> None:
    config = write_config(train={"steps": 4}, checkpoint={"every": 2, "keep_last": 1}, eval={"every": 0}, samples={"every": 0},
                          export={"onnx": True})
    disk = small_disk("1000k")
    run_dir = disk / "run"
    result = run_cli("train", "--config", str(config), "--run-dir", str(run_dir))
    assert result.returncode == 1, result.stderr
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["error"]["type"] == "disk_full", meta["error"]
    assert f"no space left on device while writing {run_dir / 'exports' / 'step-2'} (the ONNX export of step 2); free space, " \
           "then resume" in result.stderr, result.stderr
    assert leftovers(run_dir) == [], "exports/.tmp-step-N went with the failure"
    resize(disk, "16m")
    resumed = run_cli("train", "--config", str(config), "--run-dir", str(run_dir), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert (run_dir / "exports" / "step-4" / "policy" / "model.onnx").exists()
    assert leftovers(run_dir) == []
