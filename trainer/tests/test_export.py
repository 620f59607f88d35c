"""ONNX export: the graph matches PyTorch (full prefix and KV-cache decoding), the folder appears
atomically with its metadata, and bad input gets a clear error."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import onnxruntime as ort  # requirements-dev.txt; scripts/bootstrap-python --dev installs it
import pytest
import torch

from conftest import TRAINER_DIR
from bond_trainer.models.export import EXPORT_FORMAT, ExportError, export_onnx, weights_hash
from bond_trainer.models.byte_gpt import GPTModelSpec, GPTModule, save_byte_gpt


def tiny_model(tmp_path: Path, seed: int = 0) -> tuple[GPTModule, Path]:
    torch.manual_seed(seed)
    module = GPTModule(GPTModelSpec(layers=2, heads=2, width=32, context=48)).eval()
    path = tmp_path / "model.pt"
    save_byte_gpt(module, path)
    return module, path


def run(session: ort.InferenceSession, ids: np.ndarray, mask: np.ndarray, past: list[np.ndarray]) -> list[np.ndarray]:
    feeds = {"input_ids": ids, "attention_mask": mask}
    names = [i.name for i in session.get_inputs()][2:]
    feeds.update(dict(zip(names, past)))
    return session.run(None, feeds)


def empty_past(module: GPTModule, batch: int) -> list[np.ndarray]:
    spec = module.spec
    return [np.zeros((batch, spec.heads, 0, spec.width // spec.heads), np.float32) for _ in range(2 * spec.layers)]


def test_logits_match_pytorch_for_several_batches_lengths_and_left_padding(tmp_path: Path) -> None:
    module, path = tiny_model(tmp_path)
    info = export_onnx(path, tmp_path / "onnx", "reference")
    session = ort.InferenceSession(str(tmp_path / "onnx" / "model.onnx"))
    rng = np.random.default_rng(0)
    for batch, length in ((1, 1), (3, 7), (5, 20)):
        ids = rng.integers(0, 256, (batch, length)).astype(np.int64)
        mask = np.ones((batch, length), np.int64)
        mask[0, : length // 2] = 0  # left padding in the first row
        logits = run(session, ids, mask, empty_past(module, batch))[0]
        with torch.no_grad():
            expected, _ = module(torch.from_numpy(ids), torch.from_numpy(mask))
        assert np.abs(logits - expected.numpy()).max() <= 1e-4, (batch, length)
    assert info.format == EXPORT_FORMAT and info.weights_sha256 == weights_hash(module)


def test_kv_cache_decoding_equals_full_prefix(tmp_path: Path) -> None:
    module, path = tiny_model(tmp_path, seed=1)
    export_onnx(path, tmp_path / "onnx")
    session = ort.InferenceSession(str(tmp_path / "onnx" / "model.onnx"))
    ids = np.random.default_rng(1).integers(0, 256, (2, 12)).astype(np.int64)
    full = run(session, ids, np.ones_like(ids), empty_past(module, 2))[0]
    # prefill 5 tokens, then feed the rest one at a time through the cache
    out = run(session, ids[:, :5], np.ones((2, 5), np.int64), empty_past(module, 2))
    steps = [out[0]]
    past = out[1:]
    for t in range(5, 12):
        out = run(session, ids[:, t:t + 1], np.ones((2, t + 1), np.int64), past)
        steps.append(out[0])
        past = out[1:]
    assert np.abs(np.concatenate(steps, axis=1) - full).max() <= 1e-4


def test_metadata_describes_the_graph_and_no_temporary_folder_is_left(tmp_path: Path) -> None:
    module, path = tiny_model(tmp_path)
    export_onnx(path, tmp_path / "exports" / "policy", "policy", step=7)
    meta = json.loads((tmp_path / "exports" / "policy" / "model.json").read_text())
    assert meta["tokenizer"] == {"type": "bytes", "vocab_size": 258, "eos_id": 256, "pad_id": 257}
    assert (meta["layers"], meta["heads"], meta["head_dim"], meta["context"], meta["step"]) == (2, 2, 16, 48, 7)
    session = ort.InferenceSession(str(tmp_path / "exports" / "policy" / "model.onnx"))
    assert [i.name for i in session.get_inputs()] == meta["inputs"]
    assert [o.name for o in session.get_outputs()] == meta["outputs"]
    assert sorted(p.name for p in (tmp_path / "exports").iterdir()) == ["policy"]


def test_a_failed_export_keeps_the_previous_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, path = tiny_model(tmp_path)
    out = tmp_path / "onnx"
    export_onnx(path, out)
    before = (out / "model.onnx").read_bytes()

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(torch.onnx, "export", broken)
    with pytest.raises(RuntimeError, match="exporter crashed"):
        export_onnx(path, out)
    assert (out / "model.onnx").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-")) == []


def test_the_anchor_needs_a_checkpoint_with_one(tmp_path: Path) -> None:
    _, path = tiny_model(tmp_path)
    with pytest.raises(ExportError, match="checkpoint folder"):
        export_onnx(path, tmp_path / "onnx", "anchor")
    checkpoint = tmp_path / "step-3"
    checkpoint.mkdir()
    (checkpoint / "model.pt").write_bytes(path.read_bytes())
    with pytest.raises(ExportError, match="anchor.pt does not exist"):
        export_onnx(checkpoint, tmp_path / "onnx", "anchor")


def test_cli_exports_a_checkpoint_and_refuses_a_missing_one(tmp_path: Path) -> None:
    _, path = tiny_model(tmp_path)
    checkpoint = tmp_path / "checkpoints" / "step-12"
    checkpoint.mkdir(parents=True)
    (checkpoint / "model.pt").write_bytes(path.read_bytes())
    env = {"PYTHONPATH": str(TRAINER_DIR), "PATH": "/usr/bin:/bin"}
    ok = subprocess.run([sys.executable, "-m", "bond_trainer", "export-onnx", "--checkpoint", str(checkpoint),
                         "--out", str(tmp_path / "out")], capture_output=True, text=True, env=env, timeout=240)
    assert ok.returncode == 0, ok.stderr
    assert json.loads((tmp_path / "out" / "model.json").read_text())["step"] == 12
    missing = subprocess.run([sys.executable, "-m", "bond_trainer", "export-onnx", "--checkpoint", str(tmp_path / "nope"),
                              "--out", str(tmp_path / "out2")], capture_output=True, text=True, env=env, timeout=240)
    assert missing.returncode == 2
    assert str(tmp_path / "nope") in missing.stderr and "cannot load the policy model" in missing.stderr
    assert not (tmp_path / "out2").exists()


def test_a_run_with_export_onnx_writes_policy_anchor_and_reference_for_the_kept_checkpoints(
        write_config: Callable[..., Path], tmp_path: Path) -> None:
    from bond_trainer.inputs.config import load_config
    from bond_trainer.run.console import Console
    from bond_trainer.models import load_byte_gpt
    from bond_trainer.training.session import run_training
    config = write_config(train={"steps": 9}, checkpoint={"every": 3, "keep_last": 2}, export={"onnx": True})
    run_dir = tmp_path / "run"
    out = io.StringIO()
    assert run_training(load_config(config), run_dir, False, config, Console(out=out, err=out)) == 0, out.getvalue()
    exports = sorted(p.name for p in (run_dir / "exports").iterdir())
    assert exports == ["step-6", "step-9"], exports  # the steps whose checkpoints are kept
    for role in ("policy", "anchor", "reference"):
        meta = json.loads((run_dir / "exports" / "step-9" / role / "model.json").read_text())
        assert (meta["role"], meta["step"]) == (role, 9)
    policy = load_byte_gpt(run_dir / "checkpoints" / "step-9" / "model.pt")
    assert json.loads((run_dir / "exports" / "step-9" / "policy" / "model.json").read_text())["weights_sha256"] == weights_hash(policy)
    session = ort.InferenceSession(str(run_dir / "exports" / "step-9" / "anchor" / "model.onnx"))
    ids = np.array([[1, 2, 3]], np.int64)
    assert run(session, ids, np.ones_like(ids), empty_past(policy, 1))[0].shape == (1, 3, 258)


def test_export_onnx_without_the_onnx_package_is_a_config_problem(write_config: Callable[..., Path],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from bond_trainer.inputs.config import ConfigError, load_config
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnx" else real(name, *a))
    with pytest.raises(ConfigError) as error:
        load_config(write_config(export={"onnx": True}))
    assert [p.field for p in error.value.problems] == ["export.onnx"]
    assert "pip install 'onnx>=1.16'" in str(error.value)
