"""The three roles of a run — policy (trained), reference (frozen π_ref) and anchor (J-BOND's moving
copy) — built from the config, with what the trainer does to them: update the anchor, save and
restore the trained weights.

Full fine-tuning holds three copies of the weights. With LoRA (Hugging Face models, peft) one base
model is held once: the policy and the anchor are two adapters on it and the reference is the base
with adapters off, so the anchor's checkpoint covers the adapter weights only.

Precision: what is updated is stored in fp32 whatever `policy.hf.dtype` says (master weights): the
policy's trainable weights, the EMA anchor and every LoRA adapter. In bf16 an AdamW step of lr 1e-5
and an EMA step of η = 0.02 round away. Frozen weights (the reference, LoRA's shared base) keep
the configured dtype; compute follows train.precision (autocast).

LoRA anchor: the anchor's EMA is the EMA of the merged update s·B·A, not of A and B separately
(their product's EMA is not the product of their EMAs). It is held at rank `lora.anchor_rank`
(default 2r) and re-factorised after each EMA step by a truncated SVD, the best approximation at
that rank; `ModelRoles.anchor_truncation` records the share of the update's energy dropped.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

from ..inputs.config import RunConfig
from .base import CausalLM
from .lora import ANCHOR_ADAPTER, POLICY_ADAPTER, LowRankDelta, _full, _load_into, lora_pairs
from .byte_gpt import ByteGPT, GPTModelSpec, GPTModule, load_byte_gpt, save_byte_gpt
from .dropout import disable_dropout
from .hf import ModelLoadError  # no transformers import: that happens only when an HF model is built



@dataclass
class ModelRoles:
    policy: CausalLM
    reference: CausalLM
    anchor: CausalLM            # the reference itself when the anchor is fixed
    kind: str                   # "byte-gpt" or "hf"
    description: str            # for the log and run.json: model, size, how it trains
    lora: bool = False
    sharded: bool = False       # FSDP: parameters are DTensor shards (see fsdp.py)
    # LoRA: the share of the EMA'd update's squared Frobenius norm the last rank truncation dropped
    # (0 while the anchor's rank holds it exactly).
    anchor_truncation: float = 0.0

    @property
    def anchor_is_reference(self) -> bool:
        return self.anchor is self.reference

    def _resharded(self) -> None:
        """FSDP keeps the root module's weights gathered after a forward (the backward would need
        them next); work on parameters must see the shards again."""
        if self.sharded:
            for model in (self.policy, self.reference, self.anchor):
                reshard = getattr(model.module, "reshard", None)
                if callable(reshard):
                    reshard()

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for _, p in self._trainable_named(POLICY_ADAPTER)]

    def _trainable_named(self, adapter: str) -> Iterator[tuple[str, nn.Parameter]]:
        if self.lora:
            marker = f".{adapter}."
            return ((n.replace(marker, "."), p) for n, p in self.policy.module.named_parameters() if marker in n)
        module = self.policy.module if adapter == POLICY_ADAPTER else self.anchor.module
        return iter(module.named_parameters())

    @torch.no_grad()
    def ema_anchor(self, eta: float) -> None:
        """θ_anchor ← (1−η)·θ_anchor + η·θ_policy; under LoRA the same on the merged updates s·B·A."""
        if self.anchor_is_reference:
            return
        self._resharded()
        if self.lora:
            dropped, total = 0.0, 0.0
            for pair in lora_pairs(self.policy.module):
                policy_delta = pair.factors(POLICY_ADAPTER)
                anchor_delta = pair.factors(ANCHOR_ADAPTER)
                merged = LowRankDelta.combine([(1 - eta, anchor_delta), (eta, policy_delta)])
                kept, lost = merged.truncated(anchor_delta.rank)
                pair.assign(ANCHOR_ADAPTER, kept)
                dropped, total = dropped + lost, total + merged.energy()
            self.anchor_truncation = dropped / total if total > 0 else 0.0
            return
        ema_update(self.anchor.module, self.policy.module, eta)

    @torch.no_grad()
    def copy_policy_to_anchor(self) -> None:
        if self.anchor_is_reference:
            return
        self._resharded()
        if self.lora:
            for pair in lora_pairs(self.policy.module):
                anchor_rank = pair.factors(ANCHOR_ADAPTER).rank
                pair.assign(ANCHOR_ADAPTER, pair.factors(POLICY_ADAPTER).padded(anchor_rank))
            self.anchor_truncation = 0.0
            return
        self.anchor.module.load_state_dict(self.policy.module.state_dict())

    def state(self, role: str) -> dict[str, torch.Tensor]:
        """The weights a checkpoint must hold to restore `role` (policy or anchor), as full tensors.
        Sharded (FSDP), every rank must call it: the shards are gathered (to rank 0 for full models)."""
        self._resharded()
        if self.lora:
            return {n: _full(p).detach().clone() for n, p in self._trainable_named(role)}
        module = self.policy.module if role == POLICY_ADAPTER else self.anchor.module
        if self.sharded:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
            return get_model_state_dict(module, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        return module.state_dict()

    def adapter_state_by_module_name(self, state: dict[str, torch.Tensor], role: str) -> dict[str, torch.Tensor]:
        """A LoRA state from `state()` under the peft model's own parameter names."""
        marker = f".{role}."
        names = {n.replace(marker, "."): n for n, _ in self.policy.module.named_parameters() if marker in n}
        return {names[k]: v for k, v in state.items()}

    @torch.no_grad()
    def load_state(self, role: str, state: dict[str, torch.Tensor], source: Path) -> None:
        self._resharded()
        if self.lora:
            own = dict(self._trainable_named(role))
            if set(own) != set(state):
                raise ValueError(f"{source}: the checkpoint's {role} adapter does not match this config's "
                                 "policy.hf.lora (different target modules?); resume with the run's own config")
            for name, value in state.items():
                _load_into(own[name], value)
            return
        module = self.policy.module if role == POLICY_ADAPTER else self.anchor.module
        if self.sharded:
            # Every rank read the same full state from the checkpoint; each keeps its shard.
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict
            set_model_state_dict(module, state, options=StateDictOptions(full_state_dict=True))
            return
        module.load_state_dict(state)


