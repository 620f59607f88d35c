"""LoRA pieces of the roles: the anchor adapter's low-rank EMA of the policy's merged updates
(docs/algorithms.md §10) and the (A, B) pairs of a PEFT model's adapters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

POLICY_ADAPTER = "policy"
ANCHOR_ADAPTER = "anchor"

@dataclass
class LowRankDelta:
    """An update ΔW = scale · B @ A, with B [out, r] and A [r, in] (float32, on the adapter's device)."""
    B: torch.Tensor
    A: torch.Tensor
    scale: float

    @property
    def rank(self) -> int:
        return self.A.shape[0]

    def dense(self) -> torch.Tensor:
        return self.scale * self.B @ self.A

    @staticmethod
    def combine(terms: list[tuple[float, "LowRankDelta"]]) -> "LowRankDelta":
        """Σ wᵢ·Δᵢ exactly, at rank Σ rᵢ (scale 1)."""
        B = torch.cat([weight * delta.scale * delta.B for weight, delta in terms], dim=1)
        A = torch.cat([delta.A for _, delta in terms], dim=0)
        return LowRankDelta(B, A, 1.0)

    def energy(self) -> float:
        """‖ΔW‖²_F, from the factors (never forming ΔW)."""
        return float(((self.B.T @ self.B) * (self.A @ self.A.T)).sum()) * self.scale ** 2

    def truncated(self, rank: int) -> tuple["LowRankDelta", float]:
        """The best rank-`rank` approximation (Eckart–Young, via QR of both factors and an SVD of the
        small core), with the squared Frobenius norm it drops. Scale 1; rows past the rank are 0."""
        left_q, left_r = torch.linalg.qr(self.scale * self.B)   # [out, m], [m, R]
        right_q, right_r = torch.linalg.qr(self.A.T)            # [in, m'], [m', R]
        u, singular, vh = torch.linalg.svd(left_r @ right_r.T, full_matrices=False)
        keep = min(rank, singular.numel())
        root = singular[:keep].sqrt()
        B = self.B.new_zeros(self.B.shape[0], rank)
        A = self.A.new_zeros(rank, self.A.shape[1])
        B[:, :keep] = (left_q @ u[:, :keep]) * root
        A[:keep] = root[:, None] * (vh[:keep] @ right_q.T)
        return LowRankDelta(B, A, 1.0), float(singular[keep:].pow(2).sum())

    def padded(self, rank: int) -> "LowRankDelta":
        """The same update with factors of a larger rank (zero columns/rows), scale 1."""
        if rank < self.rank:
            raise ValueError(f"an adapter of rank {rank} cannot hold an update of rank {self.rank}")
        B = self.B.new_zeros(self.B.shape[0], rank)
        A = self.A.new_zeros(rank, self.A.shape[1])
        B[:, :self.rank] = self.scale * self.B
        A[:self.rank] = self.A
        return LowRankDelta(B, A, 1.0)


@dataclass
class LoraPair:
    """One LoRA layer's factor parameters per adapter: (A [r, in], B [out, r]) and scaling."""
    layer: Any
    embedding: bool

    def _params(self, adapter: str) -> tuple[nn.Parameter, nn.Parameter]:
        if self.embedding:
            return self.layer.lora_embedding_A[adapter], self.layer.lora_embedding_B[adapter]
        return self.layer.lora_A[adapter].weight, self.layer.lora_B[adapter].weight

    def factors(self, adapter: str) -> LowRankDelta:
        A, B = self._params(adapter)
        return LowRankDelta(_whole(B).detach().float(), _whole(A).detach().float(), float(self.layer.scaling[adapter]))

    @torch.no_grad()
    def assign(self, adapter: str, delta: LowRankDelta) -> None:
        """Store `delta` in the adapter, dividing out the adapter's own scaling."""
        A, B = self._params(adapter)
        scale = delta.scale / float(self.layer.scaling[adapter])
        _load_into(B, (scale * delta.B).to(B.dtype))
        _load_into(A, delta.A.to(A.dtype))


def lora_pairs(module: nn.Module) -> list[LoraPair]:
    """Every LoRA layer that carries the policy adapter."""
    from .hf import lora_layers
    pairs = []
    for layer in lora_layers(module):
        if POLICY_ADAPTER in getattr(layer, "lora_A", {}):
            pairs.append(LoraPair(layer, embedding=False))
        elif POLICY_ADAPTER in getattr(layer, "lora_embedding_A", {}):
            pairs.append(LoraPair(layer, embedding=True))
    return pairs


def _whole(p: torch.Tensor) -> torch.Tensor:
    """A parameter as one whole tensor where it lives (an FSDP shard is all-gathered: a collective)."""
    return p.full_tensor() if hasattr(p, "full_tensor") else p


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
