"""The run directory: the one seam between trainer and UI (contracts/schemas/*.schema.json).

run.json is replaced atomically (temp file, fsync, rename). metrics.jsonl and samples.jsonl are
append-only, one complete line per write. Checkpoints are written into a temporary folder and
renamed into place, so a folder named step-N is always complete; its checkpoint.json lists every
file with its size and sha256, read back from disk, so that a resume can tell a damaged one.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from . import __version__
from .schema import load_schema

FORMAT_VERSION = 1
# The names of a run's files and folders, from contracts/schemas/run-folder.schema.json (the editor
# reads the same document).
LAYOUT: dict[str, dict[str, Any]] = load_schema("run-folder")["x-layout"]
RUN_FILE = LAYOUT["run"]["path"]
LOCK_FILE = LAYOUT["lock"]["path"]
RESERVE_FILE = LAYOUT["reserve"]["path"]
RESERVE_BYTES = 256 * 1024  # several run.json rewrites' worth, to record a disk-full failure
METRICS_FILE = LAYOUT["metrics"]["path"]
SAMPLES_FILE = LAYOUT["samples"]["path"]
LOG_FILE = LAYOUT["log"]["path"]
CHECKPOINTS = LAYOUT["checkpoints"]["path"]
CHECKPOINT_MANIFEST = LAYOUT["checkpoint_manifest"]["path"]
RANK_ERRORS = LAYOUT["rank_errors"]["path"]  # under torchrun: a failing rank's error, for rank 0 to report
EXPORTS = LAYOUT["exports"]["path"]
EXPORT_ERRORS = LAYOUT["export_errors"]["path"]
HEARTBEAT_SECONDS = 5.0
DAMAGED_SUFFIX = ".damaged"  # step-N.damaged: set aside at resume, never listed again


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checkpoint_files(folder: Path) -> dict[str, dict[str, Any]]:
    """Every file under a checkpoint folder but its manifest: relative path → size and sha256."""
    files: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != CHECKPOINT_MANIFEST:
            files[path.relative_to(folder).as_posix()] = {"size": path.stat().st_size, "sha256": file_sha256(path)}
    return files


def checkpoint_damage(folder: Path) -> Optional[str]:
    """Why a checkpoint cannot be trusted (a missing, truncated or altered file; an unreadable
    manifest), or None when every file matches its manifest. A manifest without a file list (written
    before checkpoints were hashed) is taken as it is."""
    try:
        manifest = json.loads((folder / CHECKPOINT_MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return f"{CHECKPOINT_MANIFEST} cannot be read ({error})"
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if files is None:
        return None
    if not isinstance(files, dict):
        return f"{CHECKPOINT_MANIFEST}: 'files' is not an object"
    for name, expected in files.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        size = path.stat().st_size
        if size != expected.get("size"):
            return f"{name} has {size} bytes, the manifest says {expected.get('size')} (truncated or overwritten)"
        if file_sha256(path) != expected.get("sha256"):
            return f"{name} does not match its sha256 (the file was altered or damaged)"
    return None


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # no stray temporary file after any failure
        raise


class DiskFull(OSError):
    """No space left while writing the run folder. Fails the run (error type disk_full) with the
    path and what was being written; a resume after freeing space continues from the last checkpoint."""

    def __init__(self, path: Path, what: str):
        self.message = f"no space left on device while writing {path} ({what}); free space, then resume"
        super().__init__(errno.ENOSPC, self.message)
        self.path = path

    def __str__(self) -> str:
        return self.message


NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def is_disk_full(error: BaseException, where: Path) -> bool:
    """ENOSPC anywhere in the exception chain (torch.save reports it as a RuntimeError whose cause,
    or only whose context, is the OSError), or a write error on a file system with nothing free."""
    seen: set[int] = set()
    current: Optional[BaseException] = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in NO_SPACE:
            return True
        current = current.__cause__ or current.__context__
    if isinstance(error, (OSError, RuntimeError)):
        try:  # torch's stream writer says only "unexpected pos": a short write, on a disk with ~nothing left
            return shutil.disk_usage(where).free < 1024 * 1024
        except OSError:
            return False
    return False


class RunFolderBusy(Exception):
    """Another trainer holds the run folder's lock (exit 2, naming it)."""


class RunLock:
    """One writer per run folder: an exclusive flock on its .lock file, taken before anything else is
    written and held until the process ends. The kernel drops it when the holder dies (even by
    SIGKILL), so a lock no process holds is simply free: no stale-lock guessing."""

    def __init__(self, run_path: Path):
        self.path = run_path / LOCK_FILE
        self._fd: Optional[int] = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _lock_exclusively(fd)
        except OSError:
            holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "a trainer that is still starting"
            os.close(fd)
            raise RunFolderBusy(f"{self.path.parent}: another trainer is writing this run folder ({holder}); "
                                "wait for it to finish or stop it, then try again") from None
        self._fd = fd

    def announce(self) -> None:
        """Write who holds it (once the run goes ahead: a refused trainer changes nothing)."""
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.lseek(self._fd, 0, os.SEEK_SET)
            os.write(self._fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
            os.fsync(self._fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None


def _lock_exclusively(fd: int) -> None:
    """Raise OSError at once when another process holds the lock."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        return
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


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
