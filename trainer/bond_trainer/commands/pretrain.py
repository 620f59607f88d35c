"""`pretrain`: next-byte language modelling of the built-in GPT on a text corpus (one document per
line, EOS appended). Produces the reference policy π_ref for the demo and the tests."""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import torch
import torch.nn.functional as F

from ..models.gpt_shape import DEFAULT_CONTEXT, DEFAULT_HEADS, DEFAULT_LAYERS, DEFAULT_WIDTH
from ..models.byte_gpt import EOS_ID, PAD_ID, GPTModelSpec, GPTModule, save_byte_gpt


@dataclass
class PretrainSettings:
    steps: int = 600
    batch_size: int = 32
    lr: float = 3e-3
    seed: int = 0
    layers: int = DEFAULT_LAYERS
    heads: int = DEFAULT_HEADS
    width: int = DEFAULT_WIDTH
    context: int = DEFAULT_CONTEXT
    device: str = "cpu"


def read_corpus(path: Path) -> list[str]:
    documents = [line.rstrip("\n") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not documents:
        raise ValueError(f"{path}: the corpus is empty (one document per line expected)")
    return documents


def pretrain(documents: list[str], settings: PretrainSettings, out: Path,
             report: Optional[Callable[[int, float], None]] = None) -> float:
    """Train and save to `out` atomically; returns the final training loss (nats per byte)."""
    torch.manual_seed(settings.seed)
    device = torch.device(settings.device)
    spec = GPTModelSpec(settings.layers, settings.heads, settings.width, settings.context)
    model = GPTModule(spec).to(device).train()
    encoded = [list(d.encode("utf-8"))[: settings.context - 1] + [EOS_ID] for d in documents]
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=0.01)
    generator = torch.Generator().manual_seed(settings.seed)
    warmup = max(1, settings.steps // 20)
    loss_value = float("nan")
    for step in range(settings.steps):
        lr = settings.lr * min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / settings.steps)))
        for group in optimizer.param_groups:
            group["lr"] = lr
        picks = torch.randint(len(encoded), (settings.batch_size,), generator=generator).tolist()
        rows = [encoded[i] for i in picks]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), PAD_ID, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, :len(row)] = torch.tensor(row)
            mask[i, :len(row)] = 1
        ids, mask = ids.to(device), mask.to(device)
        # Right padding is fine here: positions of real tokens are unchanged, pads are not predicted.
        logits, _ = model(ids, mask)
        targets = ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, spec.vocab_size), targets.reshape(-1), ignore_index=-100)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        loss_value = loss.item()
        if report is not None:
            report(step + 1, loss_value)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    save_byte_gpt(model.cpu(), tmp, {"pretrain_loss": loss_value, "documents": len(documents), "time": time.time()})
    os.replace(tmp, out)
    return loss_value
