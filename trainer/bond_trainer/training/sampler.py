"""Drawing and scoring with any of a run's models: completions of prompts with their rewards, and
log π(y) under the sampling transform. One place for what every draw shares: the random numbers come
from a CPU generator for every row of every rank (so a sharded or GPU run samples what one CPU
process would), rows go in chunks of MAX_ROWS_PER_BATCH, dropout is off, and a reward call can be
interrupted by a stop request."""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from typing import Any, Callable, Iterator, Optional

import torch

from ..algorithms import Draw
from ..inputs.config import RunConfig
from ..inputs.data import Prompt, columns_of
from .distributed import World
from ..sampling.engine import SamplingEngine
from ..models import CausalLM
from ..models.dropout import dropout_disabled
from ..inputs.rewards import Reward
from ..sampling.sequences import Completions, SamplingTransform, SequenceScores, draw_uniforms, encode_prompts, score

MAX_ROWS_PER_BATCH = 512  # sampling/scoring chunk: bounds memory for large eval draws


class Sampler:
    def __init__(self, cfg: RunConfig, policy: CausalLM, reward: Reward, engine: SamplingEngine,
                 transform: SamplingTransform, autocast: Optional[torch.dtype], world: World, fsdp: bool):
        self.cfg = cfg
        self.policy = policy  # its tokenizer encodes every prompt
        self.reward = reward
        self.engine = engine
        self.transform = transform
        self.autocast = autocast
        self.world = world
        self.fsdp = fsdp
        # Inside a reward call or an evaluation: a stop request interrupts it (StopNow) instead of
        # waiting for the step to end, which a hung reward never lets happen.
        self.interruptible = False
        # Called on entering such a section: raises (StopNow) where a stop was asked for before it,
        # when the signal found nothing to interrupt (set by the trainer).
        self.on_interruptible: Callable[[], None] = lambda: None
        # Bumped whenever weights change (an update, a restore): a draw's own log-probs stand for
        # its model's only while the weights it was drawn with are still the ones in place.
        self.weights_version = 0

    def weights_changed(self) -> None:
        self.weights_version += 1

    def _drawer_key(self, model: CausalLM) -> Optional[tuple[int, int]]:
        """Who drew a row, for reusing the draw's log-probs in place of a rescore (Sampler.scores),
        or None where they would not equal a rescore: the decode step and the full forward round
        alike in float32 (1e-5 apart, tests/test_step_work.py) but not in bf16."""
        if self.autocast is not None or next(model.module.parameters()).dtype != torch.float32:
            return None
        return (id(model), self.weights_version)

    def draw(self, model: CausalLM, prompt_ids: list[list[int]], prompts: list[Prompt], per_prompt: int,
              generator: torch.Generator, indices: Optional[list[int]] = None) -> Draw:
        """Sample `per_prompt` completions of the prompts at `indices` (this rank's; all by default).

        The random numbers are drawn for every row of every rank, so the result does not depend on
        how the prompts are split."""
        indices = list(range(len(prompts))) if indices is None else indices
        s = self.cfg.sampling
        every_row = draw_uniforms(generator, len(prompts) * per_prompt, s.max_new_tokens)
        uniforms = every_row.view(len(prompts), per_prompt, -1)[indices].reshape(len(indices) * per_prompt, -1)
        rows = [prompt_ids[i] for i in indices for _ in range(per_prompt)]
        with self.without_dropout(model):
            parts = [self.engine.sample(model, rows[i:i + MAX_ROWS_PER_BATCH], s.max_new_tokens,
                                        uniforms[i:i + MAX_ROWS_PER_BATCH], self.transform, self.autocast,
                                        self.world.all if self.fsdp else (lambda done: done))
                     for i in range(0, len(rows), MAX_ROWS_PER_BATCH)]
        completions = Completions.concat(parts)
        completions.drawn_by = [self._drawer_key(model)] * len(completions)
        row_prompts = [prompts[i] for i in indices for _ in range(per_prompt)]
        # Rewards see each prompt as the data holds it (text or messages) and the row's other columns.
        with self.interruptible_section():
            values = self.reward([p.value for p in row_prompts], completions.texts, columns_of(row_prompts))
        rewards = torch.tensor(values, dtype=torch.float64)
        parts = {name: torch.tensor(values, dtype=torch.float64).view(len(indices), per_prompt)
                 for name, values in self.reward.parts.items()}
        return Draw(completions, rewards.view(len(indices), per_prompt), parts)

    @contextmanager
    def interruptible_section(self) -> Iterator[None]:
        self.on_interruptible()
        before = self.interruptible
        self.interruptible = True
        try:
            yield
        finally:
            self.interruptible = before

    @torch.no_grad()
    def logp(self, model: CausalLM, completions: Completions, pad_to: Optional[tuple[int, int]] = None) -> torch.Tensor:
        """log π(y) of a role under the sampling transform, without dropout, float64 on the CPU."""
        return self.scores(model, completions, pad_to=pad_to).logp.double().cpu()

    @torch.no_grad()
    def scores(self, model: CausalLM, completions: Completions, rows_per_pass: int = MAX_ROWS_PER_BATCH,
               with_entropy: bool = False, pad_to: Optional[tuple[int, int]] = None) -> SequenceScores:
        """Scores of the rows under `model` (no gradient, no dropout). A row `model` drew itself with
        the weights in place takes the log-prob its draw computed (sequences.take_token): the same
        distribution at the same positions, so a rescore would repeat it. The entropy needs a pass."""
        key = self._drawer_key(model)
        reused = [] if with_entropy or key is None else [i for i, k in enumerate(completions.drawn_by) if k == key]
        taken = set(reused)
        pending = [i for i in range(len(completions)) if i not in taken]
        rows_per_pass = rows_per_pass or MAX_ROWS_PER_BATCH
        parts = []
        with self.without_dropout(model):
            for i in range(0, len(pending), rows_per_pass):
                chunk = completions.select(pending[i:i + rows_per_pass])
                parts.append(score(model, chunk, self.autocast, self.transform, with_entropy, pad_to))
        device = next(model.module.parameters()).device
        dtype = parts[0].logp.dtype if parts else torch.float32
        logp = torch.empty(len(completions), dtype=dtype, device=device)
        tokens = torch.tensor([len(c) for c in completions.completion_ids], device=device)
        if reused:
            assert completions.sampled_logp is not None
            logp[reused] = completions.sampled_logp[reused].to(device, dtype)
        if pending:
            logp[pending] = torch.cat([p.logp for p in parts])
        entropy = torch.cat([p.entropy for p in parts if p.entropy is not None]) if with_entropy else None
        return SequenceScores(logp, tokens, entropy)

    def without_dropout(self, model: CausalLM) -> Any:
        """Dropout is zeroed for good at build time unless train.dropout keeps it for the gradient
        forward; then every other forward switches it off for its duration."""
        if self.cfg.train.dropout:
            return dropout_disabled(model.module)
        return nullcontext()

    def encode(self, prompts: list[Prompt]) -> list[list[int]]:
        return encode_prompts(self.policy, [p.value for p in prompts], self.cfg.sampling.max_new_tokens)

    def side_generator(self, step: int, salt: int) -> torch.Generator:
        # Eval and sample snapshots draw from their own generator, seeded by step, so that doing or
        # skipping them never changes the training samples (exact resume).
        return torch.Generator().manual_seed(self.cfg.train.seed * 1_000_003 + step * 7919 + salt)
