"""FSDP (`distributed.strategy: fsdp`): the models' parameters, gradients and optimizer state are
sharded across ranks with PyTorch's FSDP2 (`fully_shard`), for policies that do not fit one GPU.

What changes for the trainer (and why):
- every forward all-gathers the weights, so all ranks run the same number of forwards: decoding
  loops end by agreement (World.all) and evaluation shards are padded (World.padded_shard);
- the anchor and the reference (full fine-tuning) are sharded the same way, so the EMA runs shard
  by shard;
- checkpoints hold full state dicts (gathered to rank 0, optimizer keyed by parameter name), so a
  run resumes at another world size, or without FSDP, and vice versa.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from ..models.roles import ModelRoles


class FSDPUnavailable(Exception):
    pass


def _fully_shard() -> Callable[..., Any]:
    try:
        from torch.distributed.fsdp import fully_shard
    except ImportError:
        try:
            from torch.distributed._composable.fsdp import fully_shard  # torch 2.4-2.5
        except ImportError:
            raise FSDPUnavailable(f"fsdp needs torch >= 2.4 (FSDP2's fully_shard); this is torch {torch.__version__}. "
                                  "Use ddp, or upgrade torch") from None
    return fully_shard  # type: ignore[no-any-return]


def _layer_classes(module: nn.Module) -> set[str]:
    """The transformer blocks: the units FSDP gathers one at a time."""
    names = {"Block"}  # the built-in byte GPT
    for sub in module.modules():
        names.update(getattr(sub, "_no_split_modules", None) or [])
    return names


def shard_module(module: nn.Module) -> None:
    fully_shard = _fully_shard()
    blocks = _layer_classes(module)
    for sub in list(module.modules()):
        if sub is not module and type(sub).__name__ in blocks:
            fully_shard(sub)
    fully_shard(module)


def shard_roles(roles: ModelRoles) -> None:
    """Shard every distinct module of the run (one shared base under LoRA; three copies otherwise)."""
    seen: list[nn.Module] = []
    for model in (roles.policy, roles.reference, roles.anchor):
        if not any(model.module is m for m in seen):
            shard_module(model.module)
            seen.append(model.module)
    roles.sharded = True
