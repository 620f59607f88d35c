"""Bad input gets a clear error and writes nothing. Each case is the tiny config with one thing
wrong (the config file, its data, its model, its prompts); the trainer, as a real child process,
must exit 2 with `error:` naming the file and the field, print no traceback, and leave no run folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest

from conftest import read_jsonl, tiny_config
from test_cli import run_cli

Case = Callable[[Path], Path]  # writes what it needs into a folder, returns the config to run


def _config(folder: Path, **sections: Any) -> Path:
    path = folder / "bad.bond.json"
    path.write_text(json.dumps(tiny_config(folder, **sections)), encoding="utf-8")
    return path


def not_utf8(folder: Path) -> Path:
    path = _config(folder)
    path.write_bytes(path.read_bytes().replace(b'"tiny"', b'"ti\xffny"'))
    return path


def nested_too_deep(folder: Path) -> Path:
    path = folder / "bad.bond.json"
    path.write_bytes(b'{"name": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    return path


def checkpoint_not_a_model(folder: Path) -> Path:
    (folder / "notes.pt").write_bytes(b"these are my notes, not a model\n")
    return _config(folder, policy={"checkpoint": "notes.pt"})


def binary_data(folder: Path) -> Path:
    (folder / "data.jsonl").write_bytes(b'{"prompt": "a"}\n\x89PNG\r\n\x1a\n\x00\x00')
    return _config(folder, data={"train": ["data.jsonl"], "eval_fraction": 0.25})


def lone_surrogate(folder: Path) -> Path:
    (folder / "data.jsonl").write_text('{"prompt": "fine"}\n' * 8 + '{"prompt": "bad \\ud800 escape"}\n', encoding="utf-8")
    return _config(folder, data={"train": ["data.jsonl"], "eval_fraction": 0.25})


def huge_prompt(folder: Path) -> Path:
    with open(folder / "data.jsonl", "w", encoding="utf-8") as handle:
        handle.write('{"prompt": "fine"}\n' * 8)
        handle.write(json.dumps({"prompt": "x" * 2_000_000}) + "\n")
    return _config(folder, data={"train": ["data.jsonl"], "eval_fraction": 0.25})


def no_room_for_prompts(folder: Path) -> Path:
    return _config(folder, sampling={"max_new_tokens": 32})  # the tiny GPT's whole context


def deep_data_row(folder: Path) -> Path:
    (folder / "data.jsonl").write_text('{"prompt": "a"}\n{"prompt": ' + "[" * 5000 + "]" * 5000 + "}\n", encoding="utf-8")
    return _config(folder, data={"train": ["data.jsonl"], "eval_fraction": 0.25})


CASES: list[tuple[Case, list[str]]] = [
    (not_utf8, ["bad.bond.json", "not UTF-8 text: byte 0xff at offset"]),
    (nested_too_deep, ["bad.bond.json", "nested more than 64 levels deep"]),
    (checkpoint_not_a_model, ["policy.checkpoint", "notes.pt", "is not a model file the trainer can load"]),
    (binary_data, ["data.jsonl:2", "not UTF-8 text", "byte 0x89"]),
    (lone_surrogate, ["data.jsonl:9", "column 'prompt'", "lone surrogate (U+D800)"]),
    (huge_prompt, ["data.jsonl:9", "column 'prompt'", "2,000,000 characters"]),
    (no_room_for_prompts, ["bad.bond.json", "sampling.max_new_tokens", "policy.gpt.context"]),
    (deep_data_row, ["data.jsonl:2", "nested more than 64 levels deep"]),
]


@pytest.mark.parametrize("case, said", CASES, ids=[case.__name__ for case, _ in CASES])
def test_bad_input_exits_2_naming_file_and_field_and_writes_no_run(case: Case, said: list[str], tmp_path: Path) -> None:
    config = case(tmp_path)
    run_dir = tmp_path / "run"
    result = run_cli("train", "--config", str(config), "--run-dir", str(run_dir), timeout=120)
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr, result.stderr[-2000:]
    for words in said:
        assert words in result.stderr, f"{words!r} not in: {result.stderr[-1000:]}"
    assert not run_dir.exists(), f"a bad input left {sorted(p.name for p in run_dir.iterdir())}"
    # validate, which the editor runs as the user types, says the same where it can without the model
    if case in (not_utf8, nested_too_deep, no_room_for_prompts):
        checked = run_cli("validate", "--config", str(config))
        assert checked.returncode == 2
        assert any(words in json.dumps(json.loads(checked.stdout)["problems"], ensure_ascii=False) for words in said[1:])


def test_a_reward_out_of_range_names_the_reward_prompt_and_completion(write_config: Callable[..., Path], tmp_path: Path) -> None:
    (tmp_path / "huge.py").write_text("def score(prompts, completions):\n    return [1e308 if i % 2 else -1e308 for i in range(len(completions))]\n")
    config = write_config(reward={"type": "python", "function": "huge.py:score"}, samples={"every": 0}, eval={"every": 0})
    result = run_cli("train", "--config", str(config), "--run-dir", str(tmp_path / "run"))
    assert result.returncode == 1
    assert "reward huge.py:score returned -1e+308 for prompt" in result.stderr and "and completion" in result.stderr, result.stderr
    assert "within ±1e+30" in result.stderr and "not JSON compliant" not in result.stderr
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["status"] == "failed" and meta["error"]["type"] == "reward"
    assert read_jsonl(tmp_path / "run" / "metrics.jsonl") == [], "no line with an overflowed mean"


def test_prompts_longer_than_the_room_are_said_once_with_the_count_and_the_fields(tmp_path: Path) -> None:
    (tmp_path / "data.jsonl").write_text("".join(json.dumps({"prompt": f"{i}:" + "x" * 60}) + "\n" for i in range(10))
                                         + "".join(json.dumps({"prompt": f"s{i}"}) + "\n" for i in range(6)), encoding="utf-8")
    config = _config(tmp_path, data={"train": ["data.jsonl"], "eval_fraction": 0.25}, train={"steps": 2},
                     eval={"every": 0}, samples={"every": 0})
    result = run_cli("train", "--config", str(config), "--run-dir", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stdout.splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: 10 of 16 prompts are longer than the 24 tokens the context leaves them (policy.gpt.context "
                        "32 − sampling.max_new_tokens 8); they are cut to their last 24 tokens. Use a model with a longer "
                        "context or lower sampling.max_new_tokens to keep them whole."], result.stdout
    assert "prompts are longer" in (tmp_path / "run" / "trainer.log").read_text()
