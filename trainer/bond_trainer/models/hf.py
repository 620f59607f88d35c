"""Hugging Face causal LMs behind the `CausalLM` interface, loaded from local files only.

Nothing downloads at run time: a model is a local folder (config.json, weights, tokenizer files)
or the name of a model already in the Hugging Face cache (HF_HOME). transformers is imported here
only, so the core trainer keeps depending on torch alone.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

import torch
from torch import nn

from ..inputs.config import locate_model as locate  # the one resolver of model names (also used for run.json)
from ..inputs.extras import needs


class ModelLoadError(Exception):
    """A model or tokenizer that cannot be loaded; the message names the field, the path and the fix."""


def require_transformers(field: str) -> Any:
    try:
        import transformers
    except ImportError:
        raise ModelLoadError(f"{field}: {needs('transformers', 'a Hugging Face model')}") from None
    # Progress bars would flood the run's log and the editor's output channel.
    transformers.utils.logging.disable_progress_bar()
    return transformers




def fetch_hint(value: str) -> str:
    return (f"fetch it beforehand on a machine with internet access, e.g. `hf download {value} --local-dir "
            f"models/{Path(value).name}`, and point the field at that folder")


def load_pretrained(loader: Any, location: str, field: str, what: str, **kwargs: Any) -> Any:
    try:
        return loader.from_pretrained(location, local_files_only=True, **kwargs)
    except (OSError, ValueError, RuntimeError) as error:
        where = "the folder" if Path(location).is_absolute() else "the name (no such folder, so it was looked up in the Hugging Face cache)"
        raise ModelLoadError(f"{field}: cannot load the {what} from {where} {location!r}: {error}. "
                             f"Nothing is downloaded at run time; {fetch_hint(location)}") from None


class HFTokenizer:
    """The `Tokenizer` protocol over a Hugging Face tokenizer, with optional chat formatting."""

    def __init__(self, tokenizer: Any, chat_template: bool, field: str):
        self.hf = tokenizer
        self.chat_template = chat_template
        eos = tokenizer.eos_token_id
        if not isinstance(eos, int):
            raise ModelLoadError(f"{field}: the tokenizer has no end-of-sequence token (eos_token_id is {eos!r}); "
                                 "completions could never end. Set eos_token in tokenizer_config.json")
        self.eos_id: int = eos
        # Padding is masked out everywhere, so a model without a pad token can pad with EOS.
        pad = tokenizer.pad_token_id
        self.pad_id: int = pad if isinstance(pad, int) else eos
        self.vocab_size: int = len(tokenizer)
        if chat_template and not getattr(tokenizer, "chat_template", None):
            raise ModelLoadError(f"{field}: chat_template is true but the tokenizer has no chat template; "
                                 "set chat_template to false or use a chat model's tokenizer")

    def encode(self, text: str) -> list[int]:
        if self.chat_template:
            encoded = self.hf.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                                                  tokenize=True, return_dict=True)
            return list(encoded["input_ids"])
        return list(self.hf(text, add_special_tokens=True)["input_ids"])

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.hf, "chat_template", None))

    def encode_chat(self, messages: list[dict[str, str]]) -> list[int]:
        """Chat messages (system, user, assistant turns) with the generation prompt added."""
        encoded = self.hf.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)
        return list(encoded["input_ids"])

    def decode(self, ids: list[int]) -> str:
        return str(self.hf.decode(ids, skip_special_tokens=True))


class HFCausalLM:
    """`CausalLM` over a transformers causal LM (or a peft model around one).

    `adapter` picks the LoRA adapter this role runs with (None: no adapters, or the plain model);
    `use_base` runs the base model with every adapter disabled (the reference, when LoRA shares it).
    """

    def __init__(self, module: nn.Module, tokenizer: HFTokenizer, context_length: int, name: str,
                 adapter: Optional[str] = None, use_base: bool = False):
        self.module = module
        self.tokenizer = tokenizer
        self.context_length = context_length
        self.name = name
        self.adapter = adapter
        self.use_base = use_base
        # Set by the trainer under torchrun: the DDP wrapper that the gradient-carrying forward uses.
        self.ddp: Optional[nn.Module] = None
        # The LoRA layers whose active adapter this role sets: found once, not at every token.
        self._lora_layers: Optional[list[Any]] = None
        # How this transformers version asks for the last positions' logits only (None: it cannot).
        self._keep_argument = _keep_argument(module)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                cache: Optional[Any] = None, use_cache: bool = True,
                cache_position: Optional[torch.Tensor] = None, keep_last: Optional[int] = None) -> tuple[torch.Tensor, Any]:
        """`cache_position` [T_new] marks a static cache (transformers' StaticCache): the mask then
        covers the whole preallocated length."""
        # Positions count real tokens only, so left padding does not shift them.
        every_position = (attention_mask.long().cumsum(dim=1) - 1).clamp(min=0)
        if cache_position is not None:
            positions = every_position.index_select(1, cache_position)
            extra: dict[str, Any] = {"cache_position": cache_position}
        else:
            positions = every_position[:, attention_mask.shape[1] - input_ids.shape[1]:]
            extra = {}
        if keep_last is not None and self._keep_argument:
            extra[self._keep_argument] = keep_last  # the caller slices the last positions either way
        runner = self.ddp if self.ddp is not None and torch.is_grad_enabled() else self.module
        if self.adapter is not None and self._lora_layers is None:
            self._lora_layers = lora_layers(self.module)
        with adapter_context(self.module, self._lora_layers or [], self.adapter, self.use_base):
            out = runner(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions,
                         past_key_values=cache, use_cache=use_cache, **extra)
        return out.logits, out.past_key_values if use_cache else None

    def static_cache(self, batch: int, length: int, dtype: torch.dtype) -> Any:
        """transformers' StaticCache for `length` positions (it sizes itself on the first write).
        Raises NotImplementedError, with the reason, for an architecture it does not serve."""
        transformers = require_transformers("policy.hf")
        config = getattr(self.module, "config", None)
        base = self.module.get_base_model() if hasattr(self.module, "get_base_model") else self.module
        if not getattr(base, "_can_compile_fullgraph", True) or getattr(config, "is_encoder_decoder", False):
            raise NotImplementedError(f"{type(base).__name__} does not support transformers' StaticCache")
        try:
            return transformers.StaticCache(config=config, max_cache_len=length)
        except Exception as error:  # noqa: BLE001 - an architecture StaticCache cannot hold: say why
            raise NotImplementedError(f"transformers' StaticCache refused {type(base).__name__}: {error}") from None


def _keep_argument(module: nn.Module) -> Optional[str]:
    import inspect
    base = module.get_base_model() if hasattr(module, "get_base_model") else module
    try:
        parameters = inspect.signature(base.forward).parameters
    except (TypeError, ValueError):
        return None
    return next((name for name in ("logits_to_keep", "num_logits_to_keep") if name in parameters), None)


@contextmanager
def adapter_context(module: nn.Module, layers: list[Any], adapter: Optional[str], use_base: bool) -> Iterator[None]:
    """Run a peft model with one adapter active (or all disabled), then restore what was active.

    peft's own set_adapter also flips requires_grad on every adapter; switching roles for a
    no-grad forward must not touch what the optimizer trains, so only the active name changes.
    """
    if use_base:
        with module.disable_adapter():  # type: ignore[operator]
            yield
        return
    if adapter is None:
        yield
        return
    previous = [layer._active_adapter for layer in layers]
    for layer in layers:
        layer._active_adapter = [adapter]
    try:
        yield
    finally:
        for layer, active in zip(layers, previous):
            layer._active_adapter = active


def lora_layers(module: nn.Module) -> list[Any]:
    from peft.tuners.tuners_utils import BaseTunerLayer
    return [m for m in module.modules() if isinstance(m, BaseTunerLayer)]


def context_length_of(config: Any, tokenizer: Any) -> int:
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    return int(limit) if isinstance(limit, int) and 0 < limit < 1_000_000 else 2048


def torch_dtype(name: str, device: torch.device) -> torch.dtype:
    """auto: bf16 on a CUDA device that has it, fp32 elsewhere (CPU bf16 matmuls are slow and coarse)."""
    if name == "fp32":
        return torch.float32
    if name == "bf16":
        return torch.bfloat16
    if name == "fp16":
        return torch.float16
    return torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float32


def load_causal_lm(value: str, base_dir: Path, dtype: torch.dtype, field: str) -> tuple[nn.Module, Any, str]:
    """(module, HF tokenizer, location) from a local folder or the local hub cache."""
    transformers = require_transformers(field)
    location = locate(value, base_dir)
    tokenizer = load_pretrained(transformers.AutoTokenizer, location, field, "tokenizer")
    module = load_pretrained(transformers.AutoModelForCausalLM, location, field, "causal LM", dtype=dtype)
    fuse_activations(module)
    head = module.get_output_embeddings()
    if isinstance(head, nn.Module):
        head.register_forward_pre_hook(_contiguous_input)
    return module, tokenizer, location


def _contiguous_input(_module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """The output head's input made contiguous. Models slice the hidden states to the positions whose
    logits are kept (logits_to_keep), a strided view; with gradient on, linear then runs as a batched
    matmul over a broadcast copy of the weight instead of one matrix product: 1.8× slower on
    GPT-2's [32, 33, 256] × [256, 8192] (bench/trl_compare.py's shapes). The copy is of the hidden
    states only."""
    if args and isinstance(args[0], torch.Tensor) and not args[0].is_contiguous():
        return (args[0].contiguous(), *args[1:])
    return args


def fuse_activations(module: nn.Module) -> int:
    """GPT-2's `gelu_new` is written as six elementwise tensor ops (transformers' NewGELUActivation);
    PyTorch's GELU with the tanh approximation is the same formula in one kernel (Liger and TRL's
    use_liger_kernel patch models the same way). Swapped in place; returns how many were. The logits
    agree to float rounding (tests/test_step_work.py)."""
    from transformers.activations import GELUTanh, NewGELUActivation
    swapped = 0
    for parent in module.modules():
        for name, child in list(parent.named_children()):
            if type(child) is NewGELUActivation:
                setattr(parent, name, GELUTanh())
                swapped += 1
    return swapped


def load_sequence_classifier(value: str, base_dir: Path, dtype: torch.dtype, field: str) -> tuple[nn.Module, Any, str]:
    transformers = require_transformers(field)
    location = locate(value, base_dir)
    config = load_pretrained(transformers.AutoConfig, location, field, "model config")
    labels = getattr(config, "num_labels", 1)
    if labels != 1:
        raise ModelLoadError(f"{field}: {location} has {labels} output labels; a reward model has exactly one "
                             "(its logit is the reward)")
    tokenizer = load_pretrained(transformers.AutoTokenizer, location, field, "tokenizer")
    module = load_pretrained(transformers.AutoModelForSequenceClassification, location, field,
                             "sequence-classification model", dtype=dtype)
    return module, tokenizer, location
