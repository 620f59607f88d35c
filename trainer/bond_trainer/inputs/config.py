"""Run config: JSON (comments allowed) validated by contracts/schemas/config.schema.json, then
checked for the invariants the schema cannot express, then turned into typed dataclasses.

The schema is the one source of defaults, bounds and descriptions (the editor uses the same file);
the dataclasses mirror it field for field, and a test keeps the two in step.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any, Optional

from .problems import ConfigError, ConfigProblem, ProblemCheck
from .sections import (AlgorithmName, GPTSpec, LoraConfig, HFPolicyConfig, PolicyConfig, RewardConfig, DataConfig,
                       AlgorithmSection, AnchorKind, BondConfig, JBondConfig, ReinforceConfig, BonbonConfig,
                       AnchorConfig, TrainConfig, SamplingConfig, EvalConfig, SamplesConfig, CheckpointConfig,
                       ExportConfig, WandbConfig, LoggingConfig, DistributedConfig, RunConfig, HUB_SPLIT, SECTION_TYPES,
                       locate_model, component_name, bonbon_tau, _build)
from .checks import semantic_problems
from .schema import JsoncError, SchemaIssue, Validator, load_schema, parse_jsonc, schemas_dir

# The dataclasses are sections.py's and the problem types problems.py's; importers take them from here.
__all__ = ["ProblemCheck", "ConfigProblem", "ConfigError", "AlgorithmName", "GPTSpec", "LoraConfig", "HFPolicyConfig",
           "PolicyConfig", "RewardConfig", "DataConfig", "AlgorithmSection", "AnchorKind", "BondConfig",
           "JBondConfig", "ReinforceConfig", "BonbonConfig", "AnchorConfig", "TrainConfig", "SamplingConfig",
           "EvalConfig", "SamplesConfig", "CheckpointConfig", "ExportConfig", "WandbConfig", "LoggingConfig",
           "DistributedConfig", "RunConfig", "HUB_SPLIT", "locate_model", "component_name", "bonbon_tau",
           "apply_overrides", "config_changes", "config_from_dict", "config_validator", "describe_changes",
           "load_config", "move_legacy_fields", "normalised_config", "parse_override", "semantic_problems",
           "LEGACY_FIELDS"]


def parse_override(text: str) -> tuple[list[str], Any]:
    """`dotted.key=value`; the value is JSON when it parses as JSON, else a plain string."""
    if "=" not in text:
        raise ValueError(f"--set {text!r}: expected dotted.key=value, e.g. --set train.steps=5")
    key, raw = text.split("=", 1)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", key):
        raise ValueError(f"--set {text!r}: {key!r} is not a dotted field name such as train.steps")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.split("."), value


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> None:
    for text in overrides:
        keys, value = parse_override(text)
        node = raw
        for key in keys[:-1]:
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                raise ValueError(f"--set {text!r}: {key} is not a section")
            node = child
        node[keys[-1]] = value


_validator: Optional[Validator] = None


def config_validator() -> Validator:
    global _validator
    if _validator is None:
        _validator = Validator(load_schema("config"))
    return _validator


def load_config(path: str | Path, overrides: Optional[list[str]] = None, text: Optional[str] = None) -> RunConfig:
    """Read, override, validate and type a config. Raises ConfigError naming every problem. `text`:
    the file's contents as an editor holds them (unsaved), paths still resolved against `path`."""
    path = Path(path)
    source = str(path)
    try:
        if text is None:
            text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(source, [ConfigProblem("", "the config file does not exist", "file")]) from None
    except UnicodeDecodeError as error:
        raise ConfigError(source, [ConfigProblem("", f"not UTF-8 text: byte 0x{error.object[error.start]:02x} at offset "
                                                 f"{error.start} cannot be decoded; save the file as UTF-8", "syntax")]) from None
    except OSError as error:
        raise ConfigError(source, [ConfigProblem("", f"cannot read the file: {error.strerror}", "file")]) from None
    try:
        raw = parse_jsonc(text)
    except JsoncError as error:
        raise ConfigError(source, [ConfigProblem("", f"not valid JSON: {error}", "syntax", error.line, error.column)]) from None
    return config_from_dict(raw, base_dir=path.resolve().parent, source=source, overrides=overrides)


def config_from_dict(raw: Any, base_dir: Path, source: str = "<config>",
                     overrides: Optional[list[str]] = None) -> RunConfig:
    raw = copy.deepcopy(raw)
    if not isinstance(raw, dict):
        raise ConfigError(source, [ConfigProblem("", "the top level must be a JSON object", "schema")])
    try:
        apply_overrides(raw, overrides or [])
    except ValueError as error:
        raise ConfigError(source, [ConfigProblem("", str(error), "override")]) from None
    warnings = move_legacy_fields(raw)
    issues: list[SchemaIssue] = config_validator().validate(raw, fill_defaults=True)
    if issues:
        # A moved field is named as the file writes it, with where it now belongs.
        moved = {new: old for old, new, _ in LEGACY_FIELDS if any(w.field == old and "ignored" not in w.message
                                                                  for w in warnings)}
        raise ConfigError(source, [ConfigProblem(moved[i.path], f"{i.message} (read as {i.path}, where it now belongs)",
                                                 "schema") if i.path in moved else
                                   ConfigProblem(i.path, i.message, "schema", rename_to=i.rename_to) for i in issues])
    raw.pop("$schema", None)
    components = raw.pop("reward") if isinstance(raw.get("reward"), list) else None
    cfg: RunConfig = _build(RunConfig, raw)
    if components is not None:
        cfg.reward = RewardConfig(components=[_build(RewardConfig, c) for c in components])
    cfg.base_dir = base_dir
    cfg.source = source
    cfg.warnings = warnings
    cfg.warnings.extend(_resolve_algorithm_defaults(cfg))
    problems = semantic_problems(cfg)
    if problems:
        raise ConfigError(source, problems)
    return cfg


