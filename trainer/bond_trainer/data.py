"""Prompt sets: JSON Lines files with one object per line; the prompt text under `data.field`."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from .config import ConfigError, ConfigProblem, RunConfig


class DataError(Exception):
    """A prompt file that cannot be used. Reported like a config error (exit 2)."""


def read_prompts(path: Path, field: str) -> list[str]:
    prompts: list[str] = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(f"{path}:{number}: not valid JSON ({error.msg})") from None
            if not isinstance(record, dict) or not isinstance(record.get(field), str):
                raise DataError(f"{path}:{number}: expected an object with a string field {field!r} "
                                f"(set data.field if your files use another key)")
            prompts.append(record[field])
    if not prompts:
        raise DataError(f"{path}: holds no prompts")
    return prompts


@dataclass
class PromptSets:
    train: list[str]
    eval: list[str]


def load_prompt_sets(cfg: RunConfig) -> PromptSets:
    train = [p for name in cfg.data.train for p in read_prompts(cfg.resolve_path(name), cfg.data.field)]
    if cfg.data.eval:
        held_out = [p for name in cfg.data.eval for p in read_prompts(cfg.resolve_path(name), cfg.data.field)]
        return PromptSets(train, held_out)
    order = list(range(len(train)))
    random.Random(cfg.train.seed).shuffle(order)
    count = max(1, round(len(train) * cfg.data.eval_fraction)) if cfg.data.eval_fraction > 0 else 0
    if count == 0 or len(train) - count < 1:
        raise ConfigError(cfg.source, [ConfigProblem(
            "data.eval_fraction", f"no held-out prompts: give data.eval files or an eval_fraction that leaves both "
            f"sets non-empty ({len(train)} training prompts)", "semantic")])
    held = set(order[:count])
    return PromptSets([p for i, p in enumerate(train) if i not in held], [train[i] for i in order[:count]])


class PromptStream:
    """Endless shuffled passes over the training prompts; its position is part of a checkpoint."""

    def __init__(self, prompts: list[str], seed: int):
        self.prompts = prompts
        self.seed = seed
        self.epoch = 0
        self.offset = 0
        self._order = self._permutation(0)

    def _permutation(self, epoch: int) -> list[int]:
        order = list(range(len(self.prompts)))
        random.Random(self.seed * 1_000_003 + epoch).shuffle(order)
        return order

    def next_batch(self, size: int) -> list[str]:
        batch: list[str] = []
        while len(batch) < size:
            if self.offset >= len(self._order):
                self.epoch += 1
                self.offset = 0
                self._order = self._permutation(self.epoch)
            batch.append(self.prompts[self._order[self.offset]])
            self.offset += 1
        return batch

    def state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "offset": self.offset}

    def restore(self, state: dict[str, int]) -> None:
        self.epoch, self.offset = int(state["epoch"]), int(state["offset"])
        self._order = self._permutation(self.epoch)
