"""A run's life as the `train` command lives it: one trainer per run folder (the lock), new run
or resume, the ranks of a torchrun launch, the stop signals, and every way a run can end, each
with its error kind (one table, ERROR_KINDS) and exit code."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import threading
import sys
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Any, Optional

from ..algorithms import run_description
from ..run.checkpoints import newest_intact_checkpoint
from ..inputs.config import ConfigError, ConfigProblem, RunConfig, config_changes, describe_changes, normalised_config
from ..run.console import Console
from ..inputs.data import DataError
from .distributed import World, close_world, init_world
from ..models.hf import ModelLoadError
from ..inputs.rewards import RewardError, RewardTimeout
from ..run.rundir import FollowerRunDirectory, RunDirectory
from ..run.files import DiskFull, RunFolderBusy, RunLock, is_disk_full, pid_alive
from ..run.layout import LOG_FILE, METRICS_FILE, PRUNE_REQUEST, RANK_ERRORS, SAMPLES_FILE
from ..run.trackers import Trackers
from .step import NumericError
from .trainer import StopNow, Trainer

log = logging.getLogger("bond_trainer")

# How a run ends on each error the trainer knows: run.json's error.type and the exit code (2: bad
# input, said and fixable; 1: the run failed). First match wins (RewardTimeout is a RewardError).
ERROR_KINDS: tuple[tuple[type[BaseException], str, int], ...] = (
    (ConfigError, "config", 2), (ModelLoadError, "config", 2), (DataError, "data", 2),
    (RewardTimeout, "timeout", 1), (RewardError, "reward", 1), (NumericError, "numeric", 1), (DiskFull, "disk_full", 1),
)
KNOWN_ERRORS = tuple(error for error, _, _ in ERROR_KINDS if error not in (ConfigError, ModelLoadError, DataError))


def error_kind(error: BaseException) -> tuple[str, int]:
    """(error.type, exit code) of an error; anything else is internal (exit 1)."""
    return next(((kind, code) for cls, kind, code in ERROR_KINDS if isinstance(error, cls)), ("internal", 1))


def _setup_logging(run_dir: Path) -> logging.Handler:
    handler = logging.FileHandler(run_dir / LOG_FILE, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    return handler


def run_training(cfg: RunConfig, run_path: Path, resume: bool, config_path: Optional[Path],
                 console: Console, sweep: Optional[dict[str, Any]] = None) -> int:
    """The `train` command. Exit code: 0 completed or stopped, 2 bad input, 1 anything else.

    Under torchrun every rank runs this; rank 0 alone writes the run folder and talks to the user.
    `sweep`: the sweep trial this run is a seed of (run.json's `sweep`), when a sweep started it."""
    world = init_world(cfg.train.device, cfg.distributed.timeout_s)
    try:
        if world.is_main:
            return _run_main(cfg, run_path, resume, config_path, console, world, sweep)
        return _run_follower(cfg, run_path, resume, world)
    finally:
        close_world(world)


def _run_main(cfg: RunConfig, run_path: Path, resume: bool, config_path: Optional[Path], console: Console,
              world: World, sweep: Optional[dict[str, Any]]) -> int:
    rd = RunDirectory(run_path)
    # One trainer per run folder: the lock comes before anything is read or written.
    created = not run_path.exists()
    lock = RunLock(run_path)
    problem: Optional[str] = None
    try:
        run_path.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except (RunFolderBusy, OSError) as error:
        problem = str(error) if isinstance(error, RunFolderBusy) else f"--run-dir {run_path}: cannot use it ({error})"
    existing = (run_path / "run.json").exists()
    meta: dict[str, Any] = {}
    if problem:
        pass
    elif resume and not existing:
        problem = f"--resume: {run_path} holds no run (no run.json); start a new run without --resume"
    elif not resume and existing:
        problem = f"--run-dir {run_path} already holds a run; pass --resume to continue it or choose a new folder"
    elif resume:
        meta = rd.read_meta()
        done = int(meta.get("step", 0))
        if meta.get("status") == "completed" and cfg.train.steps <= done:
            problem = (f"{run_path}: the run already completed all {done} steps; to train further, resume with more "
                       f"steps, e.g. --set train.steps={2 * done} (or raise train.steps in its config)")
        elif meta.get("status") == "running" and pid_alive(int(meta.get("pid", 0))) and meta.get("pid") != os.getpid():
            problem = f"{run_path}: the run is still running (pid {meta['pid']}); stop it before resuming"
    # The other ranks wait for this verdict before they touch the folder.
    world.broadcast_object(problem)
    if problem:
        console.error(problem)
        if created and lock.held:  # a folder this refusal made: leave nothing behind
            lock.release()
            shutil.rmtree(run_path, ignore_errors=True)
        return 2
    lock.announce()
    try:
        return _train_main(cfg, rd, resume, meta, config_path, console, world, sweep)
    finally:
        lock.release()


def _record_start(trainer: Trainer, rd: RunDirectory, resume: bool, meta: dict[str, Any],
                  config_path: Optional[Path], sweep: Optional[dict[str, Any]]) -> None:
    """run.json as the run starts: a new one, or the resumed run's with this config (a changed config
    said, and recorded as a segment once the step it resumes from is known)."""
    cfg = trainer.cfg
    if not resume:
        rd.create(cfg.name, cfg.algorithm, cfg.to_json(), str(config_path.resolve()) if config_path else None,
                  cfg.train.steps, {**run_description(trainer.algorithm), **({"sweep": sweep} if sweep else {})})
        return
    extending = meta.get("status") == "completed"
    rd.adopt(meta)
    history = rd.segments()
    changed = config_changes(normalised_config(history[-1]["config"]), cfg.to_json())
    if changed:
        trainer.console.line(f"the config differs from the one this run last trained with: {describe_changes(changed)}; "
                             "run.json records it as a new segment")
    (rd.path / PRUNE_REQUEST).unlink(missing_ok=True)  # a resumed run is no longer pruned
    rd.update(config=cfg.to_json(), total_steps=cfg.train.steps, resume_count=int(meta.get("resume_count", 0)) + 1,
              error=None, summary=None, pruned=None, segments=history, **run_description(trainer.algorithm))
    if extending:
        log.info("extending the completed run from %s to %d steps", meta.get("step"), cfg.train.steps)


def _train_main(cfg: RunConfig, rd: RunDirectory, resume: bool, meta: dict[str, Any], config_path: Optional[Path],
                console: Console, world: World, sweep: Optional[dict[str, Any]]) -> int:
    run_path = rd.path
    handler = _setup_logging(run_path)
    trainer = Trainer(cfg, rd, console, world)
    previous_handlers = _install_stop_handlers(trainer, rd, console, world)
    if sweep:
        _stop_when_orphaned()
    try:
        _record_start(trainer, rd, resume, meta, config_path, sweep)
        log.info("run %s: %s, config %s", run_path.name, "resuming" if resume else "starting", config_path)
        _prepare_folder(rd, world)
        _build(trainer, world)
        # The System charts match what this device reports (GPU memory only on CUDA, utilisation with NVML).
        rd.update(metric_groups=[g.to_json() for g in [*trainer.algorithm.metric_groups(), *trainer.system.metric_groups()]])
        rd.clean_partial_checkpoints()
        rd.sync_checkpoints()  # whatever an interrupted run left listed, the list is what is on disk
        world.barrier()  # partial checkpoints are gone before any rank lists them
        if resume:
            _resume(trainer, rd, console)
            rd.update(segments=resumed_segments(rd.segments(), cfg.to_json(), trainer.step))
        trainer.trackers = open_trackers(cfg, run_path, trainer.step if resume else None)
        trainer.run()
        return 0
    except StopNow:
        return _stopped_while_loading(trainer, rd, console)
    except (ConfigError, DataError, ModelLoadError) as error:
        if not resume and trainer.step == 0:
            # Bad input found while starting a new run: said, and nothing of the run is left behind.
            console.error(str(error))
            rd.discard_new_run()
            return 2
        kind, code = error_kind(error)
        _fail(rd, trainer, console, kind, str(error))
        return code
    except KNOWN_ERRORS as error:
        kind, code = error_kind(error)
        if isinstance(error, DiskFull):
            rd.release_reserve()  # room to record it
        _fail(rd, trainer, console, kind, str(error))
        return code
    except Exception as error:  # noqa: BLE001 - the run must end as failed with the reason
        if is_disk_full(error, run_path):  # a write we do not wrap (a tracker, a library)
            rd.release_reserve()
            _fail(rd, trainer, console, "disk_full", f"no space left on device while writing to {run_path} "
                  f"({type(error).__name__}: {error}); free space, then resume")
            return 1
        _fail(rd, trainer, console, "internal", f"{type(error).__name__}: {error}")
        return 1
    except BaseException as error:  # an exit or interrupt that reached here: never leave the run "running"
        _fail(rd, trainer, console, "internal", f"the trainer was ended by {type(error).__name__} ({error!r}) at step {trainer.step}")
        return 1
    finally:
        rd.stop_heartbeat()
        trainer.trackers.close()
        for sig, previous in previous_handlers.items():
            signal.signal(sig, previous)
        log.removeHandler(handler)
        handler.close()


def _prepare_folder(rd: RunDirectory, world: World) -> None:
    """The reserve that lets a full disk's failure be recorded; no rank errors of an earlier process."""
    if world.active:
        shutil.rmtree(rd.path / RANK_ERRORS, ignore_errors=True)
    rd.keep_reserve()


def _build(trainer: Trainer, world: World) -> None:
    """The models, the reward and the data; a stop request meanwhile ends the run at once (StopNow)."""
    trainer.loading = True
    try:
        trainer.build()
    finally:
        trainer.loading = False
    if trainer.stop_requested and not world.active:  # asked just as loading ended (ranks decide together in run())
        raise StopNow()


def _stopped_while_loading(trainer: Trainer, rd: RunDirectory, console: Console) -> int:
    """Nothing was trained in this process; every earlier checkpoint is intact."""
    rd.stop_heartbeat()
    rd.update(status="stopped", ended_at=time.time())
    console.line(f"stopped while loading (models, reward, data), at step {trainer.step}; nothing was trained in "
                 "this run's process. Resume with --resume.")
    return 0


def resumed_segments(history: list[dict[str, Any]], config: dict[str, Any], step: int) -> list[dict[str, Any]]:
    """The config history after a resume from `step`: segments that began after it describe steps
    that are replayed now, so they go; a config that differs from the one in force gets a segment."""
    kept = [segment for segment in history if segment["start_step"] < step] or history[:1]
    if step == 0:  # nothing trained before remains: the run starts over with this config
        return [{"start_step": 0, "started_at": time.time(), "config": config, "changes": []}]
    changes = config_changes(normalised_config(kept[-1]["config"]), config)
    if not changes:
        return kept
    return [*kept, {"start_step": step, "started_at": time.time(), "config": config, "changes": changes}]


def open_trackers(cfg: RunConfig, run_path: Path, resume_step: Optional[int]) -> Trackers:
    """TensorBoard and W&B as the config asks; a package that cannot be imported is a config problem."""
    try:
        return Trackers.open(cfg, run_path, resume_step)
    except ImportError as error:
        field_name = "logging.wandb" if "wandb" in str(error) else "logging.tensorboard"
        raise ConfigError(cfg.source, [ConfigProblem(field_name, f"its package cannot be imported ({error}); "
                                                     "install it in the trainer's Python", "semantic")]) from None


def _resume(trainer: Trainer, rd: RunDirectory, console: Console) -> None:
    # Rank 0 checks the hashes and picks; every other rank loads what it picked.
    chosen = newest_intact_checkpoint(rd, console) if trainer.world.is_main else None
    chosen = trainer.world.broadcast_object(chosen)
    if chosen is not None:
        trainer.load_checkpoint(chosen)
        log.info("resumed from %s at step %d", chosen.name, trainer.step)
        console.line(f"resuming from step {trainer.step}")
    else:
        rd.truncate(METRICS_FILE, 0)
        rd.truncate(SAMPLES_FILE, 0)
        console.line("no checkpoint yet: starting from step 0")


def _run_follower(cfg: RunConfig, run_path: Path, resume: bool, world: World) -> int:
    """Ranks other than 0: train in step with rank 0, write nothing but their own failure."""
    if world.broadcast_object(None):
        return 2  # rank 0 refused the run and said why
    with open(os.devnull, "w", encoding="utf-8") as devnull:
        return _train_follower(cfg, run_path, resume, world, Console(devnull, sys.stderr))


def _train_follower(cfg: RunConfig, run_path: Path, resume: bool, world: World, quiet: Console) -> int:
    rd = FollowerRunDirectory(run_path)
    trainer = Trainer(cfg, rd, quiet, world)
    previous_handlers = _install_stop_handlers(trainer, rd, quiet, world)
    try:
        trainer.build()
        world.barrier()
        if resume:
            _resume(trainer, rd, quiet)
        trainer.run()
        return 0
    except BaseException as error:  # noqa: BLE001 - rank 0 reports it in run.json
        kind, code = error_kind(error)
        message = str(error) if kind != "internal" else f"{type(error).__name__}: {error}"
        print(f"error: rank {world.rank}: {message}", file=sys.stderr, flush=True)
        if isinstance(error, Exception):
            (run_path / RANK_ERRORS).mkdir(parents=True, exist_ok=True)
            RunDirectory(run_path).write_rank_error(world.rank, {"message": f"rank {world.rank}: {message}", "type": kind,
                                                                "traceback": traceback.format_exc()})
        return code
    finally:
        for sig, previous in previous_handlers.items():
            signal.signal(sig, previous)


def _fail(rd: RunDirectory, trainer: Trainer, console: Console, kind: str, message: str) -> None:
    tb = traceback.format_exc()
    log.error("run failed (%s): %s\n%s", kind, message, tb)
    rd.stop_heartbeat()
    error: dict[str, Any] = {"message": message, "type": kind, "step": trainer.step, "traceback": tb}
    if trainer.world.active:
        # A collective that broke because another rank died: that rank's error is the real one.
        deadline = time.time() + 3.0
        other = rd.first_rank_error()
        while other is None and time.time() < deadline:
            time.sleep(0.2)
            other = rd.first_rank_error()
        if other is not None:
            error = {**other, "step": trainer.step}
            message = str(other.get("message"))
        else:
            error["rank"] = trainer.world.rank
    console.error(message)
    if rd.meta:
        try:
            rd.update(status="failed", ended_at=time.time(), error=error)
        except Exception as write_error:  # noqa: BLE001 - said above; the run folder may be beyond writing
            log.error("could not record the failure in run.json: %s", write_error)
            console.error(f"could not record the failure in {rd.path / 'run.json'}: {write_error}")


def _stop_when_orphaned() -> None:
    """A sweep's trial: when the sweep process that started it is gone (killed, SIGKILL included),
    stop as on a signal — a checkpoint, status stopped — so that no trial trains on unwatched and
    the sweep's --resume continues it."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        log.info("the sweep process %d is gone: stopping", parent)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="bond-orphan-watch", daemon=True).start()




def _install_stop_handlers(trainer: Trainer, rd: RunDirectory, console: Console, world: World = World()) -> dict[int, Any]:
    def handle(signum: int, _frame: Optional[FrameType]) -> None:
        if not trainer.stop_requested:
            trainer.stop_requested = True
            if trainer.interruptible and not world.active:
                # In a reward or an evaluation, which may never return: interrupt it here.
                log.info("signal %d while loading, or inside a reward or evaluation: stopping now", signum)
                console.line(f"stop requested (signal {signum}): " + ("interrupting the loading" if trainer.loading
                             else "interrupting the reward, then checkpointing"))
                raise StopNow()
            log.info("signal %d: stopping after the current step", signum)
            console.line(f"stop requested (signal {signum}): finishing the current step, then checkpointing")
            return
        if world.active:
            # torchrun relays the group's SIGINT, so every rank sees it twice: the stop is already under
            # way, and leaving now would strand the other ranks in a collective.
            log.info("signal %d again: the stop is under way", signum)
            return
        # Second signal: leave now. Everything on disk is complete: checkpoints are renamed into place
        # only when whole, and record lines are written in one call.
        log.info("second signal %d: exiting without a new checkpoint", signum)
        rd.stop_heartbeat()
        if rd.meta:
            rd.update(status="stopped", ended_at=time.time())
        sys.stdout.flush()
        os._exit(0)

    previous: dict[int, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handle)
    return previous
