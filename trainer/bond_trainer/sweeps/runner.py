"""Running a sweep: workers ask Optuna for trials and train each trial's seeds as ordinary trainer
processes (`train --run-dir DIR/runs/…`), report its evaluations to the pruner, stop a pruned one
with a checkpoint (status pruned), and tell Optuna the mean over the seeds of the objectives."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..run.console import Console
from ..run.files import pid_alive
from ..run.layout import METRICS_FILE, PRUNE_REQUEST, RUN_FILE
from .analysis import ANALYSIS_FILE, latest_trials, write_analysis
from .spec import SweepSpec
from .study import (ATTR_CONSTRAINT, ATTR_CONTINUES, ATTR_ERROR, ATTR_HEARTBEAT, ATTR_RUNS, ATTR_SEEDS, ATTR_STOPPED, ATTR_SURPLUS,
                    ATTR_WORKER, HEARTBEAT_GRACE_SECONDS, HEARTBEAT_SECONDS, LOGS_FOLDER, RUNS_FOLDER, open_study, suggest, write_sweep_record, _optuna)

log = logging.getLogger("bond_trainer.sweep")
POLL_SECONDS = 0.5


@dataclass
class SeedOutcome:
    """How one seed's run ended: its status and its last evaluation (None when it has none)."""
    status: str
    evaluation: Optional[dict[str, Any]]
    error: Optional[str] = None


@dataclass
class SweepRun:
    spec: SweepSpec
    folder: Path
    console: Console
    workers: int
    stop: threading.Event = field(default_factory=threading.Event)
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def runs(self) -> Path:
        return self.folder / RUNS_FOLDER

    def run_dir(self, trial_number: int, seed: int) -> Path:
        return self.runs / f"{self.spec.name}-t{trial_number:04d}-s{seed}"


def run_sweep(spec: SweepSpec, folder: Path, workers: Optional[int], resume: bool, console: Console) -> int:
    """The `sweep` command: 0 when every trial is done (or the sweep was stopped), 1 when trials failed."""
    _optuna()  # a missing package is said before anything is written
    folder.mkdir(parents=True, exist_ok=True)
    sweep = SweepRun(spec, folder, console, workers or spec.workers)
    sweep.runs.mkdir(exist_ok=True)
    (folder / LOGS_FOLDER).mkdir(exist_ok=True)
    study = open_study(spec, folder)
    _requeue_lost(study, console)
    if resume:
        _requeue_stopped(study, console)
    write_sweep_record(spec, folder, "running")
    _write_analysis(sweep, study)
    console.line(f"sweep {spec.name}: {spec.method}, {spec.max_trials} configurations × {len(spec.seeds)} seed(s), "
                 f"{sweep.workers} worker(s); folder {folder}")
    previous = {sig: signal.signal(sig, lambda signum, _frame: _request_stop(sweep, signum)) for sig in (signal.SIGINT, signal.SIGTERM)}
    threads = [threading.Thread(target=_work, args=(sweep, study, index), name=f"sweep-worker-{index}", daemon=True)
               for index in range(sweep.workers)]
    try:
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            for thread in threads:
                thread.join(timeout=0.2)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    status = "stopped" if sweep.stop.is_set() else "completed"
    write_sweep_record(spec, folder, status)
    _write_analysis(sweep, study)
    return _summarise(study, spec, console, status)


def _summarise(study: Any, spec: SweepSpec, console: Console, status: str) -> int:
    """A line per trial, the best ones, and the exit code: 1 when a trial failed."""
    optuna = _optuna()
    states = optuna.trial.TrialState
    trials = [t for t in study.get_trials(deepcopy=False) if not t.user_attrs.get(ATTR_SURPLUS)]
    # a trial that a later one continues (stopped, or lost with its sweep process) is not a failure
    failed = [t for t in latest_trials(trials) if t.state == states.FAIL and not t.user_attrs.get(ATTR_STOPPED)]
    for t in trials:
        values = ", ".join(f"{v:.4g}" for v in (t.values or []))
        console.line(f"  trial {t.number:>3}  {t.state.name.lower():<8} {json.dumps(t.params)}  {values}")
    done = [t for t in trials if t.state == states.COMPLETE]
    if done:
        for best in study.best_trials[:3]:
            console.line(f"best: trial {best.number} {json.dumps(best.params)} → "
                         + ", ".join(f"{o.metric} {v:.4g}" for o, v in zip(spec.objectives, best.values)))
    console.line(f"sweep {spec.name} {status}: {len(done)} completed, "
                 f"{sum(t.state == states.PRUNED for t in trials)} pruned, {len(failed)} failed")
    return 1 if failed else 0