def _legacy_fields() -> list[tuple[str, str, Optional[tuple[str, ...]]]]:
    """Fields of the layout before algorithms had sections of their own: (old, new, for which
    algorithms the old field meant the new one; None: every algorithm). One table for the trainer
    and the editor: contracts/schemas/config.moved-fields.json."""
    with open(schemas_dir() / "config.moved-fields.json", encoding="utf-8") as handle:
        table = json.load(handle)
    return [(m["from"], m["to"], tuple(m["algorithms"]) if m.get("algorithms") else None) for m in table["moved"]]


LEGACY_FIELDS = _legacy_fields()


def move_legacy_fields(raw: dict[str, Any]) -> list[ConfigProblem]:
    """Configs and runs written before each algorithm had its section keep working: an old field is
    moved to the field that now holds it (unless that one is given too), with a warning naming it.
    Works in place on the raw config, before the schema sees it."""
    warnings: list[ConfigProblem] = []
    algorithm = raw.get("algorithm", "jbond")
    for old, new, meant_for in LEGACY_FIELDS:
        old_section, old_key = old.split(".")
        new_section, new_key = new.split(".")
        section = raw.get(old_section)
        if not isinstance(section, dict) or old_key not in section:
            continue
        if meant_for is not None and algorithm not in meant_for:
            continue  # bond.beta of a bond run is bond's own field
        value = section.pop(old_key)
        target = raw.setdefault(new_section, {})
        if not isinstance(target, dict):
            continue  # the schema says what is wrong with the new section
        if new_key in target:
            warnings.append(ConfigProblem(old, f"moved to {new}, which is given too; {old} ({json.dumps(value)}) "
                                          "is ignored: delete it", "moved"))
            continue
        target[new_key] = value
        warnings.append(ConfigProblem(old, f"moved to {new}; read as {new} = {json.dumps(value)} — move it there",
                                      "moved"))
    return warnings


def normalised_config(recorded: dict[str, Any]) -> dict[str, Any]:
    """A config as a run recorded it (run.json, any trainer version), in today's layout with every
    default filled: what resume compares the config it is given with."""
    raw = copy.deepcopy(recorded)
    move_legacy_fields(raw)
    config_validator().validate(raw, fill_defaults=True)
    anchor = raw.get("anchor")
    default = SECTION_TYPES.get(str(raw.get("algorithm", "jbond")), AlgorithmSection).DEFAULT_ANCHOR
    if isinstance(anchor, dict) and (anchor.get("kind") is None or default is None):
        anchor["kind"] = default or "fixed"  # as _resolve_algorithm_defaults does: no anchor → fixed
    bonbon = raw.get("bonbon")
    if isinstance(bonbon, dict) and bonbon.get("tau") is None and isinstance(bonbon.get("n"), int):
        bonbon["tau"] = bonbon_tau(bonbon["n"])
    return raw


def _resolve_algorithm_defaults(cfg: RunConfig) -> list[ConfigProblem]:
    """Defaults that depend on the algorithm: the anchor's kind and BoNBoN's τ. Written into the
    config, so that run.json records what the run used."""
    warnings: list[ConfigProblem] = []
    default = cfg.section.DEFAULT_ANCHOR
    if default is None:
        if cfg.anchor.kind not in (None, "fixed"):
            warnings.append(ConfigProblem("anchor.kind", f"{cfg.algorithm} has no anchor (its KL penalty is to π_ref), "
                                          f"so {cfg.anchor.kind!r} is not used; set it to \"fixed\" or remove it",
                                          "semantic"))
        cfg.anchor.kind = "fixed"
    elif cfg.anchor.kind is None:
        cfg.anchor.kind = default
    if cfg.bonbon.tau is None:
        cfg.bonbon.tau = bonbon_tau(cfg.bonbon.n)
    return warnings


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else str(key), out)
    else:
        out[prefix] = value  # lists are compared whole: a reward list or the data files are one choice


def config_changes(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """What differs between two resolved configs, as dotted fields with their values (None: absent),
    in field order. The run's segments and the resume prompt are made of these."""
    old: dict[str, Any] = {}
    new: dict[str, Any] = {}
    _flatten(before, "", old)
    _flatten(after, "", new)
    fields_in_order = list(old) + [key for key in new if key not in old]
    return [{"field": key, "before": old.get(key), "after": new.get(key)}
            for key in fields_in_order if old.get(key) != new.get(key)]


def describe_changes(changes: list[dict[str, Any]]) -> str:
    """'bond.beta 0.3 → 0.9, train.lr 0.003 → 0.05' for messages."""
    return ", ".join(f"{c['field']} {json.dumps(c['before'])} → {json.dumps(c['after'])}" for c in changes)
