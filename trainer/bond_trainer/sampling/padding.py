"""Left padding of token rows: the prompts end where the completions begin, in every batch the
sampler, the engines and the scorer build."""

from __future__ import annotations

from typing import Optional

import torch


def left_pad(rows: list[list[int]], pad_id: int, device: torch.device,
             width: Optional[int] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The rows right-aligned in [len(rows), width] (width: the longest row's when None), padded
    with pad_id on the left, and their attention mask."""
    width = max(len(r) for r in rows) if width is None else width
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            ids[i, width - len(row):] = torch.tensor(row, dtype=torch.long)
            mask[i, width - len(row):] = 1
    return ids.to(device), mask.to(device)
