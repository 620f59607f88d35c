"""The run queue: configs waiting to train, k at a time, in the order the editor keeps.

Two files in the queue folder, each with one writer, so the editor and this process never write the
same file: `queue.json` (the editor's: the entries in order, workers, devices, paused) and
`queue-state.json` (this process's: what became of each entry — running, completed, failed,
stopped — with its run folder). `python -m bond_trainer queue --queue-dir DIR` reads queue.json
again before every start, so a reorder, a removal or a pause takes effect at the next free slot;
it exits when nothing is left to start (or the queue is paused) and nothing runs. A stop (SIGINT or
SIGTERM) stops the running entries with a checkpoint; the next runner continues them (--resume).
Schemas: contracts/schemas/queue.schema.json and queue-state.schema.json."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..run.console import Console
from ..run.files import pid_alive

QUEUE_FILE = "queue.json"
STATE_FILE = "queue-state.json"
LOGS_FOLDER = "logs"
FORMAT_VERSION = 1
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class QueueEntry:
    id: str
    config: Path
    name: str
    overrides: tuple[str, ...] = ()


@dataclass
class QueueFile:
    """queue.json as the editor wrote it (read leniently: a broken file is said and read again later)."""
    entries: list[QueueEntry]
    workers: int
    devices: list[str]
    paused: bool
    runs_dir: Path


def read_queue(folder: Path) -> QueueFile:
    raw = json.loads((folder / QUEUE_FILE).read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise ValueError(f"{folder / QUEUE_FILE}: expected an object")
    entries = []
    for index, item in enumerate(raw.get("entries") or []):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not isinstance(item.get("config"), str):
            raise ValueError(f"{folder / QUEUE_FILE}: entries[{index}] needs an id and a config (strings)")
        overrides = item.get("overrides") or []
        if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
            raise ValueError(f"{folder / QUEUE_FILE}: entries[{index}].overrides must be a list of KEY=VALUE strings")
        entries.append(QueueEntry(item["id"], Path(item["config"]), str(item.get("name") or Path(item["config"]).stem), tuple(overrides)))
    workers = raw.get("workers", 1)
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"{folder / QUEUE_FILE}: workers must be a whole number ≥ 1 (got {workers!r})")
    devices = [str(d) for d in raw.get("devices") or []]
    runs_dir = raw.get("runs_dir")
    if not isinstance(runs_dir, str) or not runs_dir:
        raise ValueError(f"{folder / QUEUE_FILE}: runs_dir must name the folder the runs go to")
    return QueueFile(entries, workers, devices, bool(raw.get("paused", False)), Path(runs_dir))


@dataclass
class Running:
    """An entry training: started by this runner (process), or left training by a runner that died (adopted: followed by its run.json)."""
    entry_id: str
    name: str
    process: Optional[subprocess.Popen[bytes]]
    run_dir: Path
    slot: int

    def finished(self) -> Optional[int]:
        """The exit code once it has ended (an adopted run: 0 once its run.json no longer says running)."""
        if self.process is not None:
            return self.process.poll()
        meta = _run_meta(self.run_dir)
        alive = meta.get("status") == "running" and isinstance(meta.get("pid"), int) and pid_alive(meta["pid"])
        return None if alive else 0

    stop_sent: bool = False

    def stop(self) -> None:
        """A stop, once: the trainer checkpoints and ends (a second signal would not be a request any more)."""
        if self.stop_sent:
            return
        self.stop_sent = True
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        elif self.process is None and isinstance(pid := _run_meta(self.run_dir).get("pid"), int) and pid_alive(pid):
            os.kill(pid, signal.SIGTERM)


@dataclass
class QueueRunner:
    folder: Path
    console: Console
    state: dict[str, dict[str, Any]] = field(default_factory=dict)
    running: dict[str, Running] = field(default_factory=dict)
    stopping: bool = False
    status: str = "running"

    def write_state(self) -> None:
        record = {"format_version": FORMAT_VERSION, "pid": os.getpid(), "host": socket.gethostname(), "status": self.status,
                  "updated_at": time.time(), "entries": self.state}
        temp = self.folder / f".{STATE_FILE}.{os.getpid()}.tmp"
        temp.write_text(json.dumps(record, indent=1), encoding="utf-8")
        os.replace(temp, self.folder / STATE_FILE)


def _load_state(folder: Path) -> dict[str, dict[str, Any]]:
    try:
        entries = json.loads((folder / STATE_FILE).read_text(encoding="utf-8")).get("entries")
    except (OSError, ValueError, AttributeError):
        return {}
    return {k: dict(v) for k, v in entries.items() if isinstance(v, dict)} if isinstance(entries, dict) else {}


def _other_runner(folder: Path) -> Optional[int]:
    """The pid of another live runner of this queue on this machine, if any (one runner per queue)."""
    try:
        record = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    pid = record.get("pid") if isinstance(record, dict) else None
    if (isinstance(pid, int) and pid != os.getpid() and record.get("host") == socket.gethostname()
            and record.get("status") in ("running", "stopping") and pid_alive(pid)):
        return pid
    return None


def _new_run_dir(runs_dir: Path, name: str) -> Path:
    """`<name>-<YYYYmmdd-HHMMSS>` as the editor names runs, made now (mkdir is atomic)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "bond-run"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    runs_dir.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        candidate = runs_dir / (f"{safe}-{stamp}" if n == 1 else f"{safe}-{stamp}-{n}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise RuntimeError(f"no free run folder name for {safe} in {runs_dir}")


def _start(runner: QueueRunner, entry: QueueEntry, queue: QueueFile, slot: int) -> None:
    previous = runner.state.get(entry.id, {})
    resume = previous.get("status") == "stopped" and previous.get("run_dir")
    run_dir = Path(previous["run_dir"]) if resume else _new_run_dir(queue.runs_dir, entry.name)
    command = [sys.executable, "-m", "bond_trainer", "train", "--config", str(entry.config), "--run-dir", str(run_dir)]
    for override in entry.overrides:
        command += ["--set", override]
    if resume:
        command.append("--resume")
    env = dict(os.environ)
    if queue.devices:
        env["CUDA_VISIBLE_DEVICES"] = queue.devices[slot % len(queue.devices)]
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // queue.workers)))
    (runner.folder / LOGS_FOLDER).mkdir(exist_ok=True)
    with open(runner.folder / LOGS_FOLDER / f"{entry.id}.out", "ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                   cwd=str(entry.config.parent))
    runner.running[entry.id] = Running(entry.id, entry.name, process, run_dir, slot)
    runner.state[entry.id] = {"status": "running", "run_dir": str(run_dir), "started_at": previous.get("started_at", time.time()),
                              "ended_at": None, "exit_code": None, "pid": process.pid, "resumed": bool(resume)}
    runner.console.line(f"queue: {'resumed' if resume else 'started'} {entry.name} ({entry.id}) in {run_dir}")


def _run_meta(run_dir: Path) -> dict[str, Any]:
    try:
        meta = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _run_status(run_dir: Path) -> Optional[str]:
    status = _run_meta(run_dir).get("status")
    return str(status) if status is not None else None


def _reap(runner: QueueRunner) -> None:
    for entry_id, running in list(runner.running.items()):
        code = running.finished()
        if code is None:
            continue
        del runner.running[entry_id]
        status = _run_status(running.run_dir)
        ended = status if status in ("completed", "stopped", "failed") else ("completed" if code == 0 else "failed")
        runner.state[entry_id].update({"status": ended, "ended_at": time.time(), "exit_code": code, "pid": None})
        runner.console.line(f"queue: {running.name} ({entry_id}) {ended}")


def _adopt_or_settle(runner: QueueRunner) -> None:
    """Entries a dead runner left running: a run still training (its trainer outlives the runner) is
    followed to its end; one that stopped with it is continued like a stopped entry."""
    slot = 0
    for entry_id, record in runner.state.items():
        if record.get("status") != "running":
            continue
        run_dir = Path(str(record.get("run_dir")))
        meta = _run_meta(run_dir)
        if meta.get("status") == "running" and isinstance(meta.get("pid"), int) and pid_alive(meta["pid"]):
            runner.running[entry_id] = Running(entry_id, run_dir.name, None, run_dir, slot)
            slot += 1
            runner.console.line(f"queue: {run_dir.name} ({entry_id}) still trains from an earlier runner: followed to its end")
        else:
            record["status"] = "failed" if meta.get("status") == "failed" else "stopped"


def _hold_lock(folder: Path) -> Optional[Any]:
    """DIR/.runner.lock, held (flock) for as long as this runner lives: of two runners started at once,
    one gets it. None when another holds it. Where flock does not exist, the state file's pid decides."""
    try:
        import fcntl
    except ImportError:
        return open(os.devnull, "w")
    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / ".runner.lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def run_queue(folder: Path, console: Console) -> int:
    """The `queue` command: 0 when it ran out of work (or was paused or stopped), 2 when another runner has the queue."""
    lock = _hold_lock(folder)
    other = _other_runner(folder)
    if lock is None or other is not None:
        console.error(f"queue {folder}: runner {other or 'another process'} is already running it")
        if lock is not None:
            lock.close()
        return 2
    try:
        return _run(folder, console)
    finally:
        lock.close()


def _run(folder: Path, console: Console) -> int:
    runner = QueueRunner(folder, console, _load_state(folder))
    _adopt_or_settle(runner)
    previous = {sig: signal.signal(sig, lambda signum, _frame: _stop(runner)) for sig in (signal.SIGINT, signal.SIGTERM)}
    problem_said = ""
    try:
        while True:
            _reap(runner)
            try:
                queue = read_queue(folder)
                problem_said = ""
            except (OSError, ValueError) as error:
                if str(error) != problem_said:
                    console.error(f"queue: {error} (read again in a moment)")
                    problem_said = str(error)
                queue = None
            if queue is not None and not runner.stopping and not queue.paused:
                listed = {entry.id for entry in queue.entries}
                free = [slot for slot in range(queue.workers) if slot not in {r.slot for r in runner.running.values()}]
                for entry in queue.entries:
                    if not free:
                        break
                    if entry.id in runner.running or runner.state.get(entry.id, {}).get("status") not in (None, "stopped"):
                        continue
                    _start(runner, entry, queue, free.pop(0))
                # an entry the editor removed while it trained is stopped (the editor asks for that by removing it)
                for entry_id, running in list(runner.running.items()):
                    if entry_id not in listed:
                        running.stop()
            waiting = queue is not None and not queue.paused and not runner.stopping and any(
                runner.state.get(e.id, {}).get("status") in (None, "stopped") and e.id not in runner.running for e in queue.entries)
            runner.status = "stopping" if runner.stopping else ("paused" if queue is not None and queue.paused else "running")
            if not runner.running and not waiting:
                runner.status = "stopped" if runner.stopping else ("paused" if queue is not None and queue.paused else "idle")
                runner.write_state()
                return 0
            runner.write_state()
            time.sleep(POLL_SECONDS)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop(runner: QueueRunner) -> None:
    if runner.stopping:
        return
    runner.stopping = True
    runner.console.line("queue: stop requested: the running entries checkpoint and stop; the next runner continues them")
    for running in runner.running.values():
        running.stop()
