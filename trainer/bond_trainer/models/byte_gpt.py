"""The built-in byte-level GPT: UTF-8 bytes are tokens 0..255, then EOS and PAD.

A nanoGPT-style pre-LayerNorm transformer with learned positions and a KV cache for sampling.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .gpt_shape import DEFAULT_CONTEXT, DEFAULT_HEADS, DEFAULT_LAYERS, DEFAULT_WIDTH, shape_problem

EOS_ID = 256
PAD_ID = 257
VOCAB_SIZE = 258
FORMAT = "bond-byte-gpt/1"


class ByteTokenizer:
    eos_id = EOS_ID
    pad_id = PAD_ID
    vocab_size = VOCAB_SIZE

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: list[int]) -> str:
        # A completion cut at max_new_tokens can end inside a multi-byte character: replace, never fail.
        return bytes(i for i in ids if i < 256).decode("utf-8", errors="replace")


@dataclass(frozen=True)
class GPTModelSpec:
    layers: int = DEFAULT_LAYERS
    heads: int = DEFAULT_HEADS
    width: int = DEFAULT_WIDTH
    context: int = DEFAULT_CONTEXT
    dropout: float = 0.0
    vocab_size: int = VOCAB_SIZE

    def __post_init__(self) -> None:
        problem = shape_problem(self.width, self.heads)
        if problem:
            raise ValueError(problem)


class SelfAttention(nn.Module):
    def __init__(self, spec: GPTModelSpec):
        super().__init__()
        self.heads = spec.heads
        self.qkv = nn.Linear(spec.width, 3 * spec.width)
        self.proj = nn.Linear(spec.width, spec.width)
        self.dropout = spec.dropout

    def forward(self, x: torch.Tensor, mask: torch.Tensor, past: Optional[tuple[torch.Tensor, torch.Tensor]],
                cache_position: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        batch, length, width = x.shape
        q, k, v = self.qkv(x).split(width, dim=2)
        # [B, T, W] -> [B, H, T, W/H]
        q, k, v = (t.view(batch, length, self.heads, width // self.heads).transpose(1, 2) for t in (q, k, v))
        if past is not None and cache_position is not None:
            # A static cache [B, H, L, W/H]: write the new keys and values in place, attend over all L.
            past[0].index_copy_(2, cache_position, k.to(past[0].dtype))
            past[1].index_copy_(2, cache_position, v.to(past[1].dtype))
            k, v = past
        elif past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        # mask: [B, 1, T, S] boolean, True where the query may attend to the key.
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                           dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).contiguous().view(batch, length, width)
        # Without a past, k and v are views of the qkv projection: handed out as a module's output, FSDP2
        # warns that an in-place op on a view would skip its hooks. Copies (values unchanged) are no views.
        present = (k.contiguous(), v.contiguous()) if past is None else (k, v)
        return self.proj(y), present


class Block(nn.Module):
    def __init__(self, spec: GPTModelSpec):
        super().__init__()
        self.ln1 = nn.LayerNorm(spec.width)
        self.attn = SelfAttention(spec)
        self.ln2 = nn.LayerNorm(spec.width)
        self.mlp = nn.Sequential(nn.Linear(spec.width, 4 * spec.width), nn.GELU(),
                                 nn.Linear(4 * spec.width, spec.width), nn.Dropout(spec.dropout))

    def forward(self, x: torch.Tensor, mask: torch.Tensor, past: Optional[tuple[torch.Tensor, torch.Tensor]],
                cache_position: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        attended, present = self.attn(self.ln1(x), mask, past, cache_position)
        x = x + attended
        return x + self.mlp(self.ln2(x)), present


class GPTModule(nn.Module):
    def __init__(self, spec: GPTModelSpec):
        super().__init__()
        self.spec = spec
        self.token_embedding = nn.Embedding(spec.vocab_size, spec.width)
        self.position_embedding = nn.Embedding(spec.context, spec.width)
        self.blocks = nn.ModuleList(Block(spec) for _ in range(spec.layers))
        self.ln_f = nn.LayerNorm(spec.width)
        self.head = nn.Linear(spec.width, spec.vocab_size, bias=False)
        self.head.weight = self.token_embedding.weight  # weight tying
        self.apply(self._init)
        for name, param in self.named_parameters():
            if name.endswith("proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(param, 0.0, 0.02 / math.sqrt(2 * spec.layers))

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0.0, 0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, 0.0, 0.02)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                cache: Optional[list[tuple[torch.Tensor, torch.Tensor]]] = None,
                cache_position: Optional[torch.Tensor] = None, keep_last: Optional[int] = None
                ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """`keep_last`: logits of the last positions only. `cache_position` [T_new] marks a static cache (see static_cache): the mask then covers the
        whole preallocated length, and nothing here waits for the device (CUDA-graph capturable)."""
        batch, new = input_ids.shape
        total = attention_mask.shape[1]
        # Positions count real tokens only, so left padding does not shift them.
        every_position = (attention_mask.long().cumsum(dim=1) - 1).clamp(min=0)
        if cache_position is not None:
            query_index = cache_position
            positions = every_position.index_select(1, cache_position)
        else:
            past = total - new
            positions = every_position[:, past:]
            if int(positions.max()) >= self.spec.context:
                raise ValueError(f"sequence of {int(positions.max()) + 1} tokens exceeds the model's context "
                                 f"of {self.spec.context}")
            query_index = torch.arange(past, total, device=input_ids.device)
        keys_valid = attention_mask.bool()  # [B, S]
        key_index = torch.arange(total, device=input_ids.device)
        causal = key_index[None, :] <= query_index[:, None]  # [T, S]
        mask = causal[None, :, :] & keys_valid[:, None, :]
        # A padding query would see no key at all (NaN in softmax): let it see itself.
        mask = mask | (key_index[None, None, :] == query_index[None, :, None])
        mask = mask[:, None, :, :]
        x = self.token_embedding(input_ids) + self.position_embedding(positions)
        presents: list[tuple[torch.Tensor, torch.Tensor]] = []
        for index, block in enumerate(self.blocks):
            x, present = block(x, mask, cache[index] if cache is not None else None, cache_position)
            presents.append(present)
        if keep_last is not None:
            x = x[:, -keep_last:]
        return self.head(self.ln_f(x)), presents


class ByteGPT:
    """CausalLM adapter around GPTModule."""

    def __init__(self, module: GPTModule):
        self.module = module
        self.tokenizer = ByteTokenizer()
        self.context_length = module.spec.context
        self.name = "byte GPT"
        # Set by the trainer under torchrun: the DDP wrapper that the gradient-carrying forward uses.
        self.ddp: Optional[nn.Module] = None

    @property
    def spec(self) -> GPTModelSpec:
        return self.module.spec

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                cache: Optional[Any] = None, use_cache: bool = True,
                cache_position: Optional[torch.Tensor] = None, keep_last: Optional[int] = None) -> tuple[torch.Tensor, Any]:
        runner = self.ddp if self.ddp is not None and torch.is_grad_enabled() else self.module
        return runner(input_ids, attention_mask, cache, cache_position, keep_last)

    def static_cache(self, batch: int, length: int, dtype: torch.dtype) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Keys and values preallocated for `length` positions, per layer [B, H, L, W/H]."""
        spec = self.module.spec
        device = next(self.module.parameters()).device
        shape = (batch, spec.heads, length, spec.width // spec.heads)
        return [(torch.zeros(shape, dtype=dtype, device=device), torch.zeros(shape, dtype=dtype, device=device))
                for _ in range(spec.layers)]


def save_byte_gpt(module: GPTModule, path: Path, extra: Optional[dict[str, Any]] = None,
                  state_dict: Optional[dict[str, torch.Tensor]] = None) -> None:
    """Save weights and spec in one file that `policy.checkpoint` can load (caller makes it atomic).
    `state_dict` replaces the module's own (whole weights gathered from FSDP shards)."""
    torch.save({"format": FORMAT, "spec": asdict(module.spec),
                "state_dict": state_dict if state_dict is not None else module.state_dict(),
                "extra": json.dumps(extra or {})}, path)


def load_byte_gpt(path: Path, map_location: str | torch.device = "cpu") -> GPTModule:
    if path.is_dir():
        path = path / "model.pt"
    payload = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not a BOND Studio byte-GPT model file (expected format {FORMAT})")
    module = GPTModule(GPTModelSpec(**payload["spec"]))
    module.load_state_dict(payload["state_dict"])
    return module
