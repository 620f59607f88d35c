"""ONNX export of a run's models — the built-in byte GPT and Hugging Face causal LMs (LoRA merged per
role) — with KV-cache inputs and outputs, for the editor's playground (onnxruntime-node runs them in
the extension host).

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
from typing import Any, Callable, Optional

import torch

from ..inputs.extras import MissingPackage, needs, requirement
from .byte_gpt import EOS_ID, PAD_ID, GPTModule, load_byte_gpt
from ..run.layout import EXPORT_ERRORS  # names from the run-folder contract
from ..run.files import DiskFull, is_disk_full
from ..run.layout import EXPORTS as EXPORTS_DIR

EXPORT_FORMAT = "bond-onnx/1"
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


def weights_hash(module: torch.nn.Module) -> str:
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


def export_onnx(source: Path, out_dir: Path, role: str = "policy", step: Optional[int] = None,
                chat_template: Optional[bool] = None) -> ExportInfo:
    """Export a model file or a checkpoint folder's policy/anchor (the `export-onnx` command)."""
    require_onnx()
    if source.is_dir() and (source / "hf").is_dir():
        return _export_hf_checkpoint(source, out_dir, role, step, chat_template)
    if source.is_dir() and (source / "config.json").exists():
        return _export_hf_folder(source, out_dir, role, step, bool(chat_template))
    return export_module(load_role(source, role), out_dir, role, step, str(source))


def _export_hf_checkpoint(checkpoint: Path, out_dir: Path, role: str, step: Optional[int],
                          chat_template: Optional[bool]) -> ExportInfo:
    """A Hugging Face run's checkpoint: hf/ holds the policy (whole, or its LoRA adapter), anchor.pt
    the anchor's weights; the run's config (run.json beside checkpoints/) says how prompts are formatted."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from .hf import context_length_of
    run_json = checkpoint.parent.parent / "run.json"
    hf_config: dict[str, Any] = {}
    if run_json.exists():
        hf_config = (json.loads(run_json.read_text(encoding="utf-8")).get("config", {}).get("policy", {}) or {}).get("hf") or {}
    folder = checkpoint / "hf"
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        if (folder / "adapter_config.json").exists():
            from peft import PeftModel
            adapter = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
            base = AutoModelForCausalLM.from_pretrained(adapter["base_model_name_or_path"], local_files_only=True)
            if role == "reference":
                model: torch.nn.Module = base
            else:
                peft_model = PeftModel.from_pretrained(base, str(folder))
                if role == "anchor":
                    _load_anchor_adapter(peft_model, checkpoint / "anchor.pt")
                model = peft_model.merge_and_unload()
        else:
            if role == "reference":
                raise ExportError(f"{checkpoint}: a fully fine-tuned run does not keep the reference in its checkpoints; "
                                  "export the model folder named in policy.hf.model instead")
            model = AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True)
            if role == "anchor":
                model.load_state_dict(_anchor_state(checkpoint / "anchor.pt"))
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        raise ExportError(f"{checkpoint}: cannot load the {role} model: {error}") from error
    chat = bool(hf_config.get("chat_template")) if chat_template is None else chat_template
    return export_hf_module(model, tokenizer, out_dir, role, step, str(checkpoint), chat, context_length_of(model.config, tokenizer))


def _export_hf_folder(folder: Path, out_dir: Path, role: str, step: Optional[int], chat: bool) -> ExportInfo:
    """A Hugging Face model folder (e.g. policy.hf.model, a run's reference)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from .hf import context_length_of
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, RuntimeError) as error:
        raise ExportError(f"{folder}: cannot load the Hugging Face model: {error}") from error
    return export_hf_module(model, tokenizer, out_dir, role, step, str(folder), chat, context_length_of(model.config, tokenizer))


def _anchor_state(path: Path) -> dict[str, torch.Tensor]:
    if not path.exists():
        raise ExportError(f"{path} does not exist: this run's anchor is the reference (fixed anchor); export the reference instead")
    state: dict[str, torch.Tensor] = torch.load(path, map_location="cpu", weights_only=True)
    return state


