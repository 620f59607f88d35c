"""The log-prob kernel: log π(target) per position from next-token logits under a temperature, as a
logsumexp and a gather per block of at most KERNEL_BLOCK_ELEMENTS logits (TRL's selective
log-softmax, in blocks), with a backward of its own that rebuilds π block by block from the saved
logits. sequences.token_scores picks it when no top-k/top-p truncates π."""

from __future__ import annotations

from typing import Any, Iterator, Optional

import torch

# Logits handled at a time by the log-prob kernel (rows × positions × vocabulary): its float32
# temporaries stay this small whatever the batch (16 MiB; on CPU they stay in cache).
KERNEL_BLOCK_ELEMENTS = 1 << 22


def blocks(rows: int, positions: int, vocabulary: int) -> Iterator[tuple[slice, slice]]:
    """(rows, positions) blocks of a [rows, positions, vocabulary] tensor of at most
    KERNEL_BLOCK_ELEMENTS elements each (at least one position of one row)."""
    per_row = max(1, min(positions, KERNEL_BLOCK_ELEMENTS // max(1, vocabulary)))
    block_rows = max(1, KERNEL_BLOCK_ELEMENTS // (per_row * max(1, vocabulary)))
    for r in range(0, rows, block_rows):
        for p in range(0, positions, per_row):
            yield slice(r, r + block_rows), slice(p, p + per_row)


def scaled(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Logits [b, c, V] as float32 (float64 kept) divided by the temperature; the tensor itself when
    that is the identity (no copy of the logits)."""
    x = logits if logits.dtype in (torch.float32, torch.float64) else logits.float()
    return x if temperature == 1.0 else x / temperature


def kernel_dtype(logits: torch.Tensor) -> torch.dtype:
    return torch.float64 if logits.dtype == torch.float64 else torch.float32


def normalised_scores(logits: torch.Tensor, targets: torch.Tensor, temperature: float, with_entropy: bool
                       ) -> tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
    """log-normaliser [B, T], log π(target) [B, T] and, when asked, the entropy of π [B, T], from
    logits [B, T, V] under a temperature only (no truncation): a logsumexp and a gather per block,
    never a [B, T, V] log-softmax (TRL's selective log-softmax, in blocks)."""
    rows, positions, vocabulary = logits.shape
    dtype = kernel_dtype(logits)
    lse = torch.empty((rows, positions), dtype=dtype, device=logits.device)
    token_logp = torch.empty_like(lse)
    entropy = torch.empty_like(lse) if with_entropy else None
    for r, p in blocks(rows, positions, vocabulary):
        x = scaled(logits[r, p], temperature)
        block_lse = torch.logsumexp(x, dim=-1)
        lse[r, p] = block_lse
        token_logp[r, p] = x.gather(2, targets[r, p, None]).squeeze(2) - block_lse
        if entropy is not None:
            # H = −Σ p·log p with log p = x − log Z: one temporary of the block, no log-softmax kept.
            log_p = x - block_lse[:, :, None]
            entropy[r, p] = -(log_p.exp() * log_p).sum(dim=-1)
    return lse, token_logp, entropy


class SelectedLogProbs(torch.autograd.Function):
    """log π(target) per position [B, T] from logits [B, T, V] under a temperature, with a backward
    that rebuilds π block by block from the saved logits and log-normalisers: nothing of size
    [B, T, V] in float32 is kept for the backward but the logits themselves, and nothing is
    recomputed but one exp (the gradient of log π(t) with respect to the logits is
    (onehot(t) − π)/temperature).

    `entropy_out` ([B, T], or None): π's entropy is written into it by the backward, from the π it
    rebuilds anyway (one multiply and sum more per block, instead of a logsumexp, a subtraction and
    an exp of its own in the forward). It holds NaN until the backward has run."""

    @staticmethod
    def forward(ctx: Any, logits: torch.Tensor, targets: torch.Tensor, temperature: float,
                entropy_out: Optional[torch.Tensor]) -> torch.Tensor:
        lse, token_logp, _ = normalised_scores(logits, targets, temperature, False)
        ctx.save_for_backward(logits, targets, lse)
        ctx.temperature = temperature
        ctx.entropy_out = entropy_out
        return token_logp

    @staticmethod
    def backward(ctx: Any, grad_logp: torch.Tensor) -> tuple[Any, ...]:
        logits, targets, lse = ctx.saved_tensors
        temperature, entropy_out = ctx.temperature, ctx.entropy_out
        grad_logits = torch.empty_like(logits)
        for r, p in blocks(*logits.shape):
            log_p = scaled(logits[r, p], temperature) - lse[r, p, None]
            probs = log_p.exp()
            if entropy_out is not None:
                entropy_out[r, p] = -(probs * log_p).sum(dim=-1)
            upstream = grad_logp[r, p, None].to(probs.dtype)
            probs.mul_(-upstream).scatter_add_(2, targets[r, p, None], upstream)
            if temperature != 1.0:
                probs.div_(temperature)
            grad_logits[r, p] = probs
        return grad_logits, None, None, None
