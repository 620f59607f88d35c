from __future__ import annotations

from typing import Any, Optional, Protocol

import torch
from torch import nn

# A model-specific cache of attention keys and values; only the model that produced it reads it.
KVCache = Any


class Tokenizer(Protocol):
    eos_id: int
    pad_id: int
    vocab_size: int

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...


class CausalLM(Protocol):
    """What the sampler, the log-prob code and the trainer need from a language model.

    Batches are left-padded: `attention_mask[b, t]` is 1 for real tokens and 0 for padding, and
    the model derives positions from it. Calls with `cache` continue a previous call: `input_ids`
    holds only the new tokens and `attention_mask` covers the cached and the new tokens.
    """

    tokenizer: Tokenizer
    module: nn.Module
    context_length: int
    name: str

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                cache: Optional[KVCache] = None, use_cache: bool = True,
                cache_position: Optional[torch.Tensor] = None, keep_last: Optional[int] = None) -> tuple[torch.Tensor, KVCache]:
        """Logits [B, T_new, V] for the new tokens (only the last `keep_last` of them when given), and
        the cache extended by them (when use_cache). `cache_position` marks a static cache: see
        engine.py."""
        ...