def _request_stop(sweep: SweepRun, signum: int) -> None:
    if sweep.stop.is_set():
        return
    sweep.stop.set()
    sweep.console.line(f"stop requested (signal {signum}): the running trials checkpoint and stop; --resume continues them")
    with sweep.lock:
        for process in sweep.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)


def _requeue_stopped(study: Any, console: Console) -> None:
    """--resume: trials a stop ended are queued again with their parameters, to continue their run folders."""
    optuna = _optuna()
    trials = study.get_trials(deepcopy=False)
    continued = {t.user_attrs.get(ATTR_CONTINUES) for t in trials}
    for trial in trials:
        if trial.state == optuna.trial.TrialState.FAIL and trial.user_attrs.get(ATTR_STOPPED):
            origin = trial.user_attrs.get(ATTR_CONTINUES, trial.number)
            if trial.number in continued:
                continue
            study.enqueue_trial(trial.params, user_attrs={ATTR_CONTINUES: origin})
            console.line(f"trial {trial.number} was stopped: queued again, to continue its runs")


def _requeue_lost(study: Any, console: Console, now: Optional[float] = None) -> None:
    """Trials still running in the study whose sweep process is gone are failed and queued again, to
    continue their run folders: on this machine, when the recorded pid is dead; on another (a shared
    database), when its heartbeat is older than HEARTBEAT_GRACE_SECONDS (that machine died or lost
    the database). Run at the start of every sweep and whenever a worker looks for its next trial."""
    optuna = _optuna()
    host = socket.gethostname()
    now = time.time() if now is None else now
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        worker = trial.user_attrs.get(ATTR_WORKER) or {}
        if worker.get("host") == host:
            if pid_alive(int(worker.get("pid", 0))):
                continue
            why = f"was left running by sweep process {worker.get('pid')}, which is gone"
        else:
            beat = trial.user_attrs.get(ATTR_HEARTBEAT)
            if not isinstance(beat, (int, float)) or now - beat <= HEARTBEAT_GRACE_SECONDS:
                continue
            why = f"of {worker.get('host')} has sent no heartbeat for {now - beat:.0f} s"
        try:
            study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
        except (RuntimeError, ValueError):
            continue  # another sweep process took it in the same moment
        study.enqueue_trial(trial.params, user_attrs={ATTR_CONTINUES: trial.user_attrs.get(ATTR_CONTINUES, trial.number)})
        console.line(f"trial {trial.number} {why}: queued again")


def _elsewhere_running(study: Any) -> bool:
    """Trials another sweep process (another machine's, with a heartbeat) is training now."""
    optuna = _optuna()
    me = {"host": socket.gethostname(), "pid": os.getpid()}
    return any((t.user_attrs.get(ATTR_WORKER) or {}) != me and isinstance(t.user_attrs.get(ATTR_HEARTBEAT), (int, float))
               for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)))


def _finished_or_under_way(study: Any) -> int:
    optuna = _optuna()
    states = optuna.trial.TrialState
    # one count per configuration: a lost trial and the one queued to continue it are one
    return sum(1 for t in latest_trials(study.get_trials(deepcopy=False))
               if t.state in (states.COMPLETE, states.PRUNED, states.RUNNING)
               or (t.state == states.FAIL and not t.user_attrs.get(ATTR_STOPPED)))


def _queued_params(study: Any, trial: Any) -> Optional[dict[str, Any]]:
    """The parameters the trial was queued with (a grid point or a re-queued trial); None when the sampler picks them."""
    frozen = next((t for t in study.get_trials(deepcopy=False) if t.number == trial.number), None)
    fixed = frozen.system_attrs.get("fixed_params") if frozen is not None else None
    return dict(fixed) if isinstance(fixed, dict) else None


def _work(sweep: SweepRun, study: Any, index: int) -> None:
    try:
        _work_on(sweep, study, index)
    except Exception as error:  # noqa: BLE001 - a worker that breaks says so and stops the sweep
        log.exception("worker %d", index)
        sweep.console.error(f"sweep worker {index} stopped: {type(error).__name__}: {error}")
        _request_stop(sweep, signal.SIGTERM)


