"""One list of algorithms, and configs of the layout before each had its section.

The registry (algorithms.ALGORITHMS), the config's Literal and the config schema's enum name the
same algorithms; every algorithm has a section of its own; and every example and fixture config as
it was written before the sections existed (tests/legacy-configs, copied from the repository at that
commit) reads as today's file does, with a warning per moved field naming where it went."""

from __future__ import annotations

import contextlib
import io
import json
import typing
from pathlib import Path
from typing import Callable

import pytest
import torch

from bond_trainer.inputs import config as config_module
from bond_trainer.algorithms import ALGORITHMS, algorithm_for
from bond_trainer.algorithms.bonbon import worst_index
from bond_trainer.algorithms.bon import bon_probabilities
from bond_trainer.commands.cli import main
from bond_trainer.inputs.config import bonbon_tau, load_config, normalised_config
from bond_trainer.inputs.schema import load_schema, parse_jsonc

ROOT = Path(__file__).resolve().parents[2]
LEGACY = Path(__file__).parent / "legacy-configs"
# Each legacy copy and the file it was copied from.
LEGACY_SOURCES = {
    "demo_demo.bond.json": "examples/demo/demo.bond.json",
    "demo_demo-composite.bond.json": "examples/demo/demo-composite.bond.json",
    "hugging-face_qwen-lora.bond.json": "examples/hugging-face/qwen-lora.bond.json",
    "commented.bond.json": "contracts/fixtures/configs/valid/commented.bond.json",
}


def test_the_registry_the_literal_and_the_schema_name_the_same_algorithms() -> None:
    schema = load_schema("config")
    enum = schema["properties"]["algorithm"]["enum"]
    literal = typing.get_args(config_module.AlgorithmName)
    assert list(ALGORITHMS) == list(enum) == list(literal)
    for name in ALGORITHMS:
        assert name in schema["properties"], f"algorithm {name} has no config section of its own"
        assert ALGORITHMS[name].name == name


def test_every_legacy_config_reads_as_today(tmp_path: Path) -> None:
    assert sorted(p.name for p in LEGACY.glob("*.bond.json")) == sorted(LEGACY_SOURCES)
    for legacy_name, current in LEGACY_SOURCES.items():
        legacy = parse_jsonc((LEGACY / legacy_name).read_text(encoding="utf-8"))
        today = parse_jsonc((ROOT / current).read_text(encoding="utf-8"))
        assert "anchor" not in legacy and "anchor" in today, legacy_name
        assert normalised_config(legacy) == normalised_config(today), legacy_name


def test_a_moved_field_is_read_with_a_warning_naming_the_new_field(write_config: Callable[..., Path]) -> None:
    path = write_config(algorithm="jbond", bond={"beta": 0.3, "anchor": "hard", "anchor_period": 7, "gamma": 0.2})
    cfg = load_config(path)
    assert (cfg.jbond.beta, cfg.jbond.gamma, cfg.anchor.kind, cfg.anchor.period) == (0.3, 0.2, "hard", 7)
    moved = {w.field: w.message for w in cfg.warnings}
    assert moved.keys() == {"bond.beta", "bond.anchor", "bond.anchor_period", "bond.gamma"}
    assert "jbond.beta" in moved["bond.beta"] and "anchor.kind" in moved["bond.anchor"]
    # bond.beta of a bond run is bond's own field, not a moved one
    assert "bond.beta" not in {w.field for w in load_config(write_config(algorithm="bond", bond={"beta": 0.3})).warnings}


def test_a_moved_field_given_twice_keeps_the_new_one(write_config: Callable[..., Path]) -> None:
    cfg = load_config(write_config(bond={"ema_eta": 0.5}, anchor={"ema_eta": 0.1}))
    assert cfg.anchor.ema_eta == 0.1
    assert [w.field for w in cfg.warnings] == ["bond.ema_eta"] and "ignored" in cfg.warnings[0].message


def test_validate_reports_moved_fields_as_warnings(write_config: Callable[..., Path]) -> None:
    path = write_config(bond={"anchor": "fixed"})
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["validate", "--config", str(path)])
    report = json.loads(out.getvalue())
    assert code == 0 and report["ok"] and report["problems"] == []
    assert [(w["field"], w["check"]) for w in report["warnings"]] == [("bond.anchor", "moved")]


@pytest.mark.parametrize("algorithm,anchor", [("bond", "ema"), ("jbond", "ema"), ("bonbon", "fixed"), ("reinforce", "fixed")])
def test_the_anchor_defaults_to_the_algorithm_s_own(algorithm: str, anchor: str, write_config: Callable[..., Path]) -> None:
    cfg = load_config(write_config(algorithm=algorithm))
    assert cfg.anchor.kind == anchor and cfg.to_json()["anchor"]["kind"] == anchor
    assert algorithm_for(cfg).needs_anchor is (anchor != "fixed")


