"""The run directory: the one seam between trainer and UI (contracts/schemas/*.schema.json).

run.json is replaced atomically (temp file, fsync, rename). metrics.jsonl and samples.jsonl are
append-only, one complete line per write. Checkpoints are written into a temporary folder and
renamed into place, so a folder named step-N is always complete; its checkpoint.json lists every
file with its size and sha256, read back from disk, so that a resume can tell a damaged one.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from .. import __version__

from .files import checkpoint_files, atomic_write_text, DiskFull, is_disk_full
from .layout import (FORMAT_VERSION, RUN_FILE, LOCK_FILE, RESERVE_FILE, RESERVE_BYTES, METRICS_FILE, SAMPLES_FILE,
                     LOG_FILE, CHECKPOINTS, CHECKPOINT_MANIFEST, RANK_ERRORS, HEARTBEAT_SECONDS, DAMAGED_SUFFIX)




def segments_of(meta: dict[str, Any]) -> list[dict[str, Any]]:
    """A run's config history; a run.json from before segments holds one: its config."""
    recorded = meta.get("segments")
    if isinstance(recorded, list) and recorded:
        return list(recorded)
    return [{"start_step": 0, "started_at": float(meta.get("created_at", 0.0)), "config": meta.get("config", {}),
             "changes": []}]