def _load_anchor_adapter(peft_model: Any, path: Path) -> None:
    """anchor.pt holds the anchor adapter under names without the adapter's name; the loaded adapter is 'default'."""
    state = _anchor_state(path)
    own = {n.replace(".default.", "."): p for n, p in peft_model.named_parameters() if ".default." in n}
    if set(own) != set(state):
        raise ExportError(f"{path}: the anchor adapter does not match the policy adapter in hf/")
    with torch.no_grad():
        for name, value in state.items():
            own[name].copy_(value)


def require_onnx() -> None:
    try:
        import onnx  # noqa: F401  (torch's exporter needs it)
    except ImportError as error:
        raise MissingPackage(needs("onnx", "ONNX export"), [requirement("onnx")]) from error


def export_module(module: GPTModule, out_dir: Path, role: str, step: Optional[int], source: str) -> ExportInfo:
    """Export a module (left untouched: a CPU copy in eval mode is traced) into out_dir, atomically."""
    module = copy.deepcopy(module).cpu().eval()
    spec = module.spec
    head_dim = spec.width // spec.heads
    inputs, outputs = _graph_names(spec.layers)
    info = ExportInfo(EXPORT_FORMAT, role, step, source, weights_hash(module),
                      {"type": "bytes", "vocab_size": spec.vocab_size, "eos_id": EOS_ID, "pad_id": PAD_ID},
                      spec.context, spec.layers, spec.heads, spec.width, head_dim, OPSET, torch.__version__, inputs, outputs)
    _write_export(_KvCacheGraph(module), info, out_dir)
    return info


def _graph_names(layers: int) -> tuple[list[str], list[str]]:
    inputs = ["input_ids", "attention_mask"] + [f"past_{kind}_{i}" for i in range(layers) for kind in ("key", "value")]
    outputs = ["logits"] + [f"present_{kind}_{i}" for i in range(layers) for kind in ("key", "value")]
    return inputs, outputs


def _write_export(graph: torch.nn.Module, info: ExportInfo, out_dir: Path,
                  add_files: Optional[Callable[[Path], None]] = None) -> None:
    """Trace `graph` (the KV-cache contract of the module docstring) into out_dir with model.json and
    any `add_files`, atomically: a temporary folder, then a rename; on any failure the previous
    export stays."""
    inputs, outputs = info.inputs, info.outputs
    axes: dict[str, dict[int, str]] = {"input_ids": {0: "batch", 1: "new"}, "attention_mask": {0: "batch", 1: "total"},
                                       "logits": {0: "batch", 1: "new"}}
    axes.update({name: {0: "batch", 2: "past"} for name in inputs[2:]})
    axes.update({name: {0: "batch", 2: "total"} for name in outputs[1:]})
    # Example shapes: a non-empty past so the trace covers the cache path; all of them are dynamic.
    batch, new, past = 2, 3, 2
    example = (torch.randint(0, min(int(info.tokenizer["vocab_size"]), 100), (batch, new)),
               torch.ones(batch, past + new, dtype=torch.long),
               *[torch.zeros(batch, info.heads, past, info.head_dim) for _ in inputs[2:]])
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{out_dir.name}-", dir=out_dir.parent))
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer warnings (e.g. the context-length check, not in the graph)
            torch.onnx.export(graph, example, str(tmp / "model.onnx"), input_names=inputs, output_names=outputs,
                              dynamic_axes=axes, opset_version=OPSET, dynamo=False)
        if add_files:
            add_files(tmp)
        (tmp / "model.json").write_text(json.dumps(asdict(info), indent=2) + "\n")
        _replace_dir(tmp, out_dir)
    except Exception:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def export_step(run_dir: Path, step: int, exporters: dict[str, Callable[[Path], Any]], keep_steps: set[int]) -> Path:
    """A run's exports for one step: exports/step-N/{role}; the folder of the step appears whole
    (built beside it, then renamed). A role that cannot be exported is not a reason to stop training:
    its reason goes into exports/step-N/errors.json, which the playground shows. Exports of steps
    not in keep_steps are removed."""
    root = run_dir / EXPORTS_DIR
    target = root / f"step-{step}"
    staging = root / f".tmp-step-{step}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir(parents=True)
        errors: dict[str, str] = {}
        for role, export in exporters.items():
            try:
                export(staging / role)
            except (ExportError, MissingPackage) as error:
                if is_disk_full(error, run_dir):
                    raise
                errors[role] = str(error)
        if errors:
            (staging / EXPORT_ERRORS).write_text(json.dumps(errors, indent=2) + "\n")
    except BaseException as error:
        full = isinstance(error, Exception) and is_disk_full(error, run_dir)  # before the space is given back
        shutil.rmtree(staging, ignore_errors=True)  # the temporary folder goes on any failure
        if full:
            raise DiskFull(target, f"the ONNX export of step {step}") from error
        raise
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)
    for folder in root.iterdir():
        if folder.name.startswith("step-") and folder.name[5:].isdigit() and int(folder.name[5:]) not in keep_steps:
            shutil.rmtree(folder, ignore_errors=True)
    return target