def _work_on(sweep: SweepRun, study: Any, index: int) -> None:
    optuna = _optuna()
    states = optuna.trial.TrialState
    while not sweep.stop.is_set():
        with sweep.lock:
            _requeue_lost(study, sweep.console)
        waiting = study.get_trials(deepcopy=False, states=(states.WAITING,))
        if not waiting and (sweep.spec.method == "grid" or _finished_or_under_way(study) >= sweep.spec.max_trials):
            if not _elsewhere_running(study):
                return
            # another machine trains the last trials: wait, to take them over should it die
            sweep.stop.wait(HEARTBEAT_SECONDS / 2)
            continue
        trial = study.ask()
        # first of all: a sweep that dies from here on leaves a trial the next one can tell is orphaned
        trial.set_user_attr(ATTR_WORKER, {"host": socket.gethostname(), "pid": os.getpid()})
        trial.set_user_attr(ATTR_HEARTBEAT, time.time())
        queued = _queued_params(study, trial)
        if sweep.spec.method == "grid" and queued is None:
            # another worker took the last grid point between the look and the ask
            trial.set_user_attr(ATTR_SURPLUS, True)
            study.tell(trial, state=states.FAIL)
            return
        try:
            _run_trial(sweep, study, trial, index, queued)
        except Exception as error:  # noqa: BLE001 - one trial's failure is recorded; the sweep goes on
            log.exception("trial %d", trial.number)
            trial.set_user_attr(ATTR_ERROR, f"{type(error).__name__}: {error}")
            study.tell(trial, state=states.FAIL)
            sweep.console.error(f"trial {trial.number} failed: {error}")
        _write_analysis(sweep, study)


def _write_analysis(sweep: SweepRun, study: Any) -> None:
    """DIR/analysis.json again: a failure to write it is said, and the sweep goes on."""
    try:
        write_analysis(study, sweep.spec, sweep.folder)
    except Exception as error:  # noqa: BLE001 - the Sweep view's file must never stop the trials
        log.exception("analysis")
        sweep.console.error(f"sweep {sweep.spec.name}: could not write {ANALYSIS_FILE}: {type(error).__name__}: {error}")


def _run_trial(sweep: SweepRun, study: Any, trial: Any, worker: int, queued: Optional[dict[str, Any]]) -> None:
    optuna = _optuna()
    states = optuna.trial.TrialState
    spec = sweep.spec
    params = suggest(trial, spec, queued)
    origin = int(trial.user_attrs.get(ATTR_CONTINUES, trial.number))
    dirs = [sweep.run_dir(origin, seed) for seed in spec.seeds]
    trial.set_user_attr(ATTR_RUNS, [str(d.relative_to(sweep.folder)) for d in dirs])
    sweep.console.line(f"trial {trial.number}: {json.dumps(params)}" + (f" (continues trial {origin})" if origin != trial.number else ""))
    results: dict[str, dict[str, Any]] = {}
    for position, (seed, run_dir) in enumerate(zip(spec.seeds, dirs)):
        outcome = _run_seed(sweep, trial, params, origin, seed, run_dir, worker, report=position == 0)
        if outcome.status == "pruned":
            study.tell(trial, state=states.PRUNED)
            sweep.console.line(f"trial {trial.number} pruned (seed {seed})")
            return
        if outcome.status == "stopped":
            trial.set_user_attr(ATTR_STOPPED, True)
            study.tell(trial, state=states.FAIL)
            return
        if outcome.status != "completed" or outcome.evaluation is None:
            trial.set_user_attr(ATTR_ERROR, outcome.error or f"seed {seed}: the run ended {outcome.status} without an evaluation")
            study.tell(trial, state=states.FAIL)
            sweep.console.error(f"trial {trial.number}: seed {seed} {outcome.status}: {outcome.error or 'no evaluation'}")
            return
        results[str(seed)] = {o.metric: outcome.evaluation.get(o.metric) for o in spec.objectives}
        if spec.constraint:
            bound = spec.constraint.max
            results[str(seed)]["constraint"] = float(outcome.evaluation.get(spec.constraint.metric, float("nan"))) - (
                float(outcome.evaluation.get(bound, float("nan"))) if isinstance(bound, str) else float(bound))
    trial.set_user_attr(ATTR_SEEDS, results)
    values = [_mean([r[o.metric] for r in results.values()], o.metric) for o in spec.objectives]
    if spec.constraint:
        trial.set_user_attr(ATTR_CONSTRAINT, [_mean([r["constraint"] for r in results.values()], "constraint")])
    study.tell(trial, values if len(values) > 1 else values[0])
    sweep.console.line(f"trial {trial.number} done: " + ", ".join(f"{o.metric} {v:.4g}" for o, v in zip(spec.objectives, values)))


def _mean(values: list[Any], metric: str) -> float:
    numbers = [float(v) for v in values if isinstance(v, (int, float))]
    if len(numbers) != len(values):
        raise ValueError(f"{metric}: not every seed's last evaluation has it")
    return sum(numbers) / len(numbers)