@torch.no_grad()
def ema_update(anchor: nn.Module, policy: nn.Module, eta: float) -> None:
    """θ_anchor ← (1−η)·θ_anchor + η·θ_policy, parameters and floating buffers alike."""
    for a, p in zip(anchor.parameters(), policy.parameters()):
        a.lerp_(p, eta)
    for a, p in zip(anchor.buffers(), policy.buffers()):
        if a.is_floating_point():
            a.lerp_(p, eta)
        else:
            a.copy_(p)


def needs_anchor_copy(cfg: RunConfig) -> bool:
    """A moving anchor needs its own weights; a fixed one (REINFORCE's, or anchor.kind fixed) is π_ref
    itself. The config resolves anchor.kind per algorithm when it is loaded."""
    return cfg.anchor_moves


def build_roles(cfg: RunConfig, device: torch.device) -> ModelRoles:
    if cfg.policy.hf is not None:
        return _build_hf(cfg, device)
    if cfg.policy.checkpoint is not None:
        path = cfg.resolve_path(cfg.policy.checkpoint)
        try:
            module = load_byte_gpt(path)
        except Exception as error:  # noqa: BLE001 - torch.load's failures on a foreign file are many: name the field
            first = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
            raise ModelLoadError(f"policy.checkpoint: {path} is not a model file the trainer can load ({first[:200]}); "
                                 "point it at a model.pt from `bond_trainer pretrain` or a checkpoints/step-N folder") from None
    else:
        module = GPTModule(GPTModelSpec(**asdict(cfg.policy.gpt)))
    module.to(device)
    if not cfg.train.dropout:
        disable_dropout(module)
    reference = ByteGPT(module)
    reference.module.eval().requires_grad_(False)
    policy = ByteGPT(copy.deepcopy(module).requires_grad_(True).train())
    anchor = ByteGPT(copy.deepcopy(module).eval().requires_grad_(False)) if needs_anchor_copy(cfg) else reference
    disable_dropout(reference.module)
    disable_dropout(anchor.module)
    params = sum(p.numel() for p in module.parameters())
    spec = module.spec
    return ModelRoles(policy, reference, anchor, "byte-gpt", f"byte GPT, {spec.layers} layer{'s' if spec.layers != 1 else ''} × {spec.width} wide, "
                      f"{spec.heads} heads, context {spec.context}, {params / 1e6:.2f}M parameters")


