"""ONNX export of the built-in byte GPT, with KV-cache inputs and outputs, for the editor's playground
(onnxruntime-node runs it in the extension host).

Graph: inputs `input_ids` [batch, new] int64, `attention_mask` [batch, total] int64 (1 = real token,
left padding), and per layer `past_key_{i}` / `past_value_{i}` [batch, heads, past, head_dim] float32
(past may be 0); outputs `logits` [batch, new, vocab] and `present_key_{i}` / `present_value_{i}`
[batch, heads, total, head_dim]. Beside it, `model.json` describes tokenizer, shapes and provenance.
The folder is written under a temporary name and renamed into place, so a reader never sees half.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import tempfile
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

import torch

from .models.byte_gpt import EOS_ID, PAD_ID, GPTModule, load_byte_gpt

EXPORT_FORMAT = "bond-onnx/1"
EXPORTS_DIR = "exports"
OPSET = 14


class ExportError(Exception):
    """An export that cannot be done; the message says what to do."""


@dataclass
class ExportInfo:
    format: str
    role: str
    step: Optional[int]
    source: str
    weights_sha256: str
    tokenizer: dict[str, Any]
    context: int
    layers: int
    heads: int
    width: int
    head_dim: int
    opset: int
    torch_version: str
    inputs: list[str]
    outputs: list[str]


class _KvCacheGraph(torch.nn.Module):
    """Flat tensor arguments in and out, as ONNX needs (the module itself takes a list of pairs)."""

    def __init__(self, module: GPTModule):
        super().__init__()
        self.module = module

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, *past: torch.Tensor) -> tuple[torch.Tensor, ...]:
        cache = [(past[2 * i], past[2 * i + 1]) for i in range(len(past) // 2)]
        logits, presents = self.module(input_ids, attention_mask, cache)
        return (logits, *[t for pair in presents for t in pair])


def weights_hash(module: GPTModule) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def load_role(source: Path, role: str) -> GPTModule:
    """policy/reference: a model.pt (or a checkpoint folder's); anchor: a checkpoint folder's anchor.pt."""
    try:
        if role == "anchor":
            if not source.is_dir():
                raise ExportError(f"{source}: the anchor is exported from a checkpoint folder (checkpoints/step-N)")
            module = load_byte_gpt(source / "model.pt")
            anchor = source / "anchor.pt"
            if not anchor.exists():
                raise ExportError(f"{anchor} does not exist: this run's anchor is the reference (fixed anchor); export the reference instead")
            module.load_state_dict(torch.load(anchor, map_location="cpu", weights_only=True))
            return module
        return load_byte_gpt(source)
    except (OSError, ValueError, RuntimeError) as error:
        raise ExportError(f"{source}: cannot load the {role} model: {error}") from error


def export_onnx(source: Path, out_dir: Path, role: str = "policy", step: Optional[int] = None) -> ExportInfo:
    """Export a model file or a checkpoint folder's policy/anchor (the `export-onnx` command)."""
    require_onnx()
    return export_module(load_role(source, role), out_dir, role, step, str(source))


def require_onnx() -> None:
    try:
        import onnx  # noqa: F401  (torch's exporter needs it)
    except ImportError as error:
        raise ExportError("ONNX export needs the onnx package: pip install onnx (see trainer/requirements-extras.txt)") from error


def export_module(module: GPTModule, out_dir: Path, role: str, step: Optional[int], source: str) -> ExportInfo:
    """Export a module (left untouched: a CPU copy in eval mode is traced) into out_dir, atomically."""
    module = copy.deepcopy(module).cpu().eval()
    spec = module.spec
    head_dim = spec.width // spec.heads
    inputs = ["input_ids", "attention_mask"] + [f"past_{kind}_{i}" for i in range(spec.layers) for kind in ("key", "value")]
    outputs = ["logits"] + [f"present_{kind}_{i}" for i in range(spec.layers) for kind in ("key", "value")]
    axes: dict[str, dict[int, str]] = {"input_ids": {0: "batch", 1: "new"}, "attention_mask": {0: "batch", 1: "total"},
                                       "logits": {0: "batch", 1: "new"}}
    axes.update({name: {0: "batch", 2: "past"} for name in inputs[2:]})
    axes.update({name: {0: "batch", 2: "total"} for name in outputs[1:]})
    # Example shapes: a non-empty past so the trace covers the cache path; all of them are dynamic.
    batch, new, past = 2, 3, 2
    example = (torch.randint(0, 256, (batch, new)), torch.ones(batch, past + new, dtype=torch.long),
               *[torch.zeros(batch, spec.heads, past, head_dim) for _ in inputs[2:]])
    info = ExportInfo(EXPORT_FORMAT, role, step, source, weights_hash(module),
                      {"type": "bytes", "vocab_size": spec.vocab_size, "eos_id": EOS_ID, "pad_id": PAD_ID},
                      spec.context, spec.layers, spec.heads, spec.width, head_dim, OPSET, torch.__version__, inputs, outputs)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{out_dir.name}-", dir=out_dir.parent))
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer warnings about the context-length check (not in the graph)
            torch.onnx.export(_KvCacheGraph(module), example, str(tmp / "model.onnx"), input_names=inputs,
                              output_names=outputs, dynamic_axes=axes, opset_version=OPSET, dynamo=False)
        (tmp / "model.json").write_text(json.dumps(asdict(info), indent=2) + "\n")
        if out_dir.exists():
            old = out_dir.with_name(f".old-{out_dir.name}-{os.getpid()}")
            os.replace(out_dir, old)
            os.replace(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    except Exception:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return info


def export_step(run_dir: Path, step: int, models: dict[str, GPTModule], keep_steps: set[int]) -> Path:
    """A run's exports for one step: exports/step-N/{role}; the folder of the step appears whole
    (built beside it, then renamed). Exports of steps not in keep_steps are removed."""
    root = run_dir / EXPORTS_DIR
    target = root / f"step-{step}"
    staging = root / f".tmp-step-{step}"
    shutil.rmtree(staging, ignore_errors=True)
    for role, module in models.items():
        export_module(module, staging / role, role, step, f"{run_dir.name} step {step}")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)
    for folder in root.iterdir():
        if folder.name.startswith("step-") and folder.name[5:].isdigit() and int(folder.name[5:]) not in keep_steps:
            shutil.rmtree(folder, ignore_errors=True)
    return target
