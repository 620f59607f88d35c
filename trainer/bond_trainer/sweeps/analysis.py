"""DIR/analysis.json (contracts/schemas/sweep-analysis.schema.json): what the study knows, for the
editor's Sweep view — one entry per configuration (a re-queued trial stands for the one it
continues), each seed's last evaluation, Optuna's Pareto front and best trials, and Optuna's
parameter importance per objective. Written atomically after every trial ends and when the sweep does."""

from __future__ import annotations

import json
import math
import os
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Optional

from ..run.layout import METRICS_FILE
from .spec import SweepSpec
from .study import ATTR_CONSTRAINT, ATTR_CONTINUES, ATTR_ERROR, ATTR_RUNS, ATTR_STOPPED, ATTR_SURPLUS, _optuna

ANALYSIS_FILE = "analysis.json"
FORMAT_VERSION = 1
# trials a study needs, complete and with parameters that vary, before importance says anything
IMPORTANCE_MIN_TRIALS = 3
_write_lock = threading.Lock()


def latest_trials(trials: list[Any]) -> list[Any]:
    """One trial per configuration: a trial that a later one continues (stopped, or lost with its
    sweep process) gives way to the last of its line; grid surplus asks are no trials at all."""
    real = [t for t in trials if not t.user_attrs.get(ATTR_SURPLUS)]
    last_of: dict[int, Any] = {}
    for trial in real:
        origin = int(trial.user_attrs.get(ATTR_CONTINUES, trial.number))
        if origin not in last_of or trial.number > last_of[origin].number:
            last_of[origin] = trial
    return sorted(last_of.values(), key=lambda t: int(t.user_attrs.get(ATTR_CONTINUES, t.number)))


def _state(trial: Any) -> str:
    name = str(trial.state.name).lower()
    if name == "fail" and trial.user_attrs.get(ATTR_STOPPED):
        return "stopped"
    return {"fail": "failed"}.get(name, name)


def _finite(value: Any) -> Optional[float]:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) else None


def _last_evaluation(run_dir: Path) -> Optional[dict[str, Any]]:
    """The run's last evaluation line, its numbers only (a run still training has none yet, or an early one)."""
    last: Optional[dict[str, Any]] = None
    try:
        with open(run_dir / METRICS_FILE, "rb") as handle:
            for line in handle:
                if b'"eval"' not in line or not line.endswith(b"\n"):
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict) and record.get("kind") == "eval":
                    last = record
    except OSError:
        return None
    if last is None:
        return None
    return {key: number for key, value in last.items() if (number := _finite(value)) is not None}


def _run_status(run_dir: Path) -> Optional[str]:
    try:
        return str(json.loads((run_dir / "run.json").read_text(encoding="utf-8")).get("status"))
    except (OSError, ValueError):
        return None


def _trial_entry(trial: Any, spec: SweepSpec, folder: Path) -> dict[str, Any]:
    origin = int(trial.user_attrs.get(ATTR_CONTINUES, trial.number))
    runs = list(trial.user_attrs.get(ATTR_RUNS) or [])
    seeds = []
    for seed, rel in zip(spec.seeds, runs):
        run_dir = folder / rel
        seeds.append({"seed": seed, "run": rel, "status": _run_status(run_dir), "evaluation": _last_evaluation(run_dir)})
    values = [_finite(v) for v in trial.values] if trial.values is not None else None
    constraint = trial.user_attrs.get(ATTR_CONSTRAINT)
    return {
        "number": origin, "optuna_trial": trial.number, "state": _state(trial), "params": dict(trial.params),
        "values": values, "feasible": None if constraint is None else all(float(c) <= 0 for c in constraint),
        "seeds": seeds, "error": trial.user_attrs.get(ATTR_ERROR),
    }


