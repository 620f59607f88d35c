"""Running under `torchrun`: which rank this process is, and the few collectives the trainer needs.

torchrun (PyTorch's launcher) starts one process per device and sets RANK, WORLD_SIZE, LOCAL_RANK
and the rendezvous address; this module reads them and wraps torch.distributed. Outside torchrun
the same object describes a world of one, and every collective is the identity, so the trainer has
one code path.

How a step is split: the global batch of prompts (identical on every rank: same seed, same stream)
is cut into contiguous, equal shards; each rank samples and scores its shard with the random
numbers the whole batch would have used (sequences.draw_uniforms). The objective is then evaluated
on the gathered global tensors, in which only this rank's rows carry gradient; DDP averages the
gradients over ranks, so the loss is scaled by the world size to make the sum the global gradient.
"""

from __future__ import annotations

import datetime
import os
import signal
import sys
from dataclasses import dataclass
from typing import Any, Optional, TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")

# Per-rank figures that add up over ranks rather than average (throughput).
SUMMED_METRICS = ("perf/samples_per_s", "perf/tokens_per_s", "_generated_tokens")


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.size > 1

    def shard(self, count: int) -> slice:
        """This rank's contiguous part of `count` items (sizes differ by at most one)."""
        return slice(self.rank * count // self.size, (self.rank + 1) * count // self.size)

    def padded_shard(self, count: int) -> tuple[list[int], int]:
        """This rank's items of `count` when every rank must run the same number of forwards (FSDP):
        equal shares of ceil(count / size), the last ranks padded by repeating the last item. Returns
        the item indices and how many of them are real (the rest are dropped after the work)."""
        share = -(-count // self.size)
        start = self.rank * share
        indices = [min(i, count - 1) for i in range(start, start + share)]
        return indices, max(0, min(count, start + share) - start)

    # --- collectives (identity in a world of one) ----------------------------------------------------
    def gather_objects(self, value: T) -> list[T]:
        """Every rank's value, in rank order, on every rank."""
        if not self.active:
            return [value]
        out: list[Any] = [None] * self.size
        dist.all_gather_object(out, value)
        return out

    def gather_rows(self, local: torch.Tensor) -> torch.Tensor:
        """Concatenate every rank's rows (equal shards), detached, in rank order."""
        if not self.active:
            return local.detach()
        # NCCL moves CUDA tensors only; the statistics often live on the CPU.
        moving = local.detach().to(self._device()).contiguous()
        parts = [torch.empty_like(moving) for _ in range(self.size)]
        dist.all_gather(parts, moving)
        return torch.cat(parts).to(local.device)

    def global_with_local_gradient(self, local: torch.Tensor) -> torch.Tensor:
        """The global tensor (equal shards), where this rank's rows are `local` itself (gradient
        flows) and every other rank's rows are constants."""
        if not self.active:
            return local
        gathered = self.gather_rows(local)
        rows = local.shape[0]
        start = self.rank * rows
        return torch.cat([gathered[:start], local, gathered[start + rows:]])

    def any(self, flag: bool) -> bool:
        """True on every rank when it is true on any (stop requests must be agreed on)."""
        if not self.active:
            return flag
        value = torch.tensor([1.0 if flag else 0.0], device=self._device())
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item() > 0)

    def all(self, flag: bool) -> bool:
        """True on every rank when it is true on all (an agreed end of a decoding loop)."""
        if not self.active:
            return flag
        return not self.any(not flag)

    def reduce_metrics(self, metrics: dict[str, float]) -> dict[str, float]:
        """Average each metric over ranks (equal shards make that the global mean); sum throughput."""
        if not self.active:
            return metrics
        keys = sorted(metrics)
        values = torch.tensor([float(metrics[k]) for k in keys], dtype=torch.float64, device=self._device())
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
        return {k: (v if k in SUMMED_METRICS else v / self.size) for k, v in zip(keys, values.tolist())}

    def broadcast_object(self, value: T) -> T:
        if not self.active:
            return value
        box: list[Any] = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def _device(self) -> torch.device:
        if dist.get_backend() == "nccl":
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")


def launched_by_torchrun() -> bool:
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def init_world(device_preference: str, timeout_s: Optional[float] = None) -> World:
    """Join the process group torchrun set up (NCCL on CUDA, gloo otherwise); a world of one when
    not launched by torchrun."""
    if not launched_by_torchrun():
        return World()
    _die_with_launcher()
    rank, size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if size == 1:
        return World(rank, size, local_rank)
    if not dist.is_initialized():
        use_cuda = device_preference in ("auto", "cuda") and torch.cuda.is_available()
        if use_cuda:
            torch.cuda.set_device(local_rank)
        timeout = datetime.timedelta(seconds=timeout_s) if timeout_s else None
        dist.init_process_group("nccl" if use_cuda else "gloo", timeout=timeout)
    return World(rank, size, local_rank)


def _die_with_launcher() -> None:
    """torchrun starts each rank in its own session; if torchrun itself is killed (the editor's stop
    escalates to SIGKILL), its ranks must not train on as orphans. Linux only (prctl)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def close_world(world: World) -> None:
    if world.active and dist.is_initialized():
        dist.destroy_process_group()
