"""Prompt sources (.jsonl, .json, .parquet, .csv, save_to_disk folders, name:split), chat-message
prompts, other columns reaching the reward, and composite rewards."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Callable

import pytest

from bond_trainer.inputs.config import ConfigError, load_config
from bond_trainer.run.console import Console
from bond_trainer.inputs.data import DataError, load_prompt_sets
from bond_trainer.training.session import run_training
from conftest import TINY_PROMPTS, read_jsonl

ROWS = [{"prompt": p, "length": len(p), "topic": f"t{i % 3}"} for i, p in enumerate(TINY_PROMPTS)]


def write_source(folder: Path, kind: str, rows: list[dict[str, Any]] = ROWS) -> str:
    """The same rows in one of the supported forms; returns the config's data.train entry."""
    if kind == "jsonl":
        (folder / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        return "rows.jsonl"
    if kind == "json":
        (folder / "rows.json").write_text(json.dumps(rows))
        return "rows.json"
    import datasets
    table = datasets.Dataset.from_list(rows)
    if kind == "parquet":
        table.to_parquet(str(folder / "rows.parquet"))
        return "rows.parquet"
    if kind == "csv":
        table.to_csv(str(folder / "rows.csv"), index=False)
        return "rows.csv"
    if kind == "save_to_disk":
        table.save_to_disk(str(folder / "rows-dataset"))
        return "rows-dataset"
    datasets.DatasetDict({"train": table, "test": table}).save_to_disk(str(folder / "splits"))
    return "splits:train"


@pytest.mark.parametrize("kind", ["jsonl", "json", "parquet", "csv", "save_to_disk", "save_to_disk:split"])
def test_every_source_kind_gives_the_same_prompts_and_columns(kind: str, write_config: Callable[..., Path],
                                                              tmp_path: Path) -> None:
    entry = write_source(tmp_path, kind)
    cfg = load_config(write_config(data={"train": [entry], "eval_fraction": 0.25}))
    sets = load_prompt_sets(cfg)
    every = sorted([*sets.train, *sets.eval], key=lambda p: TINY_PROMPTS.index(p.value))
    assert [p.value for p in every] == TINY_PROMPTS
    assert [p.columns for p in every] == [{"length": r["length"], "topic": r["topic"]} for r in ROWS]


def test_data_problems_name_the_source_the_row_and_the_column(write_config: Callable[..., Path], tmp_path: Path) -> None:
    import datasets
    rows = [{"prompt": "fine"}, {"prompt": "fine too"}, {"prompt": 42}]
    datasets.Dataset.from_list([{"prompt": str(r["prompt"]), "n": i} for i, r in enumerate(rows)]).to_parquet(str(tmp_path / "ok.parquet"))
    (tmp_path / "bad.json").write_text(json.dumps(rows))
    cfg = load_config(write_config(data={"train": ["bad.json"], "eval_fraction": 0.25}))
    with pytest.raises(DataError, match=r"bad\.json row 3, column 'prompt': expected a string or a list of chat messages"):
        load_prompt_sets(cfg)
    chat = [{"prompt": [{"role": "user", "content": "hi"}]}, {"prompt": [{"role": "narrator", "content": "x"}]}]
    (tmp_path / "chat.jsonl").write_text("".join(json.dumps(r) + "\n" for r in chat))
    cfg = load_config(write_config(data={"train": ["chat.jsonl"], "eval_fraction": 0.5}))
    with pytest.raises(DataError, match=r"chat\.jsonl:2, column 'prompt', message 1: role 'narrator'"):
        load_prompt_sets(cfg)
    cfg = load_config(write_config(data={"train": ["ok.parquet"], "field": "text", "eval_fraction": 0.5}))
    with pytest.raises(DataError, match=r"ok\.parquet row 1: no column 'text' \(columns: prompt, n"):
        load_prompt_sets(cfg)


def test_a_data_set_missing_from_the_cache_says_how_to_fetch_it(write_config: Callable[..., Path], tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-cache"))
    cfg = load_config(write_config(data={"train": ["someone/reviews:train"], "eval_fraction": 0.25}))
    with pytest.raises(DataError, match=r"'someone/reviews' \(split 'train'\) is not in the local Hugging Face cache.*"
                                        r"Nothing downloads at run time"):
        load_prompt_sets(cfg)
    with pytest.raises(ConfigError, match=r"data\.train\[0\]: .*missing\.parquet does not exist"):
        load_config(write_config(data={"train": ["missing.parquet"]}))


def test_offline_switches_the_already_imported_libraries_and_restores_them() -> None:
    # datasets and huggingface_hub read HF_*_OFFLINE once, at import: the environment alone would
    # leave an imported library trying the network (a missing data set then waited ~20 s to fail).
    import datasets
    import huggingface_hub.constants
    from bond_trainer.inputs.data import _offline
    before = (datasets.config.HF_DATASETS_OFFLINE, huggingface_hub.constants.HF_HUB_OFFLINE, huggingface_hub.is_offline_mode())
    with _offline():
        assert datasets.config.HF_DATASETS_OFFLINE is True
        assert huggingface_hub.constants.HF_HUB_OFFLINE is True and huggingface_hub.is_offline_mode()
    assert (datasets.config.HF_DATASETS_OFFLINE, huggingface_hub.constants.HF_HUB_OFFLINE, huggingface_hub.is_offline_mode()) == before


def test_columns_reach_a_python_reward_aligned_with_the_prompts(write_config: Callable[..., Path], tmp_path: Path) -> None:
    """TRL's convention: fn(prompts, completions, **columns). The reward is 1 exactly when the
    column belongs to the prompt it came with, so any misalignment lowers it."""
    import datasets
    datasets.Dataset.from_list(ROWS).to_parquet(str(tmp_path / "rows.parquet"))
    (tmp_path / "aligned.py").write_text(
        "def score(prompts, completions, length, topic):\n"
        "    assert len(prompts) == len(completions) == len(length) == len(topic)\n"
        "    return [float(n == len(p)) for p, n in zip(prompts, length)]\n")
    config = write_config(data={"train": ["rows.parquet"], "eval_fraction": 0.25},
                          reward={"type": "python", "function": "aligned.py:score"}, train={"steps": 3})
    out = io.StringIO()
    assert run_training(load_config(config), tmp_path / "run", False, config, Console(out=out, err=out)) == 0, out.getvalue()
    metrics = read_jsonl(tmp_path / "run" / "metrics.jsonl")
    assert all(m["reward/policy"] == 1.0 for m in metrics if m["kind"] == "train")
    evals = [m for m in metrics if m["kind"] == "eval"]
    assert evals and all(m["eval/reward/policy"] == pytest.approx(1.0) and m["eval/reward/ref"] == pytest.approx(1.0)
                         for m in evals), evals


def test_a_reward_model_template_names_columns() -> None:
    from bond_trainer.inputs.rewards import HFRewardModel
    model = HFRewardModel.__new__(HFRewardModel)
    model.template, model.chat = "[{topic}] {prompt} => {completion}", False
    assert model.text("how was it?", "great", {"topic": "food"}) == "[food] how was it? => great"
    assert model.text([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}], "yo", {"topic": None}) \
        == "[] system: be brief\nuser: hi => yo"


def test_chat_prompts_use_the_policys_chat_template_and_need_one(hf_models: dict[str, Path],
                                                                 write_config: Callable[..., Path], tmp_path: Path) -> None:
    import datasets
    rows = [{"prompt": [{"role": "system", "content": "You review restaurants."},
                        {"role": "user", "content": f"Review {i}: the food"}]} for i in range(8)]
    datasets.Dataset.from_list(rows).to_parquet(str(tmp_path / "chat.parquet"))
    config = write_config(data={"train": ["chat.parquet"], "eval_fraction": 0.25},
                          policy={"hf": {"model": str(hf_models["llama"])}}, reward={"type": "length", "target_length": 10},
                          train={"steps": 2, "batch_size": 4, "lr": 0.01, "warmup_steps": 0, "seed": 3, "device": "cpu"},
                          sampling={"max_new_tokens": 6}, eval={"every": 2, "prompts": 2, "policy_samples": 2,
                                                                 "mc_samples": 4, "n_max": 4, "bon_n": 2},
                          samples={"every": 2, "prompts": 2, "mc_samples": 4})
    out = io.StringIO()
    assert run_training(load_config(config), tmp_path / "run", False, config, Console(out=out, err=out)) == 0, out.getvalue()
    shown = read_jsonl(tmp_path / "run" / "samples.jsonl")[0]["prompt"]
    assert shown.startswith("system: You review restaurants.\nuser: Review ")
    from transformers import AutoTokenizer
    from bond_trainer.models.hf import HFTokenizer
    tokenizer = HFTokenizer(AutoTokenizer.from_pretrained(str(hf_models["llama"])), False, "policy.hf")
    ids = tokenizer.encode_chat(rows[0]["prompt"])
    assert tokenizer.hf.decode(ids).startswith("<|system|>You review restaurants.<|end|><|user|>Review 0")
    assert ids[-1] == tokenizer.hf.convert_tokens_to_ids("<|assistant|>")  # the generation prompt
    # The byte GPT has no chat template: messages are a config error naming the field and the row.
    byte_config = write_config(name="byte.bond.json", data={"train": ["chat.parquet"], "eval_fraction": 0.25})
    out = io.StringIO()
    assert run_training(load_config(byte_config), tmp_path / "byte", False, byte_config, Console(out=out, err=out)) == 2
    assert not (tmp_path / "byte").exists(), "a run that could not start leaves nothing behind"
    error = out.getvalue()
    assert "data.field" in error and "chat.parquet row" in error and "has none" in error


def test_a_composite_reward_is_the_weighted_sum_and_logs_each_component(write_config: Callable[..., Path],
                                                                        tmp_path: Path) -> None:
    reward = [{"type": "keyword", "pattern": "[ -~]", "weight": 1.0, "name": "Printable"},
              {"type": "length", "target_length": 4, "weight": 0.5, "name": "brevity"}]
    config = write_config(reward=reward, train={"steps": 3})
    cfg = load_config(config)
    assert [c.name for c in cfg.reward.components] == ["Printable", "brevity"]
    assert cfg.to_json()["reward"][1]["target_length"] == 4  # the resolved config keeps the list form
    out = io.StringIO()
    assert run_training(cfg, tmp_path / "run", False, config, Console(out=out, err=out)) == 0, out.getvalue()
    lines = [m for m in read_jsonl(tmp_path / "run" / "metrics.jsonl") if m["kind"] == "train"]
    for m in lines:
        for role in ("policy", "anchor", "bon"):
            assert {f"reward/printable/{role}", f"reward/brevity/{role}"} <= m.keys()
        assert m["reward/policy"] == pytest.approx(m["reward/printable/policy"] + 0.5 * m["reward/brevity/policy"])
        assert m["reward/anchor"] == pytest.approx(m["reward/printable/anchor"] + 0.5 * m["reward/brevity/anchor"])
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert {"reward_printable", "reward_brevity"} <= {g["id"] for g in meta["metric_groups"]}
    assert meta["config_summary"][0] == {"label": "reward", "value": "1×printable + 0.5×brevity"}
    twice = [{"type": "sentiment"}, {"type": "sentiment", "weight": 2}]
    with pytest.raises(ConfigError, match=r"reward\[1\]\.name: two components are named 'sentiment'"):
        load_config(write_config(reward=twice))
