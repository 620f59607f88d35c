from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

TRAINER_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = TRAINER_DIR.parent
CONTRACTS = REPO_ROOT / "contracts"
sys.path.insert(0, str(TRAINER_DIR))

# The CPU's threads split between pytest-xdist's workers, here and in the processes the tests start
# (trainers, sweeps, queues inherit OMP_NUM_THREADS): two workers with two threads each, and their
# trainers with two more, oversubscribed 2 cores and cost the suite ~10% more CPU time.
THREADS_PER_WORKER = max(1, min(2, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))))
os.environ.setdefault("OMP_NUM_THREADS", str(THREADS_PER_WORKER))

import torch  # noqa: E402

torch.set_num_threads(THREADS_PER_WORKER)

# An easy reward for fast tests: completions full of 'a' score high. Prompts are short so the
# tiny random model has room to move.
TINY_PROMPTS = [f"p{i}:" for i in range(24)]


def tiny_config(tmp: Path, **sections: Any) -> dict[str, Any]:
    prompts = tmp / "prompts.jsonl"
    if not prompts.exists():
        prompts.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in TINY_PROMPTS), encoding="utf-8")
    cfg: dict[str, Any] = {
        "name": "tiny",
        "algorithm": "jbond",
        "policy": {"gpt": {"layers": 1, "heads": 2, "width": 32, "context": 32}},
        "reward": {"type": "keyword", "pattern": "a"},
        "data": {"train": ["prompts.jsonl"], "eval_fraction": 0.25},
        "bond": {"n": 4, "k": 8},
        "train": {"steps": 6, "batch_size": 8, "lr": 0.003, "warmup_steps": 0, "seed": 1, "device": "cpu"},
        "sampling": {"max_new_tokens": 8},
        "eval": {"every": 3, "prompts": 4, "policy_samples": 2, "mc_samples": 8, "n_max": 8, "bon_n": 4},
        "samples": {"every": 3, "prompts": 2, "mc_samples": 4},
        "checkpoint": {"every": 3, "keep_last": 2},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    return cfg


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    def write(name: str = "tiny.bond.json", **sections: Any) -> Path:
        path = tmp_path / name
        path.write_text(json.dumps(tiny_config(tmp_path, **sections), indent=2), encoding="utf-8")
        return path
    return write


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def schema_validator(name: str) -> Any:
    import jsonschema
    schema = json.loads((CONTRACTS / "schemas" / f"{name}.schema.json").read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(schema)


def run_folder_validator(definition: str) -> Any:
    """A validator for one of run-folder.schema.json's definitions (checkpoint.json, a rank's error,
    an export's errors.json)."""
    import jsonschema
    document = json.loads((CONTRACTS / "schemas" / "run-folder.schema.json").read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator({**document["definitions"][definition], "definitions": document["definitions"]})


def assert_run_dir_valid(run_dir: Path) -> None:
    """Every file of a run folder against the shared schemas, with the reference validator."""
    run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    errors = [e.message for e in schema_validator("run").iter_errors(run)]
    assert not errors, errors
    metric_validator = schema_validator("metrics")
    # The algorithm's contract (metrics.schema.json): every train chart's series is on every train line.
    # A series declared with `every` N is on the first and every N-th train line.
    train_series = [s for g in run.get("metric_groups", []) if g["table"] == "train" for s in g["series"]]
    for line in read_jsonl(run_dir / "metrics.jsonl"):
        errors = [f"{e.json_path}: {e.message}" for e in metric_validator.iter_errors(line)]
        assert not errors, (line, errors)
        if line["kind"] == "train":
            step = line["step"]
            declared = {s["key"] for s in train_series
                        if "every" not in s or step == 1 or step % s["every"] == 0}
            assert declared <= line.keys(), (f"step {step} lacks declared metrics", sorted(declared - line.keys()))
    manifest_validator = run_folder_validator("checkpointManifest")
    for manifest in sorted((run_dir / "checkpoints").glob("step-*/checkpoint.json")):
        errors = [f"{e.json_path}: {e.message}" for e in manifest_validator.iter_errors(json.loads(manifest.read_text()))]
        assert not errors, (manifest, errors)
    sample_validator = schema_validator("sample")
    samples = run_dir / "samples.jsonl"
    if samples.exists():
        for line in read_jsonl(samples):
            errors = [f"{e.json_path}: {e.message}" for e in sample_validator.iter_errors(line)]
            assert not errors, errors


@pytest.fixture(scope="session")
def hf_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny random Hugging Face models in folders (built once per test session; nothing downloads)."""
    from hf_models import make_causal_lm, make_reward_model
    root = tmp_path_factory.mktemp("hf-models")
    return {"gpt2": make_causal_lm(root / "tiny-gpt2", "gpt2"),
            "llama": make_causal_lm(root / "tiny-llama-chat", "llama", chat=True, seed=1),
            "reward": make_reward_model(root / "tiny-reward")}