def _build_hf(cfg: RunConfig, device: torch.device) -> ModelRoles:
    from .hf import HFCausalLM, HFTokenizer, context_length_of, load_causal_lm, torch_dtype
    spec = cfg.policy.hf
    assert spec is not None
    dtype = torch_dtype(spec.dtype, device)
    base, hf_tokenizer, location = load_causal_lm(spec.model, cfg.base_dir, dtype, "policy.hf.model")
    tokenizer = HFTokenizer(hf_tokenizer, spec.chat_template, "policy.hf")
    context = context_length_of(base.config, hf_tokenizer)
    name = Path(location).name if Path(location).is_absolute() else location
    base.to(device)
    params = sum(p.numel() for p in base.parameters())
    described = f"{name} ({base.config.model_type}), {params / 1e6:.2f}M parameters, {str(dtype).replace('torch.', '')}"
    dropout_kept = cfg.train.dropout
    if spec.gradient_checkpointing:
        base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        base.config.use_cache = False
    if spec.lora is not None:
        return _lora_roles(cfg, base, tokenizer, context, name, described)
    reference_module = copy.deepcopy(base).eval().requires_grad_(False)
    # Master weights: the trained policy and the EMA anchor in fp32, the frozen reference as loaded.
    anchor_module = copy.deepcopy(base).float().eval().requires_grad_(False) if needs_anchor_copy(cfg) else None
    base.float().train().requires_grad_(True)
    for frozen in (reference_module, anchor_module):
        if frozen is not None:
            disable_dropout(frozen)
    if not dropout_kept:
        disable_dropout(base)
    if spec.compile:
        base.compile()
    policy = HFCausalLM(base, tokenizer, context, name)
    reference = HFCausalLM(reference_module, tokenizer, context, name)
    anchor = HFCausalLM(anchor_module, tokenizer, context, name) if anchor_module is not None else reference
    master = "" if dtype == torch.float32 else "; policy and anchor in fp32 (master weights)"
    return ModelRoles(policy, reference, anchor, "hf", f"{described}; full fine-tuning{master}")