# --- Hugging Face causal LMs ------------------------------------------------------------------------

CHAT_SENTINEL = "\u2063BOND-PROMPT\u2063"  # an invisible separator no template will produce on its own


class _HFKvCacheGraph(torch.nn.Module):
    """A transformers causal LM with the byte GPT's graph contract: positions come from the mask,
    and the cache travels as flat key/value tensors per layer."""

    def __init__(self, model: torch.nn.Module, layers: int):
        super().__init__()
        self.model = model
        self.layers = layers

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, *past: torch.Tensor) -> tuple[torch.Tensor, ...]:
        from transformers import DynamicCache
        cache = DynamicCache()
        for i in range(self.layers):
            cache.update(past[2 * i], past[2 * i + 1], i)
        new = input_ids.shape[1]
        positions = (attention_mask.long().cumsum(dim=1) - 1).clamp(min=0)[:, -new:]
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions,
                         past_key_values=cache, use_cache=True)
        presents = out.past_key_values
        flat: list[torch.Tensor] = []
        for i in range(self.layers):
            layer = presents.layers[i] if hasattr(presents, "layers") else None
            keys, values = (layer.keys, layer.values) if layer is not None else presents[i]
            flat += [keys, values]
        return (out.logits, *flat)


def chat_affixes(tokenizer: Any) -> Optional[dict[str, str]]:
    """The text a chat template puts before and after a user prompt (with the generation prompt), so
    a tokenizer without a template engine (the playground's) can format prompts the same way."""
    if not getattr(tokenizer, "chat_template", None):
        return None
    rendered = tokenizer.apply_chat_template([{"role": "user", "content": CHAT_SENTINEL}], add_generation_prompt=True,
                                             tokenize=False)
    if not isinstance(rendered, str) or rendered.count(CHAT_SENTINEL) != 1:
        raise ExportError("the chat template does not place the user's text once; the playground cannot format prompts with it")
    prefix, suffix = rendered.split(CHAT_SENTINEL)
    return {"prefix": prefix, "suffix": suffix}


