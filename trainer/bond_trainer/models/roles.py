"""The three roles of a run — policy (trained), reference (frozen π_ref) and anchor (J-BOND's moving
copy) — built from the config, with what the trainer does to them: update the anchor, save and
restore the trained weights.

Full fine-tuning holds three copies of the weights. With LoRA (Hugging Face models, peft) one base
model is held once: the policy and the anchor are two adapters on it and the reference is the base
with adapters off, so the anchor's EMA and its checkpoint cover the adapter weights only.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

import torch
from torch import nn

from ..config import RunConfig
from .base import CausalLM
from .byte_gpt import ByteGPT, GPTModelSpec, GPTModule, load_byte_gpt, save_byte_gpt

log = logging.getLogger("bond_trainer")

POLICY_ADAPTER = "policy"
ANCHOR_ADAPTER = "anchor"


@dataclass
class ModelRoles:
    policy: CausalLM
    reference: CausalLM
    anchor: CausalLM            # the reference itself when the anchor is fixed
    kind: str                   # "byte-gpt" or "hf"
    description: str            # for the log and run.json: model, size, how it trains
    lora: bool = False

    @property
    def anchor_is_reference(self) -> bool:
        return self.anchor is self.reference

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
        """θ_anchor ← (1−η)·θ_anchor + η·θ_policy (adapter weights only under LoRA)."""
        if self.anchor_is_reference:
            return
        if self.lora:
            anchor = dict(self._trainable_named(ANCHOR_ADAPTER))
            for name, p in self._trainable_named(POLICY_ADAPTER):
                anchor[name].lerp_(p.detach().to(anchor[name].dtype), eta)
            return
        ema_update(self.anchor.module, self.policy.module, eta)

    @torch.no_grad()
    def copy_policy_to_anchor(self) -> None:
        if self.anchor_is_reference:
            return
        if self.lora:
            anchor = dict(self._trainable_named(ANCHOR_ADAPTER))
            for name, p in self._trainable_named(POLICY_ADAPTER):
                anchor[name].copy_(p.detach())
            return
        self.anchor.module.load_state_dict(self.policy.module.state_dict())

    def state(self, role: str) -> dict[str, torch.Tensor]:
        """The weights a checkpoint must hold to restore `role` (policy or anchor)."""
        if self.lora:
            return {n: p.detach().clone() for n, p in self._trainable_named(role)}
        module = self.policy.module if role == POLICY_ADAPTER else self.anchor.module
        return module.state_dict()

    @torch.no_grad()
    def load_state(self, role: str, state: dict[str, torch.Tensor], source: Path) -> None:
        if self.lora:
            own = dict(self._trainable_named(role))
            if set(own) != set(state):
                raise ValueError(f"{source}: the checkpoint's {role} adapter does not match this config's "
                                 "policy.hf.lora (different target modules?); resume with the run's own config")
            for name, value in state.items():
                own[name].copy_(value)
            return
        module = self.policy.module if role == POLICY_ADAPTER else self.anchor.module
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
    """Plain BOND with a fixed anchor and REINFORCE use π_ref itself as the anchor."""
    return not (cfg.bond.anchor == "fixed" or cfg.algorithm == "reinforce")


def build_roles(cfg: RunConfig, device: torch.device) -> ModelRoles:
    if cfg.policy.hf is not None:
        return _build_hf(cfg, device)
    if cfg.policy.checkpoint is not None:
        module = load_byte_gpt(cfg.resolve_path(cfg.policy.checkpoint))
    else:
        module = GPTModule(GPTModelSpec(**asdict(cfg.policy.gpt)))
    module.to(device)
    reference = ByteGPT(module)
    reference.module.eval().requires_grad_(False)
    policy = ByteGPT(copy.deepcopy(module).requires_grad_(True).train())
    anchor = ByteGPT(copy.deepcopy(module).eval().requires_grad_(False)) if needs_anchor_copy(cfg) else reference
    params = sum(p.numel() for p in module.parameters())
    return ModelRoles(policy, reference, anchor, "byte-gpt", f"byte GPT {module.spec}, {params / 1e6:.2f}M parameters")


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
    if spec.gradient_checkpointing:
        base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        base.config.use_cache = False
    if spec.lora is not None:
        from peft import LoraConfig, get_peft_model
        lora = spec.lora
        targets: Any = list(lora.target_modules) or "all-linear"
        lora_config = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=targets,
                                 task_type="CAUSAL_LM")
        try:
            peft_model = get_peft_model(base, lora_config, adapter_name=POLICY_ADAPTER)
        except ValueError as error:
            raise ValueError(f"policy.hf.lora.target_modules: {error}") from None
        if spec.gradient_checkpointing:
            peft_model.enable_input_require_grads()
        if needs_anchor_copy(cfg):
            peft_model.add_adapter(ANCHOR_ADAPTER, lora_config)
            peft_model.base_model.set_adapter(POLICY_ADAPTER)  # trainable: the policy's adapter only
        peft_model.train()
        policy = HFCausalLM(peft_model, tokenizer, context, name, adapter=POLICY_ADAPTER)
        reference = HFCausalLM(peft_model, tokenizer, context, name, use_base=True)
        anchor = HFCausalLM(peft_model, tokenizer, context, name, adapter=ANCHOR_ADAPTER) if needs_anchor_copy(cfg) else reference
        roles = ModelRoles(policy, reference, anchor, "hf", "", lora=True)
        roles.copy_policy_to_anchor()
        trainable = sum(p.numel() for p in roles.trainable_parameters())
        roles.description = f"{described}; LoRA r={lora.r}: {trainable / 1e6:.3f}M trainable"
        if spec.compile:
            peft_model.compile()
        return roles
    reference_module = copy.deepcopy(base).eval().requires_grad_(False)
    anchor_module = copy.deepcopy(base).eval().requires_grad_(False) if needs_anchor_copy(cfg) else None
    base.train().requires_grad_(True)
    if spec.compile:
        base.compile()
    policy = HFCausalLM(base, tokenizer, context, name)
    reference = HFCausalLM(reference_module, tokenizer, context, name)
    anchor = HFCausalLM(anchor_module, tokenizer, context, name) if anchor_module is not None else reference
    return ModelRoles(policy, reference, anchor, "hf", f"{described}; full fine-tuning")


def save_policy_weights(roles: ModelRoles, path: Path, extra: dict[str, Any]) -> None:
    """model.pt of a checkpoint: for the byte GPT a file `policy.checkpoint` can load, else the state dict."""
    if roles.kind == "byte-gpt":
        save_byte_gpt(roles.policy.module, path, extra)  # type: ignore[arg-type]
    else:
        torch.save({"format": "bond-hf-state/1", "lora": roles.lora, "state_dict": roles.state(POLICY_ADAPTER),
                    "extra": extra}, path)


def load_policy_weights(roles: ModelRoles, path: Path, device: torch.device) -> None:
    if roles.kind == "byte-gpt":
        roles.policy.module.load_state_dict(load_byte_gpt(path, device).state_dict())
        return
    payload = torch.load(path, map_location=device, weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != "bond-hf-state/1" or payload.get("lora") != roles.lora:
        raise ValueError(f"{path} was not written by a run with this policy (Hugging Face, "
                         f"{'LoRA' if roles.lora else 'full fine-tuning'}); resume with the run's own config")
    roles.load_state(POLICY_ADAPTER, payload["state_dict"], path)


def save_hf_folder(roles: ModelRoles, path: Path) -> None:
    """The trained policy as a Hugging Face folder (save_pretrained; adapters only under LoRA)."""
    from .hf import HFCausalLM
    policy = roles.policy
    assert isinstance(policy, HFCausalLM)
    module: Any = policy.module
    module = getattr(module, "_orig_mod", module)
    if roles.lora:
        module.save_pretrained(str(path), selected_adapters=[POLICY_ADAPTER])
        # peft puts an adapter not named "default" in a subfolder; lift it so that
        # PeftModel.from_pretrained(base, path) loads the folder itself.
        nested = path / POLICY_ADAPTER
        if nested.is_dir():
            for item in nested.iterdir():
                item.replace(path / item.name)
            nested.rmdir()
    else:
        module.save_pretrained(str(path))
    policy.tokenizer.hf.save_pretrained(str(path))