def _seed_command(sweep: SweepRun, params: dict[str, Any], origin: int, seed: int, run_dir: Path) -> list[str]:
    spec = sweep.spec
    trial_record = {"name": spec.name, "folder": str(sweep.folder), "trial": origin, "parameters": params, "seed": seed}
    command = [sys.executable, "-m", "bond_trainer", "train", "--config", str(spec.base), "--run-dir", str(run_dir),
               "--sweep-trial", json.dumps(trial_record)]
    # named as its folder (sweep, trial, seed), so that the runs view tells the trials apart
    for override in [*spec.overrides(params, seed), f"name={json.dumps(run_dir.name)}"]:
        command += ["--set", override]
    existing = _read_status(run_dir)
    if existing is not None:
        command.append("--resume")
    return command


def _read_status(run_dir: Path) -> Optional[str]:
    try:
        return str(json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8")).get("status"))
    except (OSError, ValueError):
        return None


def _worker_env(sweep: SweepRun, worker: int) -> dict[str, str]:
    env = dict(os.environ)
    if sweep.spec.devices:
        env["CUDA_VISIBLE_DEVICES"] = sweep.spec.devices[worker % len(sweep.spec.devices)]
    # the CPU's threads split between the workers, so that k trials at once do not oversubscribe it
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // sweep.workers)))
    return env


def _run_seed(sweep: SweepRun, trial: Any, params: dict[str, Any], origin: int, seed: int, run_dir: Path,
              worker: int, report: bool) -> SeedOutcome:
    """Train one seed (or continue it, or take its result when it already completed)."""
    if _read_status(run_dir) == "completed":
        return SeedOutcome("completed", _last_evaluation(run_dir))
    log_path = sweep.folder / LOGS_FOLDER / f"{run_dir.name}.out"  # the trainer's console, beside the run folders
    with open(log_path, "ab") as out:
        process = subprocess.Popen(_seed_command(sweep, params, origin, seed, run_dir), stdout=out, stderr=subprocess.STDOUT,
                                   env=_worker_env(sweep, worker), start_new_session=True)
        with sweep.lock:
            sweep.processes[worker] = process
            if sweep.stop.is_set():
                process.send_signal(signal.SIGTERM)
        reported: set[int] = set()
        offset = 0
        pruning = False
        beat = time.time()
        while process.poll() is None:
            time.sleep(POLL_SECONDS)
            if time.time() - beat >= HEARTBEAT_SECONDS:
                beat = time.time()
                trial.set_user_attr(ATTR_HEARTBEAT, beat)  # other machines sharing the study see this one lives
            offset, evaluations = _new_evaluations(run_dir, offset)
            if not report or pruning:
                continue
            for evaluation in evaluations:
                pruning = _report(trial, sweep.spec, evaluation, reported) or pruning
            if pruning:
                (run_dir / PRUNE_REQUEST).write_text(json.dumps({"reason": f"{sweep.spec.pruner.kind} pruner at step "
                                                                 f"{max(reported)} on {sweep.spec.pruner_metric}"}), encoding="utf-8")
                process.send_signal(signal.SIGTERM)
        with sweep.lock:
            sweep.processes.pop(worker, None)
    # run.json says how the run ended: a stop that reached a run which had just completed (its exit
    # code is then the signal's) is a completed run, not a failure
    status = _read_status(run_dir) or "failed"
    if process.returncode != 0 and status not in ("stopped", "pruned", "completed"):
        tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
        return SeedOutcome("failed", None, f"exit {process.returncode}: {' | '.join(tail)} (see {log_path})")
    return SeedOutcome(status, _last_evaluation(run_dir))


def _report(trial: Any, spec: SweepSpec, evaluation: dict[str, Any], reported: set[int]) -> bool:
    """Report one evaluation to the pruner; True when the trial should stop."""
    step = int(evaluation["step"])
    value = evaluation.get(spec.pruner_metric)
    if step in reported or not isinstance(value, (int, float)) or len(spec.objectives) > 1:
        return False  # Optuna prunes single-objective studies only
    reported.add(step)
    trial.report(float(value), step)
    return spec.pruner.kind != "none" and step >= spec.pruner.warmup_step and bool(trial.should_prune())


def _new_evaluations(run_dir: Path, offset: int) -> tuple[int, list[dict[str, Any]]]:
    """The evaluation lines metrics.jsonl gained past `offset` (complete lines only)."""
    try:
        with open(run_dir / METRICS_FILE, "rb") as handle:
            handle.seek(offset)
            chunk = handle.read()
    except OSError:
        return offset, []
    end = chunk.rfind(b"\n") + 1
    found = []
    for line in chunk[:end].splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("kind") == "eval":
            found.append(record)
    return offset + end, found


def _last_evaluation(run_dir: Path) -> Optional[dict[str, Any]]:
    evaluations = _new_evaluations(run_dir, 0)[1]
    return evaluations[-1] if evaluations else None