def export_hf_module(model: torch.nn.Module, tokenizer: Any, out_dir: Path, role: str, step: Optional[int], source: str,
                     chat_template: bool, context: int) -> ExportInfo:
    """Export a transformers causal LM (fp32, eager attention) and its tokenizer files, atomically.
    Raises ExportError saying why when torch.onnx cannot handle the model."""
    require_onnx()
    model = copy.deepcopy(model).cpu().float().eval()
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")  # the traced graph must not depend on a fused kernel
    config = model.config
    layers = int(getattr(config, "num_hidden_layers", 0) or getattr(config, "n_layer", 0))
    heads = int(getattr(config, "num_attention_heads", 0) or getattr(config, "n_head", 0))
    kv_heads = int(getattr(config, "num_key_value_heads", None) or heads)
    width = int(getattr(config, "hidden_size", 0) or getattr(config, "n_embd", 0))
    head_dim = int(getattr(config, "head_dim", None) or width // max(heads, 1))
    if not (layers and heads and width):
        raise ExportError(f"{source}: the {config.model_type} config does not say its layers, heads and width; "
                          "this model cannot be exported for the playground")
    vocab = int(model.get_output_embeddings().weight.shape[0])
    inputs, outputs = _graph_names(layers)
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    chat = chat_affixes(tokenizer) if chat_template else None
    info = ExportInfo(EXPORT_FORMAT, role, step, source, weights_hash(model),
                      {"type": "hf", "file": "tokenizer.json", "config_file": "tokenizer_config.json", "vocab_size": vocab,
                       "eos_id": int(eos), "pad_id": int(pad), "chat": chat, "model_type": config.model_type},
                      context, layers, kv_heads, width, head_dim, OPSET, torch.__version__, inputs, outputs)

    def add_tokenizer(folder: Path) -> None:
        tokenizer.save_pretrained(str(folder / "tokenizer"))
        for name in ("tokenizer.json", "tokenizer_config.json"):
            if not (folder / "tokenizer" / name).exists():
                raise ExportError(f"the tokenizer has no {name} (a slow, Python-only tokenizer); the playground needs "
                                  "a fast tokenizer's tokenizer.json")
            os.replace(folder / "tokenizer" / name, folder / name)
        shutil.rmtree(folder / "tokenizer")

    try:
        _write_export(_HFKvCacheGraph(model, layers), info, out_dir, add_tokenizer)
    except ExportError:
        raise
    except Exception as error:  # noqa: BLE001 - torch.onnx's failures on arbitrary models are many: say which and why
        first = str(error).splitlines()[0] if str(error) else ""
        raise ExportError(f"torch.onnx could not export this {config.model_type} model: {type(error).__name__}: {first}") from error
    return info


def _replace_dir(tmp: Path, out_dir: Path) -> None:
    if out_dir.exists():
        old = out_dir.with_name(f".old-{out_dir.name}-{os.getpid()}")
        os.replace(out_dir, old)
        os.replace(tmp, out_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out_dir)


def role_exporters(roles: Any, step: int, run_name: str) -> dict[str, Callable[[Path], Any]]:
    """How to export each role of a training run (models.roles.ModelRoles) at a checkpoint."""
    source = f"{run_name} step {step}"
    models = {"policy": roles.policy, "anchor": roles.anchor, "reference": roles.reference}
    if roles.kind == "byte-gpt":
        return {role: (lambda out, m=model, r=role: export_module(m.module, out, r, step, source)) for role, model in models.items()}
    from .roles import ANCHOR_ADAPTER, POLICY_ADAPTER

    def standalone(role: str) -> torch.nn.Module:
        module = models[role].module
        module = getattr(module, "_orig_mod", module)
        if not roles.lora:
            return module
        # Merge in fp32 (a bf16 merge would round the sum), on a copy: the training model stays as it is.
        clone = copy.deepcopy(module).float()
        if role == "reference" or (role == "anchor" and roles.anchor_is_reference):
            return clone.unload()
        adapter = POLICY_ADAPTER if role == "policy" else ANCHOR_ADAPTER
        clone.base_model.set_adapter(adapter)
        return clone.merge_and_unload(adapter_names=[adapter])

    def exporter(role: str) -> Callable[[Path], Any]:
        model = models[role]
        return lambda out: export_hf_module(standalone(role), model.tokenizer.hf, out, role, step, source,
                                            model.tokenizer.chat_template, model.context_length)
    return {role: exporter(role) for role in models}
