"""`python -m bond_trainer sweep` end to end with tiny trials: real trainer processes, a real Optuna
study on its journal file, read back with optuna.load_study as sweep.json names it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import TRAINER_DIR, assert_run_dir_valid, schema_validator, tiny_config

PRINTABLE = "[ -~]"   # every printable byte scores: a high reward from the start
NOTHING = "zzzzzzzz"  # never produced: reward 0


def write_sweep(tmp: Path, sweep: dict[str, Any], **config: Any) -> Path:
    (tmp / "tiny.bond.json").write_text(json.dumps(tiny_config(tmp, **config)), encoding="utf-8")
    path = tmp / "s.sweep.json"
    path.write_text(json.dumps({"name": "s", "base": "tiny.bond.json",
                                "objectives": [{"metric": "eval/reward/policy", "goal": "maximize"}], **sweep}), encoding="utf-8")
    return path


def sweep_command(sweep: Path, folder: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "bond_trainer", "sweep", "--sweep", str(sweep), "--sweep-dir", str(folder), *extra]


def run_sweep(sweep: Path, folder: Path, *extra: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(sweep_command(sweep, folder, *extra), cwd=TRAINER_DIR, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(TRAINER_DIR)})


def recorded_study(folder: Path) -> Any:
    from bond_trainer.sweeps.study import load_recorded_study
    return load_recorded_study(folder)


def run_meta(folder: Path, started_only: bool = False) -> dict[str, dict[str, Any]]:
    """Each run's run.json. `started_only`: while the sweep runs, a trial's folder exists a moment
    before its run.json (written atomically): such a folder is left out instead of failing."""
    folders = [d for d in sorted((folder / "runs").iterdir()) if d.is_dir()]
    return {d.name: json.loads((d / "run.json").read_text()) for d in folders
            if not started_only or (d / "run.json").exists()}


def test_a_grid_over_seeds_trains_every_point_once_per_seed_and_records_the_study(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path, {"parameters": {"jbond.beta": [0.1, 0.5], "train.lr": [0.001, 0.003]},
                                   "seeds": [1, 2], "workers": 2}, train={"steps": 3}, eval={"every": 3})
    folder = tmp_path / "out"
    done = run_sweep(sweep, folder)
    assert done.returncode == 0, done.stdout + done.stderr
    record = json.loads((folder / "sweep.json").read_text())
    assert not [e.message for e in schema_validator("sweep-folder").iter_errors(record)]
    assert record["status"] == "completed" and record["max_trials"] == 4
    runs = run_meta(folder)
    assert len(runs) == 8, sorted(runs)
    for name, meta in runs.items():
        assert_run_dir_valid(folder / "runs" / name)
        assert meta["status"] == "completed"
        trial = meta["sweep"]
        assert name == f"s-t{trial['trial']:04d}-s{trial['seed']}" == meta["name"]
        # what the trial says it ran is what the run's config holds
        assert meta["config"]["jbond"]["beta"] == trial["parameters"]["jbond.beta"]
        assert meta["config"]["train"]["lr"] == trial["parameters"]["train.lr"]
        assert meta["config"]["train"]["seed"] == trial["seed"]
    study = recorded_study(folder)
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4
    assert sorted((t.params["jbond.beta"], t.params["train.lr"]) for t in trials) == [
        (0.1, 0.001), (0.1, 0.003), (0.5, 0.001), (0.5, 0.003)]
    for t in trials:
        seeds = t.user_attrs["bond:seed_results"]
        assert sorted(seeds) == ["1", "2"]
        # the trial's value is the mean of its seeds' last evaluations
        mean = sum(s["eval/reward/policy"] for s in seeds.values()) / 2
        assert t.value == pytest.approx(mean)
        for seed, rel in zip(("1", "2"), t.user_attrs["bond:runs"]):
            last = [json.loads(line) for line in (folder / rel / "metrics.jsonl").read_text().splitlines()
                    if '"eval"' in line][-1]
            assert last["eval/reward/policy"] == pytest.approx(seeds[seed]["eval/reward/policy"])
    # analysis.json: the Sweep view's reading of the same study
    analysis = json.loads((folder / "analysis.json").read_text())
    assert not [e.message for e in schema_validator("sweep-analysis").iter_errors(analysis)]
    by_number = {t.number: t for t in trials}
    assert sorted(e["number"] for e in analysis["trials"]) == sorted(by_number)
    for entry in analysis["trials"]:
        trial = by_number[entry["number"]]
        assert entry["state"] == "complete" and entry["values"] == [pytest.approx(trial.value)]
        assert [s["seed"] for s in entry["seeds"]] == [1, 2] and all(s["status"] == "completed" for s in entry["seeds"])
        for s in entry["seeds"]:
            assert s["evaluation"]["eval/reward/policy"] == pytest.approx(trial.user_attrs["bond:seed_results"][str(s["seed"])]["eval/reward/policy"])
            assert s["evaluation"]["step"] == 3
    best = max(trials, key=lambda t: t.value).number
    assert analysis["best"] == [{"metric": "eval/reward/policy", "goal": "maximize", "trial": best}]
    assert best in analysis["pareto_front"]
    importance = analysis["importance"]["eval/reward/policy"]
    assert sorted(importance) == ["jbond.beta", "train.lr"] and sum(importance.values()) == pytest.approx(1.0, abs=1e-6)


def test_the_median_pruner_stops_a_losing_trial_with_a_checkpoint_and_marks_it_pruned(tmp_path: Path) -> None:
    # Grid order: the printable pattern first (high reward), then one that never scores: at its first
    # evaluation past the warm-up it is below the median, and is stopped as pruned.
    sweep = write_sweep(tmp_path, {"parameters": {"reward.pattern": [PRINTABLE, NOTHING]}, "workers": 1,
                                   "pruner": {"kind": "median", "warmup_step": 2, "startup_trials": 1}},
                        train={"steps": 8}, eval={"every": 2, "prompts": 2, "mc_samples": 4, "n_max": 4},
                        checkpoint={"every": 100})
    folder = tmp_path / "out"
    done = run_sweep(sweep, folder)
    assert done.returncode == 0, done.stdout + done.stderr
    study = recorded_study(folder)
    states = {t.params["reward.pattern"]: t.state.name for t in study.get_trials()}
    assert states == {PRINTABLE: "COMPLETE", NOTHING: "PRUNED"}, done.stdout
    pruned = next(m for m in run_meta(folder).values() if m["sweep"]["parameters"]["reward.pattern"] == NOTHING)
    assert pruned["status"] == "pruned"
    assert 2 <= pruned["pruned"]["step"] < 8 and "median pruner" in pruned["pruned"]["reason"]
    assert pruned["checkpoints"][-1]["step"] == pruned["step"], "a pruned run ends with a checkpoint of its last step"
    assert "pruned" in done.stdout


def test_tpe_samples_a_range_and_the_constraint_is_recorded(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path, {"parameters": {"train.lr": {"low": 0.0005, "high": 0.01, "log": True}}, "method": "tpe",
                                   "max_trials": 3, "workers": 2,
                                   "constraint": {"metric": "eval/kl/policy_ref", "max": "eval/kl/bon_bound"}},
                        train={"steps": 3}, eval={"every": 3})
    folder = tmp_path / "out"
    done = run_sweep(sweep, folder)
    assert done.returncode == 0, done.stdout + done.stderr
    trials = [t for t in recorded_study(folder).get_trials() if not t.user_attrs.get("bond:surplus")]
    assert len(trials) >= 3 and all(t.state.name == "COMPLETE" for t in trials)
    assert all(0.0005 <= t.params["train.lr"] <= 0.01 for t in trials)
    assert len({t.params["train.lr"] for t in trials}) == len(trials)
    for t in trials:
        (seed_result,) = t.user_attrs["bond:seed_results"].values()
        assert t.user_attrs["bond:constraint"] == [pytest.approx(seed_result["constraint"])]


def test_more_trials_are_added_to_a_finished_random_sweep_without_running_the_first_ones_again(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path, {"parameters": {"train.lr": {"low": 0.0005, "high": 0.01, "log": True}}, "method": "random",
                                   "max_trials": 1}, train={"steps": 3}, eval={"every": 3})
    folder = tmp_path / "out"
    assert run_sweep(sweep, folder).returncode == 0
    first = {name: meta["started_at"] for name, meta in run_meta(folder).items()}
    assert len(first) == 1
    done = run_sweep(sweep, folder, "--resume", "--max-trials", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    after = run_meta(folder)
    assert len(after) == 2 and all(after[name]["started_at"] == started for name, started in first.items())
    assert json.loads((folder / "sweep.json").read_text())["max_trials"] == 2
    assert len(json.loads((folder / "analysis.json").read_text())["trials"]) == 2
    grid = write_sweep(tmp_path, {"parameters": {"train.lr": [0.001]}})
    refused = run_sweep(grid, tmp_path / "grid", "--max-trials", "3", timeout=60)
    assert refused.returncode == 2 and "is a grid" in refused.stderr


@pytest.mark.parametrize("sweep, field, words", [
    ({"parameters": {"jbond.beta": [0.1]}, "sedes": [1]}, "sedes", "unknown field"),
    ({"parameters": {"jbond.betta": [0.1]}}, "parameters.jbond.betta", "unknown field"),
    ({"parameters": {"train.lr": {"low": 0.1, "high": 0.01}}, "method": "random", "max_trials": 2}, "parameters.train.lr", "empty range"),
    ({"parameters": {"train.lr": []}}, "parameters.train.lr", "empty list"),
    ({"parameters": {"train.lr": {"low": 0.001, "high": 0.01}}}, "parameters.train.lr", "a grid needs"),
    ({"parameters": {"train.steps": [0]}}, "parameters.train.steps", "refuses"),
    ({"parameters": {"reinforce.beta": [0.1]}}, "parameters.reinforce.beta", "applies to no trial"),
    ({"parameters": {"train.lr": [0.1]}, "method": "tpe"}, "max_trials", "how many trials"),
    ({"parameters": [{"train.lr": [0.1]}, {"train.lr": {"low": 0.1, "high": 0.2}}]}, "parameters[1].train.lr", "a grid needs"),
    ({"parameters": [{"train.lr": [0.1]}], "method": "random", "max_trials": 2}, "parameters", "a grid's"),
])
def test_a_bad_sweep_file_exits_2_naming_the_field_and_leaves_no_folder(tmp_path: Path, sweep: dict[str, Any], field: str,
                                                                         words: str) -> None:
    path = write_sweep(tmp_path, sweep)
    folder = tmp_path / "out"
    done = run_sweep(path, folder, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert str(path) in done.stderr and f"{field}:" in done.stderr and words in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not folder.exists()


def test_a_stopped_sweep_resumes_its_trials_where_they_stopped_and_runs_nothing_twice(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path, {"parameters": {"jbond.beta": [0.1, 0.5]}, "workers": 2},
                        train={"steps": 200}, eval={"every": 100}, checkpoint={"every": 1000})
    folder = tmp_path / "out"
    process = start_and_wait_for_steps(sweep, folder, runs=2, steps=3)
    process.send_signal(signal.SIGINT)
    output = process.communicate(timeout=120)[0]
    assert process.returncode == 0, output
    stopped = run_meta(folder)
    assert {m["status"] for m in stopped.values()} == {"stopped"}, output
    assert json.loads((folder / "sweep.json").read_text())["status"] == "stopped"
    analysis = json.loads((folder / "analysis.json").read_text())
    assert sorted((e["number"], e["state"]) for e in analysis["trials"]) == [(0, "stopped"), (1, "stopped")]
    assert analysis["importance"] is None and "completed" in analysis["importance_note"]

    done = run_sweep(sweep, folder, "--resume", timeout=400)
    assert done.returncode == 0, done.stdout + done.stderr
    resumed = run_meta(folder)
    assert sorted(resumed) == sorted(stopped), "the same run folders, no new ones"
    for name, meta in resumed.items():
        assert meta["status"] == "completed" and meta["resume_count"] == 1
        assert meta["sweep"]["trial"] in (0, 1), "the folders keep the number of the trial they started in"
        steps = [json.loads(line)["step"] for line in (folder / "runs" / name / "metrics.jsonl").read_text().splitlines()
                 if '"train"' in line]
        assert steps == list(range(1, 201)), f"{name}: every step once"
    trials = recorded_study(folder).get_trials()
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert sorted(t.params["jbond.beta"] for t in complete) == [0.1, 0.5]
    assert sorted(t.user_attrs["bond:continues"] for t in complete) == [0, 1]
    # the view shows each configuration once, under the number its folders carry, now complete
    analysis = json.loads((folder / "analysis.json").read_text())
    assert sorted((e["number"], e["state"]) for e in analysis["trials"]) == [(0, "complete"), (1, "complete")]
    assert {e["optuna_trial"] for e in analysis["trials"]} == {t.number for t in complete}


def test_a_grid_of_several_spaces_is_their_union_and_a_field_that_does_not_apply_makes_no_second_trial(tmp_path: Path) -> None:
    from bond_trainer.sweeps.spec import load_sweep
    crossed = load_sweep(write_sweep(tmp_path, {"parameters": {"algorithm": ["jbond", "reinforce"], "jbond.beta": [0.1, 0.5]}}))
    # reinforce leaves jbond.beta out: its two points are one config
    assert [crossed.overrides(p, 0) for p in crossed.grid_points()] == [
        ['algorithm="jbond"', "jbond.beta=0.1", "train.seed=0"], ['algorithm="jbond"', "jbond.beta=0.5", "train.seed=0"],
        ['algorithm="reinforce"', "train.seed=0"]]
    sweep = write_sweep(tmp_path, {"parameters": [{"algorithm": ["jbond"], "anchor.ema_eta": [0.01, 0.05]},
                                                  {"algorithm": ["reinforce"], "reinforce.beta_kl": [0.1]}], "workers": 2},
                        train={"steps": 3}, eval={"every": 3})
    folder = tmp_path / "out"
    done = run_sweep(sweep, folder)
    assert done.returncode == 0, done.stdout + done.stderr
    configs = sorted((m["config"]["algorithm"], m["config"]["anchor"]["ema_eta"] if m["config"]["algorithm"] == "jbond"
                      else m["config"]["reinforce"]["beta_kl"]) for m in run_meta(folder).values())
    assert configs == [("jbond", 0.01), ("jbond", 0.05), ("reinforce", 0.1)]
    params = sorted(json.dumps(t.params, sort_keys=True) for t in recorded_study(folder).get_trials())
    assert params == sorted(json.dumps(p, sort_keys=True) for p in [
        {"algorithm": "jbond", "anchor.ema_eta": 0.01}, {"algorithm": "jbond", "anchor.ema_eta": 0.05},
        {"algorithm": "reinforce", "reinforce.beta_kl": 0.1}])


def test_the_paper_example_sweep_reads_as_seven_configurations_over_three_seeds(tmp_path: Path) -> None:
    # the example as the repository lays it out, beside a demo whose reference model is a tiny one
    # (the real one is made by `demo --prepare-only`; without it the base is refused, said once)
    import shutil
    from bond_trainer.sweeps.spec import SweepError, load_sweep
    from conftest import REPO_ROOT
    (tmp_path / "paper").mkdir()
    shutil.copy(REPO_ROOT / "examples" / "paper" / "jbond-vs-reinforce.sweep.json", tmp_path / "paper")
    shutil.copytree(REPO_ROOT / "examples" / "demo", tmp_path / "demo", ignore=shutil.ignore_patterns("build"))
    sweep = tmp_path / "paper" / "jbond-vs-reinforce.sweep.json"
    with pytest.raises(SweepError) as refused:
        load_sweep(sweep)
    assert [(p.field, "reference.pt does not exist" in p.message) for p in refused.value.problems] == [("base", True)]
    pre = subprocess.run([sys.executable, "-m", "bond_trainer", "pretrain", "--out", str(tmp_path / "demo" / "build" / "reference.pt"),
                          "--steps", "1", "--layers", "1", "--heads", "2", "--width", "16", "--batch-size", "2"],
                         cwd=TRAINER_DIR, capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(TRAINER_DIR)})
    assert pre.returncode == 0, pre.stderr
    spec = load_sweep(sweep)
    assert spec.max_trials == 7 and spec.seeds == [0, 1, 2] and spec.method == "grid"
    assert sorted({p["algorithm"] for p in spec.grid_points()}) == ["jbond", "reinforce"]


def start_and_wait_for_steps(sweep: Path, folder: Path, runs: int, steps: int) -> subprocess.Popen[str]:
    """The sweep as a process, once `runs` of its runs have trained `steps` steps (their own progress)."""
    process = subprocess.Popen(sweep_command(sweep, folder), cwd=TRAINER_DIR, env={**os.environ, "PYTHONPATH": str(TRAINER_DIR)},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 180
    while time.time() < deadline:
        found = [m.get("step", 0) for m in run_meta(folder, started_only=True).values()] if (folder / "runs").exists() else []
        if len(found) == runs and min(found) >= steps:
            return process
        time.sleep(0.3)
    process.kill()
    pytest.fail(f"the trials did not start: {process.communicate()[0]}")


def test_a_killed_sweep_stops_its_trials_and_resume_continues_them_with_nothing_lost_or_run_twice(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path, {"parameters": {"jbond.beta": [0.1, 0.5]}, "workers": 2},
                        train={"steps": 200}, eval={"every": 100}, checkpoint={"every": 1000})
    folder = tmp_path / "out"
    process = start_and_wait_for_steps(sweep, folder, runs=2, steps=3)
    process.kill()  # SIGKILL: the sweep says nothing to its trials
    process.communicate(timeout=30)
    # each trial notices its sweep is gone and stops as on Stop: the current step, a checkpoint
    deadline = time.time() + 60
    while {m["status"] for m in run_meta(folder).values()} != {"stopped"}:
        assert time.time() < deadline, {n: m["status"] for n, m in run_meta(folder).items()}
        time.sleep(0.3)
    done = run_sweep(sweep, folder, "--resume", timeout=400)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("which is gone: queued again") == 2, done.stdout
    for name, meta in run_meta(folder).items():
        assert meta["status"] == "completed" and meta["resume_count"] == 1, name
        steps = [json.loads(line)["step"] for line in (folder / "runs" / name / "metrics.jsonl").read_text().splitlines()
                 if '"train"' in line]
        assert steps == list(range(1, 201)), f"{name}: every step once"
    trials = recorded_study(folder).get_trials()
    assert sorted(t.state.name for t in trials) == ["COMPLETE", "COMPLETE", "FAIL", "FAIL"]
    assert sorted(t.user_attrs["bond:continues"] for t in trials if t.state.name == "COMPLETE") == [0, 1]


@pytest.fixture(scope="module")
def postgres_url() -> Any:
    from postgres import postgres_server
    yield from postgres_server()


def test_two_sweep_processes_on_one_postgresql_share_the_grid_and_run_no_point_twice(tmp_path: Path, postgres_url: str) -> None:
    # one sweep file, two "machines": separate processes and sweep folders, one database
    sweep = write_sweep(tmp_path, {"parameters": {"jbond.beta": [0.1, 0.3, 0.5, 0.7]}, "workers": 1, "storage": postgres_url},
                        train={"steps": 3}, eval={"every": 3})
    env = {**os.environ, "PYTHONPATH": str(TRAINER_DIR)}
    machines = [subprocess.Popen(sweep_command(sweep, tmp_path / f"machine-{i}"), cwd=TRAINER_DIR, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in range(2)]
    outputs = [m.communicate(timeout=300)[0] for m in machines]
    assert [m.returncode for m in machines] == [0, 0], outputs
    import optuna
    trials = [t for t in optuna.load_study(study_name="s", storage=postgres_url).get_trials()
              if not t.user_attrs.get("bond:surplus")]
    assert sorted(t.params["jbond.beta"] for t in trials) == [0.1, 0.3, 0.5, 0.7], "every point once"
    assert all(t.state.name == "COMPLETE" for t in trials)
    ran = [sorted(p.name for p in (tmp_path / f"machine-{i}" / "runs").iterdir() if p.is_dir()) for i in range(2)]
    assert sum(len(r) for r in ran) == 4 and not set(ran[0]) & set(ran[1]), ran
    # sweep.json names the database without a password, and load_recorded_study opens it
    record = json.loads((tmp_path / "machine-0" / "sweep.json").read_text())
    assert record["storage"] == {"kind": "url", "url": postgres_url}
    assert len(recorded_study(tmp_path / "machine-0").get_trials()) == len(optuna.load_study(study_name="s", storage=postgres_url).get_trials())


def test_a_trial_another_machine_left_running_is_taken_over_once_its_heartbeat_is_stale(tmp_path: Path) -> None:
    from bond_trainer.run.console import Console
    from bond_trainer.sweeps.runner import _queued_params, _requeue_lost
    from bond_trainer.sweeps.spec import load_sweep
    from bond_trainer.sweeps.study import HEARTBEAT_GRACE_SECONDS, open_study, suggest
    path = write_sweep(tmp_path, {"parameters": {"train.lr": [0.001, 0.002]}}, train={"steps": 3}, eval={"every": 3})
    folder = tmp_path / "out"
    folder.mkdir()
    spec = load_sweep(path)
    study = open_study(spec, folder)
    # two trials "another machine" took: one alive (a fresh heartbeat), one whose machine died
    for beat in (time.time(), time.time() - HEARTBEAT_GRACE_SECONDS - 60):
        trial = study.ask()
        trial.set_user_attr("bond:worker", {"host": "another-machine", "pid": 4242})
        trial.set_user_attr("bond:heartbeat", beat)
        suggest(trial, spec, _queued_params(study, trial))
    _requeue_lost(study, Console())
    states = [t.state.name for t in study.get_trials()]
    assert states == ["RUNNING", "FAIL", "WAITING"], states
    # the live one's heartbeat goes stale too (its machine dies now): the sweep waits, then takes it over
    import optuna
    live = study.get_trials()[0]
    optuna.trial.Trial(study, live._trial_id).set_user_attr("bond:heartbeat", time.time() - HEARTBEAT_GRACE_SECONDS - 1)
    done = run_sweep(path, folder)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("has sent no heartbeat") == 1, done.stdout  # the second: taken over here, by this sweep
    runs = run_meta(folder)
    assert sorted(runs) == ["s-t0000-s0", "s-t0001-s0"], "each continues the folder of the trial it takes over"
    assert all(m["status"] == "completed" for m in runs.values())
