"""Writing a run folder safely: atomic replacement, content hashes of checkpoint files and their
check, telling a full disk from other write errors, and the lock that keeps one trainer per folder."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import socket
import threading
from pathlib import Path
from typing import Any, Optional

from .layout import CHECKPOINT_MANIFEST, LOCK_FILE


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


def pid_alive(pid: int) -> bool:
    """A process with this pid exists on this machine (one of another user's counts)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
