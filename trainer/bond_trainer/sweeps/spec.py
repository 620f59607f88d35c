"""A sweep file (*.sweep.json): read, checked against contracts/schemas/sweep.schema.json, then
checked for what the schema cannot say — every parameter is a field of the base config and each of
its values makes a config the trainer accepts — and turned into typed dataclasses."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Union

from ..inputs.config import ConfigError, ConfigProblem, config_from_dict
from ..inputs.schema import JsoncError, Validator, load_schema, parse_jsonc

Method = Literal["grid", "random", "tpe", "nsga2"]
Goal = Literal["maximize", "minimize"]
SWEEP_SUFFIX = ".sweep.json"


@dataclass(frozen=True)
class Choice:
    """A list of values: every one in a grid, one of them per trial otherwise."""
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Range:
    """Numbers from low to high (inclusive), on a log scale when asked, in steps when given."""
    low: float
    high: float
    log: bool = False
    step: Optional[float] = None
    integer: bool = False

    def grid(self) -> tuple[Any, ...]:
        """The values a grid visits: low, low + step, … up to high."""
        assert self.step is not None
        count = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
        values = [self.low + i * self.step for i in range(count)]
        return tuple(int(round(v)) if self.integer else round(v, 12) for v in values)


Parameter = Union[Choice, Range]


@dataclass(frozen=True)
class Objective:
    metric: str
    goal: Goal


@dataclass(frozen=True)
class Constraint:
    """Feasible when `metric` ≤ `max`: a number, or another evaluation metric of the same run."""
    metric: str
    max: Union[float, str]


@dataclass(frozen=True)
class PrunerSpec:
    kind: Literal["none", "median"] = "none"
    metric: Optional[str] = None
    warmup_step: int = 0
    startup_trials: int = 2


@dataclass
class SweepSpec:
    name: str
    source: Path
    base: Path
    base_raw: dict[str, Any]
    # one space, or (a grid) several whose grids are joined
    spaces: list[dict[str, Parameter]]
    method: Method
    objectives: list[Objective]
    constraint: Optional[Constraint]
    seeds: list[int]
    max_trials: int
    workers: int
    devices: list[str]
    pruner: PrunerSpec
    storage: Optional[str]
    sampler_seed: int
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def parameters(self) -> dict[str, Parameter]:
        """Every swept field, once, as the first space that names it gives it."""
        merged: dict[str, Parameter] = {}
        for space in self.spaces:
            for key, p in space.items():
                merged.setdefault(key, p)
        return merged

    @property
    def pruner_metric(self) -> str:
        return self.pruner.metric or self.objectives[0].metric

    def grid_points(self) -> list[dict[str, Any]]:
        """Every combination of each space's values (grid), in the file's order; a point that makes
        the same config as an earlier one (its differing field does not apply) is left out."""
        points: list[dict[str, Any]] = []
        seen: set[tuple[str, ...]] = set()
        for space in self.spaces:
            keys = list(space)
            columns = [p.values if isinstance(p, Choice) else p.grid() for p in space.values()]
            for combo in itertools.product(*columns):
                point = dict(zip(keys, combo))
                identity = tuple(sorted(self.overrides(point, 0)))
                if identity not in seen:
                    seen.add(identity)
                    points.append(point)
        return points

    def grid_choices(self) -> dict[str, tuple[Any, ...]]:
        """Per field, every value the grid gives it (Optuna's categorical choices for that name)."""
        choices: dict[str, list[Any]] = {}
        for point in self.grid_points():
            for key, value in point.items():
                if value not in choices.setdefault(key, []):
                    choices[key].append(value)
        return {key: tuple(values) for key, values in choices.items()}

    def overrides(self, params: dict[str, Any], seed: int) -> list[str]:
        """The trainer's --set arguments for one trial's run: its parameters (those that apply to its
        algorithm) and its seed."""
        algorithm = str(params.get("algorithm", self.base_raw.get("algorithm", "bond")))
        sets = [f"{key}={json.dumps(value)}" for key, value in params.items() if applies(key, algorithm)]
        return [*sets, f"train.seed={seed}"]

    def to_json(self) -> dict[str, Any]:
        return self.raw


ALGORITHM_SECTIONS = ("bond", "jbond", "reinforce", "bonbon")


def applies(key: str, algorithm: str) -> bool:
    """A field of another algorithm's section (jbond.beta in a reinforce trial) is left out."""
    section = key.split(".", 1)[0]
    return section not in ALGORITHM_SECTIONS or section == algorithm


class SweepError(ConfigError):
    """A sweep file the trainer cannot run: exit 2, naming the file and the field."""


_validator: Optional[Validator] = None


def load_sweep(path: Path, text: Optional[str] = None) -> SweepSpec:
    """Read and check a sweep file (`text`: its contents as an editor holds them, unsaved). Raises
    SweepError naming every problem."""
    source = str(path)
    try:
        raw = parse_jsonc(path.read_text(encoding="utf-8") if text is None else text)
    except FileNotFoundError:
        raise SweepError(source, [ConfigProblem("", "the sweep file does not exist", "file")]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise SweepError(source, [ConfigProblem("", f"cannot read the file: {error}", "file")]) from None
    except JsoncError as error:
        raise SweepError(source, [ConfigProblem("", f"not valid JSON: {error}", "syntax", error.line, error.column)]) from None
    if not isinstance(raw, dict):
        raise SweepError(source, [ConfigProblem("", "the top level must be a JSON object", "schema")])
    global _validator
    _validator = _validator or Validator(load_schema("sweep"))
    issues = _validator.validate(raw, fill_defaults=True)
    if issues:
        raise SweepError(source, [ConfigProblem(i.path, i.message, "schema", rename_to=i.rename_to) for i in issues])
    problems: list[ConfigProblem] = []
    spaces = _spaces(raw["parameters"], raw["method"], problems)
    base = (path.resolve().parent / raw["base"]).resolve()
    base_raw = _read_base(base, problems)
    method: Method = raw["method"]
    if method == "grid":
        for where, space in _named(spaces, raw["parameters"]):
            for key, p in space.items():
                if isinstance(p, Range) and p.step is None:
                    problems.append(ConfigProblem(f"{where}.{key}", "a grid needs a list or a range with a step", "semantic"))
    if method == "nsga2" and len(raw["objectives"]) != 2:
        problems.append(ConfigProblem("objectives", "nsga2 is multi-objective: give two objectives", "semantic"))
    if method != "grid" and raw["max_trials"] is None:
        problems.append(ConfigProblem("max_trials", f"{method} samples without end: say how many trials to run", "semantic"))
    if problems:
        raise SweepError(source, problems)
    objectives = [Objective(o["metric"], o["goal"]) for o in raw["objectives"]]
    constraint = Constraint(raw["constraint"]["metric"], raw["constraint"]["max"]) if raw["constraint"] else None
    pr = raw["pruner"]
    spec = SweepSpec(
        name=raw.get("name") or path.name.removesuffix(SWEEP_SUFFIX).removesuffix(".json"), source=path.resolve(),
        base=base, base_raw=base_raw or {}, spaces=spaces, method=method, objectives=objectives,
        constraint=constraint, seeds=list(raw["seeds"]), max_trials=0, workers=raw["workers"], devices=list(raw["devices"]),
        pruner=PrunerSpec(pr["kind"], pr["metric"], pr["warmup_step"], pr["startup_trials"]), storage=raw["storage"],
        sampler_seed=raw["sampler_seed"], raw=raw)
    spec.max_trials = raw["max_trials"] or len(spec.grid_points())
    _check_values(spec, problems)
    if problems:
        raise SweepError(source, problems)
    return spec


def _named(spaces: list[dict[str, Parameter]], written: Any) -> list[tuple[str, dict[str, Parameter]]]:
    """Each space with the name its fields go by in a problem: parameters, or parameters[i]."""
    return [("parameters" if isinstance(written, dict) else f"parameters[{i}]", space) for i, space in enumerate(spaces)]


def _spaces(written: Any, method: str, problems: list[ConfigProblem]) -> list[dict[str, Parameter]]:
    listed = written if isinstance(written, list) else [written]
    if isinstance(written, list) and method != "grid":
        problems.append(ConfigProblem("parameters", f"a list of parameter spaces is a grid's: use method grid, or one "
                                      f"object for {method}", "semantic"))
    spaces: list[dict[str, Parameter]] = []
    for index, space in enumerate(listed):
        where = "parameters" if isinstance(written, dict) else f"parameters[{index}]"
        if not isinstance(space, dict) or not space:
            problems.append(ConfigProblem(where, "no parameter to sweep: name at least one config field", "semantic"))
            spaces.append({})  # kept, so that parameters[i] still names the i-th space
            continue
        spaces.append({key: _parameter(key, value, where, problems) for key, value in space.items()})
    if not listed:
        problems.append(ConfigProblem("parameters", "no parameter space: give an object of fields", "semantic"))
    return spaces


def _parameter(key: str, value: Any, space: str, problems: list[ConfigProblem]) -> Parameter:
    where = f"{space}.{key}"
    if isinstance(value, list):
        if not value:
            problems.append(ConfigProblem(where, "an empty list: give at least one value", "semantic"))
        return Choice(tuple(value))
    unknown = set(value) - {"low", "high", "log", "step"}
    if unknown:
        problems.append(ConfigProblem(f"{where}.{sorted(unknown)[0]}", "unknown field; a range has low, high, log and step", "schema"))
    low, high, step, log = value.get("low"), value.get("high"), value.get("step"), value.get("log", False)
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high))
    if not numbers:
        problems.append(ConfigProblem(where, "a range needs numbers low and high (or give a list of values)", "semantic"))
        return Choice(())
    if not low <= high:
        problems.append(ConfigProblem(where, f"an empty range: low {low} is above high {high}", "semantic"))
    if log and low <= 0:
        problems.append(ConfigProblem(f"{where}.low", f"a log range needs low > 0, got {low}", "semantic"))
    if step is not None and (not isinstance(step, (int, float)) or step <= 0):
        problems.append(ConfigProblem(f"{where}.step", f"a step must be a number above 0, got {step!r}", "semantic"))
        step = None
    if log and step is not None:
        problems.append(ConfigProblem(f"{where}.step", "a log range takes no step", "semantic"))
    integer = all(isinstance(v, int) for v in (low, high)) and (step is None or isinstance(step, int))
    return Range(float(low), float(high), bool(log), float(step) if step is not None else None, integer)


