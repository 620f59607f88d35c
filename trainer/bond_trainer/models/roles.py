"""The three roles of a run — policy (trained), reference (frozen π_ref) and anchor (J-BOND's moving
copy) — built from the config, with what the trainer does to them: update the anchor, save and
restore the trained weights.

Full fine-tuning holds three copies of the weights. With LoRA (Hugging Face models, peft) one base
model is held once: the policy and the anchor are two adapters on it and the reference is the base
with adapters off, so the anchor's EMA and its checkpoint cover the adapter weights only.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

from ..config import RunConfig
from .base import CausalLM
from .byte_gpt import ByteGPT, GPTModelSpec, GPTModule, load_byte_gpt, save_byte_gpt

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
    sharded: bool = False       # FSDP: parameters are DTensor shards (see fsdp.py)

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

    def _adapter_pairs(self) -> Iterator[tuple[nn.Parameter, nn.Parameter]]:
        """(anchor, policy) adapter weights, matched by name (LoRA)."""
        anchor = dict(self._trainable_named(ANCHOR_ADAPTER))
        return ((anchor[name], p.detach()) for name, p in self._trainable_named(POLICY_ADAPTER))

    @torch.no_grad()
    def ema_anchor(self, eta: float) -> None:
        """θ_anchor ← (1−η)·θ_anchor + η·θ_policy (adapter weights only under LoRA)."""
        if self.anchor_is_reference:
            return
        self._resharded()
        if self.lora:
            for a, p in self._adapter_pairs():
                a.lerp_(p.to(a.dtype), eta)
            return
        ema_update(self.anchor.module, self.policy.module, eta)

    @torch.no_grad()
    def copy_policy_to_anchor(self) -> None:
        if self.anchor_is_reference:
            return
        self._resharded()
        if self.lora:
            for a, p in self._adapter_pairs():
                a.copy_(p)
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


def _full(p: torch.Tensor) -> torch.Tensor:
    """A parameter as one whole tensor on the CPU (an FSDP shard is all-gathered: a collective)."""
    full = p.full_tensor() if hasattr(p, "full_tensor") else p
    return full.cpu()


@torch.no_grad()
def _load_into(param: torch.Tensor, value: torch.Tensor) -> None:
    if hasattr(param, "device_mesh"):  # an FSDP shard: keep this rank's part of the full value
        from torch.distributed.tensor import distribute_tensor
        param.copy_(distribute_tensor(value.to(param.device_mesh.device_type), param.device_mesh, param.placements))
    else:
        param.copy_(value)


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