def test_bonbon_tau_is_the_best_minus_worst_log_ratio_of_best_of_n() -> None:
    """On a categorical testbed with continuous (all distinct) rewards: draw n from π_ref, take the
    best and the worst, and average log π_BoN/π_ref at each; the difference is τ = (n − 1)·H_(n−1)."""
    generator = torch.Generator().manual_seed(0)
    outputs = 400
    logits = torch.randn(outputs, generator=generator, dtype=torch.float64)
    probs = torch.softmax(logits, dim=0)
    rewards = torch.randperm(outputs, generator=generator).double()  # distinct: a continuous reward's order
    for n in (2, 4, 8):
        log_ratio = (bon_probabilities(probs, rewards, n) / probs).log()
        draws = torch.multinomial(probs.expand(200_000, -1), n, replacement=True, generator=generator)
        drawn = rewards[draws]
        best = draws.gather(1, drawn.argmax(dim=1, keepdim=True)).squeeze(1)
        worst = draws.gather(1, drawn.argmin(dim=1, keepdim=True)).squeeze(1)
        estimate = (log_ratio[best] - log_ratio[worst]).mean().item()
        # A finite support shifts it slightly from the continuous limit; 400 outputs keep that small.
        assert estimate == pytest.approx(bonbon_tau(n), rel=0.03), n
    assert bonbon_tau(8) == pytest.approx(1 / (2 * 0.02755), rel=1e-3)  # the authors' IPO β for n = 8


def test_worst_index_breaks_ties_to_the_highest_index() -> None:
    rewards = torch.tensor([[1.0, 0.0, 0.0, 2.0], [3.0, 3.0, 3.0, 3.0], [0.5, 0.1, 0.7, 0.2]])
    assert worst_index(rewards).tolist() == [2, 3, 1]


def test_bonbon_config_resolves_tau_and_records_it(write_config: Callable[..., Path]) -> None:
    cfg = load_config(write_config(algorithm="bonbon", bonbon={"n": 4}))
    assert cfg.bonbon.tau == pytest.approx(3 * (1 + 1 / 2 + 1 / 3))
    assert cfg.to_json()["bonbon"]["tau"] == cfg.bonbon.tau
    cfg = load_config(write_config(algorithm="bonbon", bonbon={"n": 4, "tau": 2.5}))
    assert cfg.bonbon.tau == 2.5


def test_a_run_recorded_in_the_older_layout_resumes_with_no_change(write_config: Callable[..., Path], tmp_path: Path) -> None:
    """A run.json whose config predates the sections, resumed with the same settings in today's
    layout: nothing differs, so no resume prompt and no new segment."""
    from bond_trainer.commands.cli import _changes_since
    today = load_config(write_config(jbond={"gamma": 0.2}, anchor={"kind": "hard", "period": 5}))
    legacy = today.to_json()
    legacy["bond"].update({"gamma": 0.2, "anchor": "hard", "anchor_period": 5, "ema_eta": 0.02, "tie_rule": "strict",
                           "beta": 0.5, "policy_samples": 1})
    for moved in ("jbond", "anchor", "bonbon"):
        legacy.pop(moved)
    run = tmp_path / "old-run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"config": legacy, "created_at": 0}), encoding="utf-8")
    assert _changes_since(run, today) == []
    changed = load_config(write_config(jbond={"gamma": 0.3}, anchor={"kind": "hard", "period": 5}))
    assert [c["field"] for c in _changes_since(run, changed)] == ["jbond.gamma"]


def test_an_old_reinforce_run_with_the_old_default_anchor_resumes_with_no_change(write_config: Callable[..., Path],
                                                                                  tmp_path: Path) -> None:
    """Older configs said bond.anchor "ema" by default even for reinforce, which has no anchor: read
    today it is "fixed", and the recorded config compares equal."""
    from bond_trainer.commands.cli import _changes_since
    today = load_config(write_config(algorithm="reinforce"))
    legacy = today.to_json()
    legacy["bond"].update({"anchor": "ema", "anchor_period": 50, "ema_eta": 0.02, "gamma": 0.0, "tie_rule": "strict"})
    for moved in ("jbond", "anchor", "bonbon"):
        legacy.pop(moved)
    run = tmp_path / "old-reinforce"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"config": legacy, "created_at": 0}), encoding="utf-8")
    assert _changes_since(run, today) == []
    assert normalised_config(legacy)["anchor"]["kind"] == "fixed"