class RunDirectory:
    def __init__(self, path: Path):
        self.path = path
        # Re-entrant: a stop signal handled on the main thread may arrive while it holds the lock.
        self._lock = threading.RLock()
        self._meta: dict[str, Any] = {}
        self._heartbeat: Optional[threading.Thread] = None
        self._stop_heartbeat = threading.Event()

    # --- run.json -------------------------------------------------------------------------------
    def read_meta(self) -> dict[str, Any]:
        with open(self.path / RUN_FILE, encoding="utf-8") as handle:
            meta: dict[str, Any] = json.load(handle)
        return meta

    def create(self, name: str, algorithm: str, config: dict[str, Any], config_path: Optional[str],
               total_steps: int, description: Optional[dict[str, Any]] = None) -> None:
        """A new run.json; `description` adds what algorithms.run_description says of the run."""
        now = time.time()
        self._meta = {
            "format_version": FORMAT_VERSION, "run_id": self.path.name, "name": name, "algorithm": algorithm,
            "status": "starting", "config": config, "config_path": config_path, "pid": os.getpid(),
            "host": socket.gethostname(), "device": "unknown", "created_at": now, "updated_at": now,
            "heartbeat_at": now, "started_at": None, "started_step": 0, "ended_at": None, "step": 0, "total_steps": total_steps,
            "resume_count": 0, "error": None, "summary": None, "checkpoints": [],
            "trainer_version": __version__, "torch_version": torch.__version__,
            "segments": [{"start_step": 0, "started_at": now, "config": config, "changes": []}],
            **(description or {}),
        }
        # The record files exist from the start, so a watcher can tail them before the first step.
        for name in (METRICS_FILE, SAMPLES_FILE):
            (self.path / name).touch()
        self.write_meta()

    def adopt(self, meta: dict[str, Any]) -> None:
        """Continue an existing run (resume): keep its identity, take this process as its owner."""
        self._meta = meta
        self.update(pid=os.getpid(), host=socket.gethostname(), status="starting", error=None, ended_at=None)

    def segments(self) -> list[dict[str, Any]]:
        return segments_of(self._meta)

    def update(self, **fields: Any) -> None:
        with self._lock:
            self._meta.update(fields)
            self._write_locked()

    def write_meta(self) -> None:
        with self._lock:
            self._write_locked()

    def _write_locked(self) -> None:
        now = time.time()
        self._meta["updated_at"] = now
        self._meta["heartbeat_at"] = now
        try:
            atomic_write_text(self.path / RUN_FILE, json.dumps(self._meta, indent=2, allow_nan=False) + "\n")
        except OSError as error:
            if is_disk_full(error, self.path):
                raise DiskFull(self.path / RUN_FILE, "the run's status") from error
            raise

    @property
    def meta(self) -> dict[str, Any]:
        return self._meta

    def start_heartbeat(self, watch: Optional[Callable[[], None]] = None) -> None:
        """Rewrite run.json every HEARTBEAT_SECONDS; `watch` runs every second between beats (the
        main rank uses it to notice another rank's failure while it waits in a collective)."""
        def beat() -> None:
            last = time.monotonic()
            while not self._stop_heartbeat.wait(1.0 if watch else HEARTBEAT_SECONDS):
                if watch:
                    watch()
                if time.monotonic() - last >= HEARTBEAT_SECONDS - 0.01:
                    try:
                        self.write_meta()
                    except DiskFull:
                        pass  # the main loop's next write fails the run and says so; a beat is not worth a crash
                    last = time.monotonic()

        self._stop_heartbeat.clear()
        self._heartbeat = threading.Thread(target=beat, name="bond-heartbeat", daemon=True)
        self._heartbeat.start()

    def stop_heartbeat(self) -> None:
        self._stop_heartbeat.set()
        if self._heartbeat is not None:
            self._heartbeat.join(timeout=2 * HEARTBEAT_SECONDS)

    # --- failures of other ranks (torchrun) --------------------------------------------------------
    def write_rank_error(self, rank: int, error: dict[str, Any]) -> None:
        folder = self.path / RANK_ERRORS
        folder.mkdir(exist_ok=True)
        atomic_write_text(folder / f"rank-{rank}.json", json.dumps({"rank": rank, **error}) + "\n")

    def first_rank_error(self) -> Optional[dict[str, Any]]:
        """The earliest failure another rank wrote, if any."""
        folder = self.path / RANK_ERRORS
        if not folder.is_dir():
            return None
        found = sorted(folder.glob("rank-*.json"), key=lambda f: f.stat().st_mtime)
        for file in found:
            try:
                return dict(json.loads(file.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                continue
        return None

    # --- append-only records --------------------------------------------------------------------
    def append(self, file_name: str, record: dict[str, Any]) -> None:
        # One write call per line; allow_nan=False makes a non-finite number an error, never bad JSON.
        line = json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n"
        path = self.path / file_name
        size = path.stat().st_size if path.exists() else 0
        try:
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(line)
        except OSError as error:
            with open(path, "r+b") as handle:  # a line cut short by a full disk is taken back
                handle.truncate(size)
            if is_disk_full(error, self.path):
                raise DiskFull(path, f"a {record.get('kind', 'record')} line of step {record.get('step')}") from error
            raise

    def holds_record(self, file_name: str, step: int, kind: Optional[str] = None) -> bool:
        """The records file already holds a line of this step (and of this kind, where given)."""
        path = self.path / file_name
        if not path.exists():
            return False
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if str(step) not in line:
                    continue  # most lines of a long run: not parsed
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # a torn last line of a killed writer
                if isinstance(record, dict) and record.get("step") == step and (kind is None or record.get("kind") == kind):
                    return True
        return False

    def discard_new_run(self) -> None:
        """A new run that could not start (bad input): remove every file it wrote, and the folder
        when that leaves it empty (a folder the user pointed at keeps whatever else it held)."""
        self.stop_heartbeat()
        for name in (RUN_FILE, METRICS_FILE, SAMPLES_FILE, LOG_FILE, RESERVE_FILE, LOCK_FILE):
            (self.path / name).unlink(missing_ok=True)
        for stray in self.path.glob(f".{RUN_FILE}.*.tmp"):
            stray.unlink(missing_ok=True)
        for folder in (self.checkpoints_dir, self.path):
            try:
                folder.rmdir()
            except OSError:
                pass  # not empty, or not there

    def keep_reserve(self) -> None:
        """Hold RESERVE_BYTES of real blocks, given back by `release_reserve` to record a disk-full failure."""
        try:
            with open(self.path / RESERVE_FILE, "wb") as handle:
                handle.write(bytes(RESERVE_BYTES))
                handle.flush()
                os.fsync(handle.fileno())
        except OSError:
            (self.path / RESERVE_FILE).unlink(missing_ok=True)  # no room even for this: the run will say so soon

    def release_reserve(self) -> None:
        (self.path / RESERVE_FILE).unlink(missing_ok=True)
        for stray in self.path.glob(f".{RUN_FILE}.*.tmp"):
            stray.unlink(missing_ok=True)

    def file_size(self, file_name: str) -> int:
        try:
            return (self.path / file_name).stat().st_size
        except FileNotFoundError:
            return 0

    def truncate(self, file_name: str, size: int) -> None:
        """Cut a record file back to a checkpoint's size (resume): later records are replayed."""
        target = self.path / file_name
        if target.exists() and target.stat().st_size > size:
            with open(target, "r+b") as handle:
                handle.truncate(size)

    # --- checkpoints ----------------------------------------------------------------------------
    @property
    def checkpoints_dir(self) -> Path:
        return self.path / CHECKPOINTS

    def clean_partial_checkpoints(self) -> None:
        if self.checkpoints_dir.exists():
            for child in self.checkpoints_dir.iterdir():
                if child.name.startswith(".tmp-"):
                    shutil.rmtree(child, ignore_errors=True)

    def write_checkpoint(self, step: int, payloads: dict[str, Any], info: dict[str, Any], keep_last: int) -> Path:
        self.checkpoints_dir.mkdir(exist_ok=True)
        final = self.checkpoints_dir / f"step-{step}"
        tmp = self.checkpoints_dir / f".tmp-step-{step}-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        try:
            tmp.mkdir()
            for file_name, payload in payloads.items():
                if callable(payload):
                    payload(tmp / file_name)
                else:
                    torch.save(payload, tmp / file_name)
            # Sizes and hashes of what is on disk, read back: the manifest vouches for the bytes a resume reads.
            manifest = {"step": step, **info, "files": checkpoint_files(tmp)}
            atomic_write_text(tmp / CHECKPOINT_MANIFEST, json.dumps(manifest, indent=2) + "\n")
        except BaseException as error:
            full = isinstance(error, Exception) and is_disk_full(error, self.path)  # before the space is given back
            shutil.rmtree(tmp, ignore_errors=True)  # a partial checkpoint never stays behind
            if full:
                raise DiskFull(final, f"checkpoint step {step}") from error
            raise
        replaced = None
        if final.exists():  # a replayed step (resume): set the old one aside until the new one is in place
            replaced = self.checkpoints_dir / f".tmp-replaced-step-{step}-{os.getpid()}"
            os.replace(final, replaced)
        os.replace(tmp, final)
        if replaced is not None:
            shutil.rmtree(replaced, ignore_errors=True)
        # Only now, with the new checkpoint complete, are the oldest pruned (it is the newest kept).
        # Renamed away first: a kill mid-delete leaves a .tmp-* folder (removed at the next start),
        # never a half-deleted step-N that looks like a checkpoint.
        kept = self.list_checkpoints()
        for old_step, old_path in kept[:-keep_last]:
            doomed = self.checkpoints_dir / f".tmp-pruned-{old_path.name}-{os.getpid()}"
            os.replace(old_path, doomed)
            shutil.rmtree(doomed, ignore_errors=True)
        self.sync_checkpoints()
        return final

    def sync_checkpoints(self) -> None:
        """run.json's checkpoint list is what is on disk: every complete step-N folder."""
        self.update(checkpoints=[{"step": s, "path": f"{CHECKPOINTS}/{p.name}"} for s, p in self.list_checkpoints()])

    def list_checkpoints(self) -> list[tuple[int, Path]]:
        """Complete checkpoints, oldest first."""
        if not self.checkpoints_dir.exists():
            return []
        found = []
        for child in self.checkpoints_dir.iterdir():
            if child.name.startswith("step-") and (child / CHECKPOINT_MANIFEST).exists():
                try:
                    found.append((int(child.name[5:]), child))
                except ValueError:
                    continue  # step-N.damaged and the like
        return sorted(found)

    def set_aside_damaged(self, path: Path) -> Path:
        """Rename a damaged checkpoint to step-N.damaged (kept for inspection, never resumed from)."""
        target = path.with_name(path.name + DAMAGED_SUFFIX)
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        os.replace(path, target)
        self.sync_checkpoints()
        return target


class FollowerRunDirectory(RunDirectory):
    """What ranks other than 0 see of the run folder under torchrun: they read it (checkpoints to
    resume from) but never write it; rank 0 alone writes run.json, records and checkpoints."""

    def create(self, *args: Any, **kwargs: Any) -> None:
        pass

    def adopt(self, meta: dict[str, Any]) -> None:
        pass

    def update(self, **fields: Any) -> None:
        pass

    def write_meta(self) -> None:
        pass

    def start_heartbeat(self, watch: Optional[Callable[[], None]] = None) -> None:
        pass

    def append(self, file_name: str, record: dict[str, Any]) -> None:
        pass

    def truncate(self, file_name: str, size: int) -> None:
        pass

    def clean_partial_checkpoints(self) -> None:
        pass

    def keep_reserve(self) -> None:
        pass

    def discard_new_run(self) -> None:
        pass

    def release_reserve(self) -> None:
        pass

    def sync_checkpoints(self) -> None:
        pass

    def write_checkpoint(self, step: int, payloads: dict[str, Any], info: dict[str, Any], keep_last: int) -> Path:
        return self.checkpoints_dir / f"step-{step}"

    def set_aside_damaged(self, path: Path) -> Path:
        return path