def _read_base(base: Path, problems: list[ConfigProblem]) -> Optional[dict[str, Any]]:
    try:
        raw = parse_jsonc(base.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append(ConfigProblem("base", f"{base} does not exist (a .bond.json, relative to the sweep file)", "file"))
        return None
    except (OSError, UnicodeDecodeError, JsoncError) as error:
        problems.append(ConfigProblem("base", f"cannot read {base}: {error}", "file"))
        return None
    if not isinstance(raw, dict):
        problems.append(ConfigProblem("base", f"{base}: the top level must be a JSON object", "schema"))
        return None
    return raw


def _extremes(p: Parameter) -> tuple[Any, ...]:
    if isinstance(p, Choice):
        return p.values
    return (int(p.low), int(p.high)) if p.integer else (p.low, p.high)


def _check_values(spec: SweepSpec, problems: list[ConfigProblem]) -> None:
    """Each value of each parameter (a range's ends) must make a config the trainer accepts: a
    parameter that is not a config field, or a value out of its bounds, is said here, not in a trial."""
    # The base first: what is wrong with it (a missing model file, say) is said once, on `base`, not
    # on every parameter; a value is then blamed only for what it adds.
    base_problems = _config_problems(spec, {})
    for problem in base_problems:
        said = f"{problem.field}: {problem.message}" if problem.field else problem.message
        problems.append(ConfigProblem("base", f"{spec.base}: {said}", "semantic"))
    known = {(p.field, p.message) for p in base_problems}
    base_algorithm = str(spec.base_raw.get("algorithm", "bond"))
    for space_name, space in _named(spec.spaces, spec.raw["parameters"]):
        _check_space(spec, space_name, space, base_algorithm, known, problems)


def _config_problems(spec: SweepSpec, params: dict[str, Any]) -> list[ConfigProblem]:
    try:
        config_from_dict(spec.base_raw, spec.base.parent, str(spec.base), spec.overrides(params, spec.seeds[0]))
    except ConfigError as error:
        return error.problems
    return []


def _check_space(spec: SweepSpec, space_name: str, space: dict[str, Parameter], base_algorithm: str,
                 known: set[tuple[str, str]], problems: list[ConfigProblem]) -> None:
    swept = space.get("algorithm")
    algorithms = set(_extremes(swept)) if swept else {base_algorithm}
    for key, p in space.items():
        section = key.split(".", 1)[0]
        if section in ALGORITHM_SECTIONS and section not in algorithms:
            problems.append(ConfigProblem(f"{space_name}.{key}", f"applies to no trial: every trial runs "
                                          f"{' or '.join(sorted(map(str, algorithms)))}", "semantic"))
            continue
        for value in _extremes(p):
            # checked on a trial of the algorithm the field belongs to
            params = {key: value, **({"algorithm": section} if section in ALGORITHM_SECTIONS and swept else {})}
            added = [p for p in _config_problems(spec, params) if (p.field, p.message) not in known]
            for problem in added:
                said = f"{problem.field}: {problem.message}" if problem.field else problem.message
                problems.append(ConfigProblem(f"{space_name}.{key}", f"the value {json.dumps(value)} gives a config the "
                                              f"trainer refuses — {said}", "semantic"))
            if added:
                break
