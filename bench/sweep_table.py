"""Table of a finished sweep: per configuration, the mean ± standard deviation over its seeds of the
objectives (and of any other evaluation metric asked for), from the study its sweep.json names and
the last evaluation of each seed's run.

    PYTHONPATH=trainer .venv/bin/python bench/sweep_table.py .bond/sweeps/jbond-vs-reinforce \
        [--metrics eval/reward/policy eval/kl/policy_ref eval/effective_n]

Prints a Markdown table, and which configurations lie on the reward-versus-KL Pareto front of the
means (Optuna's, for a two-objective study)."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "trainer"))

from bond_trainer.sweeps.study import load_recorded_study  # noqa: E402


def last_evaluation(run_dir: Path) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record.get("kind") == "eval":
            found = record
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--metrics", nargs="*", default=["eval/reward/policy", "eval/kl/policy_ref", "eval/effective_n"])
    args = parser.parse_args()
    study = load_recorded_study(args.folder)
    complete = [t for t in study.get_trials() if t.state.name == "COMPLETE"]
    front = {t.number for t in study.best_trials} if len(study.directions) > 1 else set()
    header = ["configuration", "seeds", *[f"{m} (mean ± sd)" for m in args.metrics], "Pareto"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(["---"] * 2 + ["---:"] * len(args.metrics) + ["---"]) + "|")
    for trial in sorted(complete, key=lambda t: json.dumps(t.params)):
        runs = [args.folder / rel for rel in trial.user_attrs["bond:runs"]]
        evaluations = [last_evaluation(run) for run in runs]
        cells = []
        for metric in args.metrics:
            values = [float(e[metric]) for e in evaluations if metric in e]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.fmean(values):.3f} ± {spread:.3f}" if values else "–")
        label = ", ".join(f"{key} {value}" for key, value in trial.params.items())
        print(f"| {label} | {len(runs)} | " + " | ".join(cells) + f" | {'yes' if trial.number in front else ''} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