def _lora_roles(cfg: RunConfig, base: Any, tokenizer: Any, context: int, name: str, described: str) -> ModelRoles:
    """One base model, frozen, shared by three roles: the policy's adapter (trained), the anchor's
    adapter (an EMA of the policy's merged updates) and the base itself as π_ref."""
    from peft import LoraConfig, get_peft_model
    from .hf import HFCausalLM
    spec = cfg.policy.hf
    assert spec is not None and spec.lora is not None
    dropout_kept = cfg.train.dropout
    lora = spec.lora
    targets: Any = list(lora.target_modules) or "all-linear"
    lora_config = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=targets,
                             task_type="CAUSAL_LM")
    anchor_rank = lora.anchor_rank or 2 * lora.r
    # The anchor adapter holds an EMA of merged updates: rank anchor_rank, no dropout, same alpha.
    anchor_config = LoraConfig(r=anchor_rank, lora_alpha=lora.alpha, lora_dropout=0.0, target_modules=targets,
                               task_type="CAUSAL_LM")
    try:
        peft_model = get_peft_model(base, lora_config, adapter_name=POLICY_ADAPTER)
    except ValueError as error:
        raise ValueError(f"policy.hf.lora.target_modules: {error}") from None
    if spec.gradient_checkpointing:
        peft_model.enable_input_require_grads()
    if needs_anchor_copy(cfg):
        peft_model.add_adapter(ANCHOR_ADAPTER, anchor_config)
        peft_model.base_model.set_adapter(POLICY_ADAPTER)  # trainable: the policy's adapter only
    for param_name, param in peft_model.named_parameters():
        if "lora_" in param_name and param.dtype != torch.float32:
            param.data = param.data.float()  # master weights: adapters are updated in fp32
    # The shared base and the anchor adapter never drop out; the policy's adapter only with train.dropout.
    if not dropout_kept:
        disable_dropout(peft_model)
    peft_model.train()
    policy = HFCausalLM(peft_model, tokenizer, context, name, adapter=POLICY_ADAPTER)
    reference = HFCausalLM(peft_model, tokenizer, context, name, use_base=True)
    anchor = HFCausalLM(peft_model, tokenizer, context, name, adapter=ANCHOR_ADAPTER) if needs_anchor_copy(cfg) else reference
    roles = ModelRoles(policy, reference, anchor, "hf", "", lora=True)
    roles.copy_policy_to_anchor()
    trainable = sum(p.numel() for p in roles.trainable_parameters())
    roles.description = f"{described}; LoRA r={lora.r}: {trainable / 1e6:.3f}M trainable (fp32)"
    if spec.compile:
        peft_model.compile()
    return roles


def save_policy_weights(roles: ModelRoles, path: Path, extra: dict[str, Any], state: dict[str, torch.Tensor]) -> None:
    """model.pt of a checkpoint (`state` from roles.state): for the byte GPT a file `policy.checkpoint`
    can load, else the state dict."""
    if roles.kind == "byte-gpt":
        save_byte_gpt(roles.policy.module, path, extra, state)  # type: ignore[arg-type]
    else:
        torch.save({"format": "bond-hf-state/1", "lora": roles.lora, "state_dict": state, "extra": extra}, path)


def load_policy_weights(roles: ModelRoles, path: Path, device: torch.device) -> None:
    if roles.kind == "byte-gpt":
        roles.load_state(POLICY_ADAPTER, load_byte_gpt(path, "cpu").state_dict(), path)
        return
    payload = torch.load(path, map_location=device, weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != "bond-hf-state/1" or payload.get("lora") != roles.lora:
        raise ValueError(f"{path} was not written by a run with this policy (Hugging Face, "
                         f"{'LoRA' if roles.lora else 'full fine-tuning'}); resume with the run's own config")
    roles.load_state(POLICY_ADAPTER, payload["state_dict"], path)


def save_hf_folder(roles: ModelRoles, path: Path, state: dict[str, torch.Tensor]) -> None:
    """The trained policy as a Hugging Face folder (save_pretrained; adapters only under LoRA), from
    `state` (roles.state), so that sharded weights are saved whole."""
    from .hf import HFCausalLM
    policy = roles.policy
    assert isinstance(policy, HFCausalLM)
    module: Any = policy.module
    module = getattr(module, "_orig_mod", module)
    if roles.lora:
        module.save_pretrained(str(path), selected_adapters=[POLICY_ADAPTER],
                               state_dict=roles.adapter_state_by_module_name(state, POLICY_ADAPTER))
        # peft puts an adapter not named "default" in a subfolder; lift it so that
        # PeftModel.from_pretrained(base, path) loads the folder itself.
        nested = path / POLICY_ADAPTER
        if nested.is_dir():
            for item in nested.iterdir():
                item.replace(path / item.name)
            nested.rmdir()
    else:
        module.save_pretrained(str(path), state_dict=state)
    policy.tokenizer.hf.save_pretrained(str(path))
