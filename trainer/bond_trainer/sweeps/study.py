"""The Optuna side of a sweep: its storage, sampler and pruner, the study, and DIR/sweep.json (the
sweep folder's record, contracts/schemas/sweep-folder.schema.json) that names them so that
`optuna.load_study` opens the study from it."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Optional

from .spec import Choice, SweepSpec

SWEEP_FILE = "sweep.json"
JOURNAL_FILE = "optuna-journal.log"
RUNS_FOLDER = "runs"
LOGS_FOLDER = "logs"
FORMAT_VERSION = 1
# user attributes a trial carries (read back by the sweep's own tools)
ATTR_CONTINUES = "bond:continues"   # the trial number whose run folders a re-queued trial continues
ATTR_STOPPED = "bond:stopped"       # the trial was stopped (sweep stopped): --resume re-queues it
ATTR_RUNS = "bond:runs"             # its run folders, one per seed, relative to the sweep folder
ATTR_SEEDS = "bond:seed_results"    # per seed, the objectives' metrics of its last evaluation
ATTR_CONSTRAINT = "bond:constraint"  # [metric - max]: at most 0 is feasible (Optuna's convention)
ATTR_SURPLUS = "bond:surplus"       # asked after the grid was done: no run, not a result
ATTR_ERROR = "bond:error"
ATTR_WORKER = "bond:worker"         # {host, pid} of the sweep process running the trial
ATTR_HEARTBEAT = "bond:heartbeat"   # when that process last said it was alive (time.time(), its clock)
HEARTBEAT_SECONDS = 10.0
# a trial of another machine whose heartbeat is older than this is taken as lost (clocks may differ a little)
HEARTBEAT_GRACE_SECONDS = 120.0


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        from ..inputs.extras import MissingPackage
        from ..inputs.extras import needs, requirement
        raise MissingPackage(needs("optuna", "a sweep"), [requirement("optuna")]) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def storage_of(spec: SweepSpec, folder: Path) -> Any:
    optuna = _optuna()
    if spec.storage is None:
        from optuna.storages.journal import JournalFileBackend
        return optuna.storages.JournalStorage(JournalFileBackend(str(folder / JOURNAL_FILE)))
    try:
        return optuna.storages.RDBStorage(spec.storage)
    except ModuleNotFoundError as error:  # the database's driver (psycopg2 for postgresql://)
        from ..inputs.extras import MissingPackage
        driver = "psycopg2-binary>=2.9" if spec.storage.startswith("postgresql") else str(error.name)
        raise MissingPackage(f"storage {spec.storage.split(':', 1)[0]}://… needs the {error.name} package in the trainer's "
                             f"Python: pip install '{driver}'", [driver]) from None


def _constraints(trial: Any) -> list[float]:
    value = trial.user_attrs.get(ATTR_CONSTRAINT)
    return list(value) if value is not None else [0.0]


def sampler_of(spec: SweepSpec) -> Any:
    optuna = _optuna()
    constraints = _constraints if spec.constraint else None
    if spec.method == "tpe":
        return optuna.samplers.TPESampler(seed=spec.sampler_seed, constraints_func=constraints, n_startup_trials=max(2, spec.workers))
    if spec.method == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=spec.sampler_seed, constraints_func=constraints,
                                             population_size=max(2, min(50, spec.max_trials // 2)))
    # grid: the points are queued when the study is made (each is taken once, by one worker, from
    # the storage); random: Optuna's random sampler.
    return optuna.samplers.RandomSampler(seed=spec.sampler_seed)


def pruner_of(spec: SweepSpec) -> Any:
    optuna = _optuna()
    if spec.pruner.kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=spec.pruner.startup_trials, n_warmup_steps=spec.pruner.warmup_step)
    return optuna.pruners.NopPruner()


def open_study(spec: SweepSpec, folder: Path, wait_s: float = 60.0) -> Any:
    """Create the study, or load it (--resume, or another machine on the same storage). Only the
    process that created it queues a grid's points, so each point is queued once; the others wait
    until it has."""
    optuna = _optuna()
    options = dict(study_name=spec.name, sampler=sampler_of(spec), pruner=pruner_of(spec))
    storage = _storage_when_ready(spec, folder)
    try:
        study = optuna.create_study(storage=storage, directions=[o.goal for o in spec.objectives], **options)
        created = True
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(storage=storage, **options)
        created = False
    if spec.method != "grid":
        return study
    if created:
        for point in spec.grid_points():
            study.enqueue_trial({key: encode(value) for key, value in point.items()})
        study.set_user_attr("bond:grid_queued", True)
        return study
    deadline = time.time() + wait_s
    while not optuna.load_study(storage=storage, **options).user_attrs.get("bond:grid_queued"):
        if time.time() > deadline:
            raise RuntimeError(f"study {spec.name}: the sweep that created it has not queued its grid within {wait_s:.0f} s")
        time.sleep(0.5)
    return study


def _storage_when_ready(spec: SweepSpec, folder: Path, attempts: int = 5) -> Any:
    """The storage; a database that another sweep is setting up at the same moment (Optuna's tables
    created twice at once fail on one side) is tried again."""
    for attempt in range(attempts):
        try:
            return storage_of(spec, folder)
        except Exception as error:  # noqa: BLE001 - sqlalchemy's IntegrityError / OperationalError, whose package is optional
            if attempt == attempts - 1 or type(error).__module__.split(".")[0] != "sqlalchemy":
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def encode(value: Any) -> Any:
    """Optuna's categorical choices are None, bool, int, float or str: a list or object goes as JSON text."""
    return value if value is None or isinstance(value, (bool, int, float, str)) else json.dumps(value)