def _importance(study: Any, spec: SweepSpec, complete: list[Any]) -> tuple[Optional[dict[str, dict[str, float]]], str]:
    """Optuna's PED-ANOVA importance of each swept field, per objective (Optuna's own evaluator: fANOVA
    would need scikit-learn and SciPy, some 160 MB, in the trainer's Python); or why there is none yet.
    The note says what the numbers mean: importance for reaching the top quantile of the configurations,
    a quantile wide enough to hold two of them (PED-ANOVA needs two above it)."""
    optuna = _optuna()
    varying = [key for key in spec.parameters if len({json.dumps(t.params.get(key), sort_keys=True) for t in complete}) > 1]
    if len(complete) < IMPORTANCE_MIN_TRIALS or not varying:
        return None, (f"needs {IMPORTANCE_MIN_TRIALS} completed configurations whose parameters vary "
                      f"({len(complete)} completed so far)")
    # fields every completed trial has (a union grid's spaces name different fields)
    shared = [key for key in varying if all(key in t.params for t in complete)]
    if not shared:
        return None, "no swept field is shared by every completed configuration"
    quantile = min(0.5, max(0.1, 2 / len(complete)))
    result: dict[str, dict[str, float]] = {}
    for index, objective in enumerate(spec.objectives):
        evaluator = optuna.importance.PedAnovaImportanceEvaluator(target_quantile=quantile)
        # PED-ANOVA takes "better" from the study's first direction: another objective is turned to match it
        sign = 1.0 if objective.goal == spec.objectives[0].goal else -1.0
        with warnings.catch_warnings():  # its advice to negate a target that is to be maximised: done above
            warnings.simplefilter("ignore", UserWarning)
            scores = optuna.importance.get_param_importances(study, evaluator=evaluator, params=shared,
                                                             target=None if len(spec.objectives) == 1 else
                                                             (lambda t, i=index, s=sign: s * t.values[i]))
        result[objective.metric] = {key: float(value) for key, value in scores.items()}
    note = (f"Optuna's PED-ANOVA: how much each field decides whether a configuration is in the top "
            f"{quantile:.0%} of the {len(complete)} completed, per objective")
    if len(shared) == 1:
        note += (f"; {shared[0]} is the only swept field every finished configuration has (the others belong to one "
                 f"algorithm's section), so it has all of it")
    return result, note


def analyse(study: Any, spec: SweepSpec, folder: Path) -> dict[str, Any]:
    optuna = _optuna()
    trials = latest_trials(study.get_trials(deepcopy=False))
    entries = [_trial_entry(t, spec, folder) for t in trials]
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    front: list[int] = []
    best: list[dict[str, Any]] = []
    if complete:
        shown = {t.number for t in trials}
        front = sorted(int(t.user_attrs.get(ATTR_CONTINUES, t.number)) for t in study.best_trials if t.number in shown)
        for index, objective in enumerate(spec.objectives):
            feasible = [t for t in complete if all(float(c) <= 0 for c in t.user_attrs.get(ATTR_CONSTRAINT, [0.0]))] or complete
            pick = max if objective.goal == "maximize" else min
            winner = pick(feasible, key=lambda t, i=index: t.values[i])
            best.append({"metric": objective.metric, "goal": objective.goal,
                         "trial": int(winner.user_attrs.get(ATTR_CONTINUES, winner.number))})
    try:
        importance, note = _importance(study, spec, complete)
    except Exception as error:  # noqa: BLE001 - importance is a reading aid; its failure must not stop the sweep
        importance, note = None, f"Optuna's importance failed: {type(error).__name__}: {error}"
    return {
        "format_version": FORMAT_VERSION, "name": spec.name, "updated_at": time.time(),
        "objectives": [{"metric": o.metric, "goal": o.goal} for o in spec.objectives],
        "parameters": list(spec.parameters), "seeds": spec.seeds,
        "trials": entries, "pareto_front": front, "best": best,
        "importance": importance, "importance_note": note,
    }


def write_analysis(study: Any, spec: SweepSpec, folder: Path) -> None:
    """DIR/analysis.json, atomically; each writer its own temporary file (several workers, several machines)."""
    with _write_lock:
        record = analyse(study, spec, folder)
        path = folder / ANALYSIS_FILE
        temp = folder / f".{ANALYSIS_FILE}.{os.getpid()}.tmp"
        temp.write_text(json.dumps(record, indent=1, allow_nan=False), encoding="utf-8")
        os.replace(temp, path)
