"""Scoring with the prompt's forward done once per distinct prompt.

A scored batch repeats each prompt over its samples (K policy samples, the anchor's, Best-of-N's):
the prompt tokens' keys and values are the same in every such row. The forward that scores the
batch runs in two parts: the distinct prompts alone (with their KV cache and the logits of their
last position, which predict each completion's first token), then every row's completion tokens
attending to its prompt's cached keys and values. The same positions, mask and arithmetic as one
forward over [prompt, completion] (the engines' decode already continues a cache so); gradients
flow through the cache into the prompt's forward. What is saved is the prompt's share of the
forward and backward for all but one row of each prompt (4-11% of a scoring pass with 8-token
prompts, 4 samples each and 32-64-token completions: bench/shared_prefix.py, bench/RESULTS.md).

Every score of a single process takes this path, whether or not its rows repeat a prompt, so that a
subset of a batch is scored in the same arithmetic as the whole (equal weights give bit-equal
log-probs). Under torch.distributed the single forward stays: DDP allows one forward per backward.
"""

from __future__ import annotations

from typing import Any, Optional

import torch

from ..models.base import CausalLM
from .padding import left_pad


def shares_prompts() -> bool:
    """Whether score() takes the shared-prompt path: a single process (DDP's reducer expects one
    forward per backward, and FSDP2 would unshard and reduce each part's parameters twice)."""
    return not (torch.distributed.is_available() and torch.distributed.is_initialized())


def distinct_prompts(prompt_ids: list[list[int]]) -> tuple[list[list[int]], list[int]]:
    """The distinct prompts in first-seen order, and each row's index among them."""
    index: dict[tuple[int, ...], int] = {}
    rows = [index.setdefault(tuple(prompt), len(index)) for prompt in prompt_ids]
    return [list(prompt) for prompt in index], rows


def select_cache_rows(cache: Any, rows: torch.Tensor) -> Optional[Any]:
    """The cache with row i holding the cached row `rows[i]` (differentiable: an index_select per
    layer), or None for a cache this code does not know (the caller then runs one forward)."""
    if isinstance(cache, (list, tuple)) and all(isinstance(layer, tuple) and len(layer) == 2 for layer in cache):
        return [(keys.index_select(0, rows), values.index_select(0, rows)) for keys, values in cache]  # byte GPT
    if hasattr(cache, "batch_select_indices"):  # transformers' Cache: every layer indexed, in place
        cache.batch_select_indices(rows)
        return cache
    return None


def forward_with_shared_prompts(model: CausalLM, prompt_ids: list[list[int]], prompt_width: int,
                                completion: torch.Tensor, completion_mask: torch.Tensor,
                                ) -> Optional[tuple[torch.Tensor, Optional[torch.Tensor]]]:
    """Next-token logits for each row's completion positions, in two parts: [B, 1, V] (from the
    prompt's last position) and [B, C-1, V] (None when C is 1), C = completion.shape[1]. None when
    the model's cache cannot be indexed by row (the caller runs one forward instead)."""
    device = completion.device
    distinct, row_of = distinct_prompts(prompt_ids)
    ids, mask = left_pad(distinct, model.tokenizer.pad_id, device, prompt_width)
    rows = torch.tensor(row_of, dtype=torch.long, device=device)
    # keep_last is a hint some models ignore (all positions come back): the last ones are sliced.
    first, cache = model.forward(ids, mask, use_cache=True, keep_last=1)
    first = first[:, -1:, :].index_select(0, rows)
    width = completion.shape[1]
    if width == 1:
        return first, None
    cache = select_cache_rows(cache, rows) if cache is not None else None
    if cache is None:
        return None
    # The completion's last token predicts nothing that is scored: the input stops before it.
    every_mask = torch.cat([mask.index_select(0, rows), completion_mask[:, :-1]], dim=1)
    rest, _ = model.forward(completion[:, :-1], every_mask, cache=cache, use_cache=False, keep_last=width - 1)
    return first, rest[:, -(width - 1):, :]