def decode(value: Any, choices: tuple[Any, ...]) -> Any:
    for choice in choices:
        if encode(choice) == value:
            return choice
    return value


def suggest(trial: Any, spec: SweepSpec, queued: Optional[dict[str, Any]]) -> dict[str, Any]:
    """The trial's parameters: asked of Optuna (fixed ones, queued by the grid or a retry, come back as
    queued). A grid's trial names the fields of its own space, each a categorical over every value the
    grid gives that field (one distribution per name across the study, as Optuna requires)."""
    params: dict[str, Any] = {}
    if spec.method == "grid":
        choices = spec.grid_choices()
        for key in (queued or {}):
            params[key] = decode(trial.suggest_categorical(key, [encode(v) for v in choices[key]]), choices[key])
        return params
    for key, p in spec.parameters.items():
        if isinstance(p, Choice):
            params[key] = decode(trial.suggest_categorical(key, [encode(v) for v in p.values]), p.values)
        elif p.integer:
            params[key] = trial.suggest_int(key, int(p.low), int(p.high), step=int(p.step or 1), log=p.log)
        else:
            params[key] = trial.suggest_float(key, p.low, p.high, step=p.step, log=p.log)
    return params


def write_sweep_record(spec: SweepSpec, folder: Path, status: str) -> None:
    """DIR/sweep.json, atomically: what the sweep is and where its study lives."""
    path = folder / SWEEP_FILE
    try:
        created = json.loads(path.read_text(encoding="utf-8"))["created_at"]
    except (OSError, ValueError, KeyError):
        created = time.time()
    storage: dict[str, Any] = ({"kind": "journal", "path": JOURNAL_FILE} if spec.storage is None
                               else {"kind": "url", "url": _without_password(spec.storage)})
    record = {
        "format_version": FORMAT_VERSION, "name": spec.name, "study_name": spec.name, "storage": storage,
        "sweep_file": str(spec.source), "base": str(spec.base), "method": spec.method,
        "parameters": list(spec.parameters), "objectives": [{"metric": o.metric, "goal": o.goal} for o in spec.objectives],
        "constraint": {"metric": spec.constraint.metric, "max": spec.constraint.max} if spec.constraint else None,
        "seeds": spec.seeds, "max_trials": spec.max_trials, "runs_folder": RUNS_FOLDER, "status": status,
        "pid": os.getpid(), "created_at": created, "updated_at": time.time(), "spec": spec.raw,
    }
    temp = path.with_suffix(".json.tmp")
    temp.write_text(json.dumps(record, indent=2), encoding="utf-8")
    os.replace(temp, path)


def _without_password(url: str) -> str:
    """A database URL as recorded: user and host, never the password."""
    if "://" in url and "@" in url.split("://", 1)[1]:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        return f"{scheme}://{credentials.split(':', 1)[0]}@{host}"
    return url


def load_recorded_study(folder: Path, storage_url: Optional[str] = None) -> Any:
    """The study of a sweep folder, as its sweep.json names it (a database's password is not recorded: pass the URL)."""
    optuna = _optuna()
    record = json.loads((folder / SWEEP_FILE).read_text(encoding="utf-8"))
    storage = record["storage"]
    if storage["kind"] == "journal":
        from optuna.storages.journal import JournalFileBackend
        backend = optuna.storages.JournalStorage(JournalFileBackend(str(folder / storage["path"])))
        return optuna.load_study(study_name=record["study_name"], storage=backend)
    return optuna.load_study(study_name=record["study_name"], storage=storage_url or storage["url"])
