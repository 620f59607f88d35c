"""The training loop: one linear loop over steps, each step = sample → score → update.

Writes the run directory (rundir.py); stops cleanly on SIGINT/SIGTERM with a checkpoint; resumes
from the latest checkpoint so that, on CPU with the same seed, the metrics equal those of an
uninterrupted run (eval and sample snapshots use their own per-step generators for that reason).
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import random
import shutil
import signal
import sys
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Iterator, Optional

import torch

from . import bon
from .algorithms import Algorithm, Draw, Draws, RowGroup, ScoredGroup, StepData, algorithm_for, run_description
from .checkpoints import TrainState, load_checkpoint, newest_intact_checkpoint, save_checkpoint
from .config import ConfigError, ConfigProblem, RunConfig, config_changes, describe_changes, normalised_config
from .console import Console
from .data import DataError, Prompt, PromptStream, columns_of, load_prompt_sets
from .distributed import World, close_world, init_world
from .models import CausalLM
from .models.dropout import dropout_disabled
from .models.hf import ModelLoadError, torch_dtype
from .models.roles import ema_update  # noqa: F401 - re-exported: the EMA's tests import it from here
from .models.roles import ModelRoles, build_roles
from .rewards import Reward, RewardError, RewardTimeout, build_reward
from .rundir import (LOG_FILE, METRICS_FILE, RANK_ERRORS, SAMPLES_FILE, DiskFull, FollowerRunDirectory, RunDirectory,
                     RunFolderBusy, RunLock, is_disk_full)
from .engine import SamplingEngine
from .system import SystemMonitor
from .trackers import Trackers
from .sequences import Completions, SamplingTransform, SequenceScores, draw_uniforms, encode_prompts, score

log = logging.getLogger("bond_trainer")
MAX_ROWS_PER_BATCH = 512  # sampling/scoring chunk: bounds memory for large eval draws


class NumericError(Exception):
    pass


def select_device(preference: str, source: str = "<config>", world: World = World()) -> torch.device:
    def unavailable(message: str) -> ConfigError:
        return ConfigError(source, [ConfigProblem("train.device", message, "semantic")])

    if preference == "cuda" or (preference == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise unavailable(f"cuda was requested but torch {torch.__version__} sees no CUDA device; use auto or cpu")
        return torch.device("cuda", world.local_rank) if world.active else torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    mps_available = bool(mps and mps.is_available())
    if preference == "mps" or (preference == "auto" and mps_available):
        if not mps_available:
            raise unavailable("mps was requested but is not available; use auto or cpu")
        return torch.device("mps")
    return torch.device("cpu")


def select_autocast(precision: str, device: torch.device, source: str = "<config>",
                    weights_bf16: bool = False) -> Optional[torch.dtype]:
    """The compute dtype (autocast), or None for fp32. auto: bf16 on a CUDA device that has it, or
    when the frozen weights are bf16 (policy.hf.dtype), so that every role computes at one precision."""
    if precision == "fp32":
        return None
    cuda_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    if precision == "bf16":
        if device.type == "mps" or (device.type == "cuda" and not cuda_bf16):
            where = "this GPU does not support it" if device.type == "cuda" else "the run is on mps"
            raise ConfigError(source, [ConfigProblem(
                "train.precision", f"bf16 autocast needs a CUDA device with bf16 or the CPU; {where}. Use auto or fp32",
                "semantic")])
        return torch.bfloat16
    return torch.bfloat16 if cuda_bf16 or (weights_bf16 and device.type in ("cuda", "cpu")) else None


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{torch.cuda.current_device()} ({torch.cuda.get_device_name()})"
    return device.type


class StopNow(BaseException):
    """A stop request that arrived while the trainer was in code that may never return on its own
    (a reward, an evaluation): raised by the signal handler there, so Stop works within seconds.
    A BaseException, so that a reward's `except Exception` cannot swallow it."""


class Trainer:
    def __init__(self, cfg: RunConfig, run_dir: RunDirectory, console: Console, world: World = World()):
        self.cfg = cfg
        self.rd = run_dir
        self.console = console
        self.world = world
        self.stop_requested = False
        # Inside a reward call or an evaluation: a stop request interrupts it (StopNow) instead of
        # waiting for the step to end, which a hung reward never lets happen.
        self.interruptible = False
        self.step = 0
        self.algorithm: Algorithm = algorithm_for(cfg)
        self.num_tokens = 0  # generated so far, over every rank (checkpointed)
        self.trackers = Trackers([])  # TensorBoard, W&B: opened by rank 0 (_run_main)

    # --- setup ----------------------------------------------------------------------------------
    def build(self) -> None:
        cfg = self.cfg
        torch.manual_seed(cfg.train.seed)
        random.seed(cfg.train.seed)
        self.device = select_device(cfg.train.device, cfg.source, self.world)
        self.system = SystemMonitor(self.device)
        frozen_bf16 = cfg.policy.hf is not None and torch_dtype(cfg.policy.hf.dtype, self.device) == torch.bfloat16
        self.autocast = select_autocast(cfg.train.precision, self.device, cfg.source, frozen_bf16)
        s = cfg.sampling
        # π is the sampling distribution: every draw and every log-prob goes through this transform.
        self.transform = SamplingTransform(s.temperature, s.top_k, s.top_p)
        self.roles: ModelRoles = build_roles(cfg, self.device)
        self.policy: CausalLM = self.roles.policy
        self.ref: CausalLM = self.roles.reference
        self.anchor: CausalLM = self.roles.anchor
        self.reward: Reward = build_reward(cfg, self.device)
        self.prompts = load_prompt_sets(cfg)
        chat = self.prompts.first_chat()
        if chat is not None and not getattr(self.policy.tokenizer, "has_chat_template", False):
            raise ConfigError(cfg.source, [ConfigProblem(
                "data.field", f"{chat.where} holds chat messages, which are rendered with the policy's chat template, but "
                f"the policy ({self.roles.description.split(',')[0]}) has none; use a chat model (policy.hf) or plain-text "
                "prompts", "semantic")])
        self._check_room_for_prompts()
        self.stream = PromptStream(self.prompts.train, cfg.train.seed)
        # A CPU generator drives every draw (sequences.draw_uniforms): the same numbers on every rank
        # and every device, so a sharded or GPU run samples what a single CPU process would.
        self.generator = torch.Generator().manual_seed(cfg.train.seed)
        self.fsdp = self.world.active and cfg.distributed.strategy == "fsdp"
        # FSDP all-gathers weights inside the forward: no CUDA graph can hold that.
        self.engine = SamplingEngine(cfg.sampling.engine, self.device, graphs_allowed=not self.fsdp)
        if self.world.active:
            self._wrap_distributed()  # before the optimizer: FSDP replaces the parameters by shards
        self.trainable = self.roles.trainable_parameters()
        # Fused AdamW on CUDA: one kernel for every parameter instead of several per tensor.
        fused = self.device.type == "cuda" and not self.fsdp
        self.optimizer = torch.optim.AdamW(self.trainable, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay,
                                           **({"fused": True} if fused else {}))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        log.info("model: %s; device %s; autocast %s; world size %d; sampling engine %s", self.roles.description,
                 describe_device(self.device), self.autocast, self.world.size, self.engine.engine)
        log.info("prompts: %d train, %d held out", len(self.prompts.train), len(self.prompts.eval))

    def _wrap_distributed(self) -> None:
        cfg = self.cfg
        if cfg.train.batch_size % self.world.size:
            raise ConfigError(cfg.source, [ConfigProblem(
                "train.batch_size", f"the prompts of a step are split evenly over the {self.world.size} processes, "
                f"so it must be a multiple of {self.world.size} ({cfg.train.batch_size} is not)", "semantic")])
        if self.fsdp:
            from .fsdp import FSDPUnavailable, shard_roles
            try:
                shard_roles(self.roles)
            except FSDPUnavailable as error:
                raise ConfigError(cfg.source, [ConfigProblem("distributed.strategy", str(error), "semantic")]) from None
            return
        from torch.nn.parallel import DistributedDataParallel
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        # Only the gradient-carrying forward runs through DDP (the model's `ddp` attribute); sampling runs on
        # the bare module, so ranks may take different numbers of decoding steps.
        self.policy.ddp = DistributedDataParallel(self.policy.module, device_ids=device_ids, broadcast_buffers=False)

    @property
    def precision(self) -> str:
        """The compute precision (trained weights are fp32 either way)."""
        return "bf16" if self.autocast is not None else "fp32"

    def _lr_factor(self, step: int) -> float:
        t = self.cfg.train
        if t.warmup_steps and step < t.warmup_steps:
            return (step + 1) / t.warmup_steps
        if t.lr_schedule == "cosine":
            span = max(1, t.steps - t.warmup_steps)
            progress = min(1.0, (step - t.warmup_steps) / span)
            return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))
        return 1.0

    # --- sampling and scoring helpers -----------------------------------------------------------
    def _draw(self, model: CausalLM, prompt_ids: list[list[int]], prompts: list[Prompt], per_prompt: int,
              generator: torch.Generator, indices: Optional[list[int]] = None) -> Draw:
        """Sample `per_prompt` completions of the prompts at `indices` (this rank's; all by default).

        The random numbers are drawn for every row of every rank, so the result does not depend on
        how the prompts are split."""
        indices = list(range(len(prompts))) if indices is None else indices
        s = self.cfg.sampling
        every_row = draw_uniforms(generator, len(prompts) * per_prompt, s.max_new_tokens)
        uniforms = every_row.view(len(prompts), per_prompt, -1)[indices].reshape(len(indices) * per_prompt, -1)
        rows = [prompt_ids[i] for i in indices for _ in range(per_prompt)]
        with self._without_dropout(model):
            parts = [self.engine.sample(model, rows[i:i + MAX_ROWS_PER_BATCH], s.max_new_tokens,
                                        uniforms[i:i + MAX_ROWS_PER_BATCH], self.transform, self.autocast,
                                        self.world.all if self.fsdp else (lambda done: done))
                     for i in range(0, len(rows), MAX_ROWS_PER_BATCH)]
        completions = Completions.concat(parts)
        row_prompts = [prompts[i] for i in indices for _ in range(per_prompt)]
        # Rewards see each prompt as the data holds it (text or messages) and the row's other columns.
        with self._interruptible():
            values = self.reward([p.value for p in row_prompts], completions.texts, columns_of(row_prompts))
        rewards = torch.tensor(values, dtype=torch.float64)
        parts = {name: torch.tensor(values, dtype=torch.float64).view(len(indices), per_prompt)
                 for name, values in self.reward.parts.items()}
        return Draw(completions, rewards.view(len(indices), per_prompt), parts)

    def _check_room_for_prompts(self, scanned_at_most: int = 20_000) -> None:
        """The context must leave room for a prompt; prompts longer than that room are cut to their
        last tokens, which is said once, with the count and the fields that set the room."""
        cfg = self.cfg
        context, new = self.policy.context_length, cfg.sampling.max_new_tokens
        where = "policy.gpt.context" if cfg.policy.checkpoint is None and cfg.policy.hf is None else "the policy's context"
        room = context - new
        if room < 1:
            raise ConfigError(cfg.source, [ConfigProblem(
                "sampling.max_new_tokens", f"{new} leaves no room for a prompt in the policy's context of {context} tokens "
                f"({where}); make it smaller than {context}", "semantic")])
        prompts = [*self.prompts.train, *self.prompts.eval]
        scanned = prompts[:scanned_at_most]
        cut = sum(1 for length in self._prompt_lengths(scanned) if length > room)
        if cut:
            share = f"{cut} of {len(scanned)}" + (" scanned" if len(scanned) < len(prompts) else "")
            message = (f"warning: {share} prompts are longer than the {room} tokens the context leaves them ({where} "
                       f"{context} − sampling.max_new_tokens {new}); they are cut to their last {room} tokens. "
                       "Use a model with a longer context or lower sampling.max_new_tokens to keep them whole.")
            log.warning(message)
            self.console.line(message)

    def _prompt_lengths(self, prompts: list[Any]) -> list[int]:
        tokenizer = self.policy.tokenizer
        return [len(tokenizer.encode_chat(p.value) if isinstance(p.value, list) else tokenizer.encode(p.value))  # type: ignore[attr-defined]
                for p in prompts]

    @contextmanager
    def _interruptible(self) -> Iterator[None]:
        before = self.interruptible
        self.interruptible = True
        try:
            yield
        finally:
            self.interruptible = before

    def _rng_and_stream(self) -> dict[str, Any]:
        """What a step changes before its update: restored when a stop interrupts it in a reward,
        so that the checkpoint then written is exactly the state after the last completed step."""
        return {"generator": self.generator.get_state(), "torch": torch.get_rng_state(), "python": random.getstate(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                "stream": copy.deepcopy(self.stream.state())}

    def _restore_rng_and_stream(self, saved: dict[str, Any]) -> None:
        self.generator.set_state(saved["generator"])
        torch.set_rng_state(saved["torch"])
        random.setstate(saved["python"])
        if saved["cuda"]:
            torch.cuda.set_rng_state_all(saved["cuda"])
        self.stream.restore(saved["stream"])

    @torch.no_grad()
    def _logp(self, model: CausalLM, completions: Completions) -> torch.Tensor:
        """log π(y) of a role under the sampling transform, without dropout, float64 on the CPU."""
        return self._scores(model, completions).logp.double().cpu()

    @torch.no_grad()
    def _scores(self, model: CausalLM, completions: Completions, rows_per_pass: int = MAX_ROWS_PER_BATCH) -> SequenceScores:
        rows_per_pass = rows_per_pass or MAX_ROWS_PER_BATCH
        with self._without_dropout(model):
            parts = [score(model, completions.select(list(range(i, min(i + rows_per_pass, len(completions))))),
                           self.autocast, self.transform) for i in range(0, len(completions), rows_per_pass)]
        return SequenceScores(torch.cat([p.logp for p in parts]), torch.cat([p.entropy for p in parts]),
                              torch.cat([p.tokens for p in parts]))

    def _accumulate(self, update_rows: Completions, weights: torch.Tensor, micro: int) -> None:
        """Back-propagate Σ log π(y)·weight(y) micro-batch by micro-batch; under DDP gradients are
        synchronised with the last one only (no_sync). FSDP refuses micro-batches (config.py)."""
        chunks = [list(range(i, min(i + micro, len(update_rows)))) for i in range(0, len(update_rows), micro)]
        for index, chunk in enumerate(chunks):
            with self._gradient_sync(index == len(chunks) - 1):
                part = score(self.policy, update_rows.select(chunk), self.autocast, self.transform)
                (part.logp * weights[chunk[0]:chunk[-1] + 1].to(part.logp.dtype)).sum().backward()

    def _gradient_sync(self, sync: bool) -> Any:
        from contextlib import nullcontext
        ddp = getattr(self.policy, "ddp", None)
        return ddp.no_sync() if ddp is not None and not sync else nullcontext()

    def _without_dropout(self, model: CausalLM) -> Any:
        """Dropout is zeroed for good at build time unless train.dropout keeps it for the gradient
        forward; then every other forward switches it off for its duration."""
        if self.cfg.train.dropout:
            return dropout_disabled(model.module)
        from contextlib import nullcontext
        return nullcontext()

    def _encode(self, prompts: list[Prompt]) -> list[list[int]]:
        return encode_prompts(self.policy, [p.value for p in prompts], self.cfg.sampling.max_new_tokens)

    def _side_generator(self, salt: int) -> torch.Generator:
        # Eval and sample snapshots draw from their own generator, seeded by step, so that doing or
        # skipping them never changes the training samples (exact resume).
        return torch.Generator().manual_seed(self.cfg.train.seed * 1_000_003 + self.step * 7919 + salt)

    # --- one optimizer step ---------------------------------------------------------------------
    def train_step(self, prompts: list[Prompt]) -> dict[str, float]:
        """One update on the global batch `prompts`: draw what the algorithm asks for, score exactly
        the row groups it names, back-propagate its loss, update the anchor. Under torchrun this rank
        samples and scores its shard, and the loss is computed on the gathered batch (distributed.py)."""
        cfg, algorithm, world = self.cfg, self.algorithm, self.world
        t_start = time.perf_counter()
        shard = world.shard(len(prompts))  # equal shares: train.batch_size is a multiple of the world size
        indices = list(range(shard.start, shard.stop))
        prompt_ids = self._encode(prompts)
        policy_per_prompt, anchor_per_prompt = algorithm.policy_samples, algorithm.anchor_samples
        draws = Draws(
            self._draw(self.policy, prompt_ids, prompts, policy_per_prompt, self.generator, indices) if policy_per_prompt else None,
            self._draw(self.anchor, prompt_ids, prompts, anchor_per_prompt, self.generator, indices) if anchor_per_prompt else None)
        t_sampled = time.perf_counter()

        plan = algorithm.rows(draws)
        batch = Completions.concat([draws.of(group.source).completions.select(group.rows) for group in plan.values()])
        # The anchor and the reference score the very batch the policy's gradient forward sees (same
        # rows, same padding), so that equal weights give bit-equal log-probs: a KL of exactly 0.
        logp_anchor = self._logp(self.anchor, batch) if any(g.anchor for g in plan.values()) else None
        wants_ref = any(g.reference for g in plan.values())
        logp_ref = (logp_anchor if self.anchor is self.ref and logp_anchor is not None
                    else self._logp(self.ref, batch) if wants_ref else None)
        t_scored = time.perf_counter()

        self.policy.module.train()
        micro = cfg.train.micro_batch_size
        accumulate = 0 < micro < len(batch)
        if accumulate:
            # Gradient accumulation: the loss is a function of the rows' log-probs, so its gradient with
            # respect to them comes from one no-grad pass, and each micro-batch then back-propagates
            # log π · that gradient (the chain rule, exactly).
            scores = self._scores(self.policy, batch, micro)
            leaf = scores.logp.to(self.device).detach().requires_grad_(True)
            gradient_logp = leaf
        else:
            scores = score(self.policy, batch, self.autocast, self.transform)
            gradient_logp = scores.logp
        # With train.dropout the gradient forward drops out; the returns and KL estimates must not.
        exact_logp = self._logp(self.policy, batch) if cfg.train.dropout and not accumulate else None
        step_data = self._step_data(plan, draws, gradient_logp, exact_logp, logp_anchor, logp_ref, scores)
        out = algorithm.loss(step_data)
        if not torch.isfinite(out.total):
            terms = ", ".join(f"{name} {value.item():.6g}" for name, value in out.terms.items())
            raise NumericError(f"the loss became {out.total.item()} at step {self.step + 1} ({terms}); "
                               "lower train.lr or check the reward's scale")
        lr = self.scheduler.get_last_lr()[0]
        self.optimizer.zero_grad(set_to_none=True)
        # DDP averages gradients over ranks; each rank's part of the global loss must be summed.
        (out.total * world.size).backward()
        if accumulate:
            assert leaf.grad is not None
            self._accumulate(batch, leaf.grad.detach(), micro)
        clip = cfg.train.grad_clip if cfg.train.grad_clip is not None else float("inf")
        norm = torch.nn.utils.clip_grad_norm_(self.trainable, clip)
        grad_norm = float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)  # a DTensor under FSDP
        self.optimizer.step()
        self.scheduler.step()
        self._update_anchor(self.step + 1)
        t_updated = time.perf_counter()

        metrics: dict[str, float] = {"loss/total": out.total.item(),
                                     **{f"loss/{name}": value.item() for name, value in out.terms.items()},
                                     **out.metrics, "grad_norm": grad_norm if math.isfinite(grad_norm) else 0.0, "lr": lr}
        if algorithm.lora_ema_anchor:
            metrics["anchor/lora_truncation"] = self.roles.anchor_truncation
        elapsed = t_updated - t_start
        generated = sum(d.completions.generated_tokens for d in (draws.policy, draws.anchor) if d is not None)
        samples = sum(len(d.completions) for d in (draws.policy, draws.anchor) if d is not None)
        metrics.update({
            "_generated_tokens": float(generated),
            # samples/s counts what the step drew (policy and anchor), as tokens/s does
            "perf/samples_per_s": samples / elapsed, "perf/tokens_per_s": generated / elapsed,
            "time/sample_s": t_sampled - t_start, "time/score_s": t_scored - t_sampled, "time/update_s": t_updated - t_scored,
            **self.system.sample(),
        })
        # Entropy, length and timings are per rank: averaged (equal shards); throughput adds up.
        reduced = world.reduce_metrics(metrics)
        # Every token generated so far, by every rank (policy and anchor samples): TRL's num_tokens.
        self.num_tokens += int(reduced.pop("_generated_tokens"))
        reduced["num_tokens"] = float(self.num_tokens)
        return reduced

    def _step_data(self, plan: dict[str, RowGroup], draws: Draws, gradient_logp: torch.Tensor,
                   exact_logp: Optional[torch.Tensor], logp_anchor: Optional[torch.Tensor],
                   logp_ref: Optional[torch.Tensor], scores: SequenceScores) -> StepData:
        """The scored batch cut back into the algorithm's row groups, each over every rank: this
        rank's log π rows carry gradient, every other rank's are constants."""
        world = self.world
        dtype, device = gradient_logp.dtype, gradient_logp.device

        # Statistics are float64 on the CPU; on the device they take the log-probs' dtype (MPS has no float64).
        def on_device(t: torch.Tensor) -> torch.Tensor:
            return world.gather_rows(t.to(device, dtype))

        drawn = {source: draw for source, draw in (("policy", draws.policy), ("anchor", draws.anchor)) if draw is not None}
        raw = {source: world.gather_rows(draw.rewards) for source, draw in drawn.items()}
        objective = self._objective_rewards({source: on_device(draw.rewards) for source, draw in drawn.items()})
        parts = {source: {name: world.gather_rows(values) for name, values in draw.parts.items()}
                 for source, draw in drawn.items()}
        groups: dict[str, ScoredGroup] = {}
        offset = 0
        for name, group in plan.items():
            count = len(group.rows)
            shape = (count // group.per_prompt, group.per_prompt)
            rows = slice(offset, offset + count)
            offset += count
            local_rewards = drawn[group.source].rewards.reshape(-1)[group.rows].view(shape)
            # The objective's rewards of these rows: the same rows of every rank's normalised draw.
            normalised = self._rows_of_every_rank(objective[group.source], drawn[group.source].rewards.shape[1],
                                                  group.rows).view(-1, group.per_prompt)
            groups[name] = ScoredGroup(
                logp=world.global_with_local_gradient(gradient_logp[rows].view(shape)),
                weight_logp=on_device(exact_logp[rows].view(shape)) if exact_logp is not None else None,
                anchor=on_device(logp_anchor[rows].view(shape)) if group.anchor and logp_anchor is not None else None,
                reference=on_device(logp_ref[rows].view(shape)) if group.reference and logp_ref is not None else None,
                rewards=normalised, raw_rewards=world.gather_rows(local_rewards),
                local_entropy=scores.entropy[rows].detach(), local_tokens=scores.tokens[rows])
        return StepData(groups, objective, raw, parts, draws)

    def _rows_of_every_rank(self, global_values: torch.Tensor, per_prompt: int, rows: list[int]) -> torch.Tensor:
        """`rows` (this rank's row indices into its draw) picked from every rank's share of a gathered
        [G, per_prompt] tensor, in rank order. Ranks choose their own rows; only the values travel."""
        world = self.world
        if not world.active:
            return global_values.reshape(-1)[rows]
        local = global_values.shape[0] // world.size
        mine = global_values[world.rank * local:(world.rank + 1) * local].reshape(-1)[rows]
        return world.gather_rows(mine)

    def _objective_rewards(self, rewards: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """reward.normalize: what the objective sees. standardize uses every reward drawn in the step."""
        if self.cfg.reward.normalize == "none" or not rewards:
            return rewards
        every = torch.cat([values.reshape(-1) for values in rewards.values()])
        mean, std = every.mean(), every.std(unbiased=False)
        scale = std if float(std) > 0 else torch.ones_like(std)
        return {source: (values - mean) / scale for source, values in rewards.items()}

    @torch.no_grad()
    def _update_anchor(self, completed_steps: int) -> None:
        a = self.cfg.anchor
        if self.roles.anchor_is_reference:
            return
        if a.kind == "hard":
            if completed_steps % a.period == 0:
                self.roles.copy_policy_to_anchor()
                log.info("step %d: hard anchor update (anchor ← policy)", completed_steps)
        else:
            self.roles.ema_anchor(a.ema_eta)

    # --- evaluation and sample snapshots ---------------------------------------------------------
    @torch.no_grad()
    def evaluate(self) -> dict[str, Any]:
        """Held-out metrics; under torchrun each rank takes a share of the prompts and the results are gathered."""
        cfg, e = self.cfg, self.cfg.eval
        prompts = self.prompts.eval[:e.prompts]
        prompt_ids = self._encode(prompts)
        indices, real = self.world.padded_shard(len(prompts))
        generator = self._side_generator(1)
        policy = self._draw(self.policy, prompt_ids, prompts, e.policy_samples, generator, indices)
        ref = self._draw(self.ref, prompt_ids, prompts, e.mc_samples, generator, indices)
        anchor = ref if self.anchor is self.ref else self._draw(self.anchor, prompt_ids, prompts, e.mc_samples, generator, indices)
        shape = (len(indices), e.policy_samples)
        logp_policy = self._logp(self.policy, policy.completions).view(shape)
        logp_ref = self._logp(self.ref, policy.completions).view(shape)
        logp_anchor = logp_ref if self.anchor is self.ref else self._logp(self.anchor, policy.completions).view(shape)
        # Padding rows (see World.padded_shard) are dropped; the real shares travel as objects.
        parts = self.world.gather_objects(tuple(t[:real] for t in (policy.rewards, ref.rewards, anchor.rewards,
                                                                   logp_policy, logp_ref, logp_anchor)))
        policy_rewards, ref_rewards, anchor_rewards, logp_policy, logp_ref, logp_anchor = (
            torch.cat([part[i] for part in parts]) for i in range(6))
        policy, ref = Draw(policy.completions, policy_rewards), Draw(ref.completions, ref_rewards)
        anchor = ref if self.anchor is self.ref else Draw(anchor.completions, anchor_rewards)
        curve = bon.bon_reward_curve(ref.rewards, e.n_max)
        policy_reward = policy.rewards.mean().item()
        floor = cfg.bond.quantile_floor
        record: dict[str, Any] = {
            "eval/reward/policy": policy_reward,
            "eval/reward/ref": curve[0].item(),
            "eval/reward/bon": curve[e.bon_n - 1].item(),
            "eval/reward/anchor": anchor.rewards.mean().item(),
            "eval/kl/policy_ref": (logp_policy - logp_ref).mean().item(),
            "eval/kl/policy_anchor": (logp_policy - logp_anchor).mean().item(),
            "eval/kl/bon_bound": bon.kl_bon_bound(e.bon_n),
            "eval/quantile/log_policy": bon.log_quantile(policy.rewards, anchor.rewards, floor, e.bon_n).mean().item(),
            "eval/quantile/log_policy_ref": bon.log_quantile(policy.rewards, ref.rewards, floor, e.bon_n).mean().item(),
            "eval/effective_n": bon.effective_n(policy_reward, curve),
            "eval/win_rate_vs_bon": bon.win_rate_vs_bon(policy.rewards, ref.rewards, e.bon_n).item(),
            "bon_curve": [round(v, 6) for v in curve.tolist()],
        }
        return record

    @torch.no_grad()
    def snapshot_samples(self) -> list[dict[str, Any]]:
        """Sample records for the held-out prompts; under torchrun each rank builds its share and rank 0
        gets them all, in prompt order."""
        cfg, s = self.cfg, self.cfg.samples
        prompts = self.prompts.eval[:s.prompts]
        prompt_ids = self._encode(prompts)
        indices, real = self.world.padded_shard(len(prompts))
        generator = self._side_generator(2)
        policy = self._draw(self.policy, prompt_ids, prompts, 2, generator, indices)
        anchor = self._draw(self.anchor, prompt_ids, prompts, s.mc_samples, generator, indices)
        local = len(indices)
        n = cfg.eval.bon_n
        winners = bon.best_index(anchor.rewards[:, :n])
        # Shown per prompt: both policy samples (rows 2g, 2g+1), then anchor samples 0 and 1 and the winner.
        anchor_rows = [g * s.mc_samples + i for g in range(local) for i in (0, 1, int(winners[g]))]
        shown = Completions.concat([policy.completions, anchor.completions.select(anchor_rows)])
        shown_rewards = torch.cat([policy.rewards.view(-1), anchor.rewards.view(-1)[anchor_rows]])
        lp_policy = self._logp(self.policy, shown)
        lp_anchor = self._logp(self.anchor, shown)
        lp_ref = lp_anchor if self.anchor is self.ref else self._logp(self.ref, shown)
        records = []
        now = time.time()
        for g in range(real):
            prompt_id = indices[g]
            def scored(row: int) -> dict[str, Any]:
                reward = shown_rewards[row].item()
                lq = bon.log_quantile(shown_rewards[row].view(1, 1), anchor.rewards[g:g + 1], cfg.bond.quantile_floor, n)
                return {"text": shown.texts[row], "reward": reward, "log_quantile": lq.item(),
                        "logp_policy": lp_policy[row].item(), "logp_anchor": lp_anchor[row].item(),
                        "logp_ref": lp_ref[row].item(), "truncated": shown.truncated[row]}
            base = 2 * local + 3 * g
            candidates = [{"text": anchor.completions.texts[g * s.mc_samples + i], "reward": anchor.rewards[g, i].item()}
                          for i in range(n)]
            records.append({"step": self.step, "time": now, "prompt_id": prompt_id, "prompt": prompts[prompt_id].text,
                            "policy": [scored(2 * g), scored(2 * g + 1)],
                            "anchor": [scored(base), scored(base + 1)],
                            "bon": {"n": n, "winner": int(winners[g]), "best": scored(base + 2), "candidates": candidates}})
        return [record for part in self.world.gather_objects(records) for record in part]

    # --- checkpoints (checkpoints.py) ------------------------------------------------------------
    def train_state(self) -> TrainState:
        """What checkpoints.py saves and restores, as of now."""
        cfg = self.cfg
        return TrainState(self.rd, self.roles, self.optimizer, self.scheduler, self.generator, self.stream, self.trainable,
                          self.device, self.world, self.fsdp, cfg.checkpoint.keep_last, cfg.export.onnx, self.step,
                          self.num_tokens)

    def save_checkpoint(self) -> Path:
        return save_checkpoint(self.train_state())

    def load_checkpoint(self, path: Path) -> None:
        state = self.train_state()
        load_checkpoint(state, path)
        self.step, self.num_tokens = state.step, state.num_tokens

    # --- the loop -------------------------------------------------------------------------------
    def run(self) -> str:
        """Train to the end or to a stop request. Returns the final status."""
        cfg = self.cfg
        total = cfg.train.steps
        last_checkpoint = self.step
        self.rd.update(status="running", started_at=time.time(), started_step=self.step, device=describe_device(self.device),
                       precision=self.precision, step=self.step, world_size=self.world.size,
                       model=f"{self.roles.description}; reward: {self.reward.name}")
        self.rd.start_heartbeat(self._watch_other_ranks if self.world.active else None)
        self.console.start(self.step, total)
        final_eval: Optional[dict[str, Any]] = None
        last_meta_write = 0.0
        stopping = False
        while self.step < total and not stopping:
            before_step = self._rng_and_stream()
            try:
                metrics = self.train_step(self.stream.next_batch(cfg.train.batch_size))
            except StopNow:
                # Stopped inside a reward, before this step's update: back to the last completed step.
                self._restore_rng_and_stream(before_step)
                self.console.line(f"stop requested inside the reward of step {self.step + 1}: that step is dropped")
                return self._stopped(last_checkpoint)
            self.step += 1
            # Every rank must take the same decisions: a stop seen by one rank stops all after this step.
            stopping = self.world.any(self.stop_requested)
            self.rd.append(METRICS_FILE, {"kind": "train", "step": self.step, "time": time.time(), **metrics})
            self.trackers.scalars(self.step, metrics)
            last = self.step == total
            try:
                if cfg.samples.every and (self.step % cfg.samples.every == 0 or last):
                    records = self.snapshot_samples()
                    for record in records:
                        self.rd.append(SAMPLES_FILE, record)
                    self.trackers.samples(self.step, records)
                if (cfg.eval.every and self.step % cfg.eval.every == 0) or last:
                    evaluation = self.evaluate()
                    self.rd.append(METRICS_FILE, {"kind": "eval", "step": self.step, "time": time.time(), **evaluation})
                    self.trackers.scalars(self.step, evaluation)
                    self.console.evaluation(self.step, evaluation)
                    final_eval = evaluation if last else None
            except StopNow:
                # The step itself is complete (evaluation draws from its own generators): keep it.
                self.console.line(f"stop requested during the evaluation of step {self.step}: that evaluation is not recorded")
                self.rd.update(step=self.step)
                return self._stopped(last_checkpoint)
            due = cfg.checkpoint.every and self.step % cfg.checkpoint.every == 0
            # run.json is rewritten (fsync, rename) at most once a second: fast steps on a GPU would
            # otherwise sync it tens of times a second. Readers get every step from metrics.jsonl.
            if time.time() - last_meta_write >= 1.0 or due or last or stopping:
                self.rd.update(step=self.step)
                last_meta_write = time.time()
            self.console.progress(self.step, metrics)
            if due or last or stopping:
                self.save_checkpoint()
                last_checkpoint = self.step
        if stopping and self.step < total:
            return self._stopped(last_checkpoint)
        if self.step >= total and final_eval is None and not stopping:
            # Resumed at the end (killed after the final checkpoint): finish what that run did not.
            final_eval = self.evaluate()
            if not self._evaluated_at(self.step):
                self.rd.append(METRICS_FILE, {"kind": "eval", "step": self.step, "time": time.time(), **final_eval})
                self.trackers.scalars(self.step, final_eval)
        self.rd.stop_heartbeat()
        if self.step >= total:
            summary = self.summary(final_eval) if final_eval else None
            self.rd.update(status="completed", ended_at=time.time(), summary=summary)
            self.console.summary(summary, self.rd.path)
            return "completed"
        return self._stopped(last_checkpoint)

    def _stopped(self, last_checkpoint: int) -> str:
        """A stop request, honoured: a checkpoint of the last completed step, then status stopped."""
        if last_checkpoint != self.step:
            self.save_checkpoint()
        self.rd.stop_heartbeat()
        self.rd.update(status="stopped", ended_at=time.time(), step=self.step)
        self.console.line(f"stopped at step {self.step}/{self.cfg.train.steps}; checkpoint written. Resume with --resume.")
        return "stopped"

    def _evaluated_at(self, step: int) -> bool:
        """metrics.jsonl already holds an evaluation line of this step."""
        path = self.rd.path / METRICS_FILE
        if not path.exists():
            return False
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if '"eval"' in line:
                    try:
                        record = json.loads(line)
                    except ValueError:
                        continue
                    if record.get("kind") == "eval" and record.get("step") == step:
                        return True
        return False

    def _watch_other_ranks(self) -> None:
        """Rank 0, every second: another rank that failed wrote its error; report it and end the run
        now, rather than wait in a collective that will never complete."""
        error = self.rd.first_rank_error()
        if error is None:
            return
        log.error("rank %s failed: %s", error.get("rank"), error.get("message"))
        self.rd.update(status="failed", ended_at=time.time(), error={**error, "step": self.step})
        self.console.error(f"rank {error.get('rank')} failed: {error.get('message')}")
        os._exit(1)

    def summary(self, evaluation: dict[str, Any]) -> dict[str, Any]:
        return {"step": self.step, "reward_ref": evaluation["eval/reward/ref"], "reward_bon": evaluation["eval/reward/bon"],
                "reward_policy": evaluation["eval/reward/policy"], "bon_n": self.cfg.eval.bon_n,
                "kl_policy_ref": evaluation["eval/kl/policy_ref"], "kl_bon_bound": evaluation["eval/kl/bon_bound"],
                "effective_n": evaluation["eval/effective_n"], "win_rate_vs_bon": evaluation["eval/win_rate_vs_bon"]}


def _setup_logging(run_dir: Path) -> logging.Handler:
    handler = logging.FileHandler(run_dir / LOG_FILE, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    return handler


def run_training(cfg: RunConfig, run_path: Path, resume: bool, config_path: Optional[Path],
                 console: Console) -> int:
    """The `train` command. Exit code: 0 completed or stopped, 2 bad input, 1 anything else.

    Under torchrun every rank runs this; rank 0 alone writes the run folder and talks to the user."""
    world = init_world(cfg.train.device, cfg.distributed.timeout_s)
    try:
        if world.is_main:
            return _run_main(cfg, run_path, resume, config_path, console, world)
        return _run_follower(cfg, run_path, resume, world)
    finally:
        close_world(world)


def _run_main(cfg: RunConfig, run_path: Path, resume: bool, config_path: Optional[Path], console: Console,
              world: World) -> int:
    rd = RunDirectory(run_path)
    # One trainer per run folder: the lock comes before anything is read or written.
    created = not run_path.exists()
    lock = RunLock(run_path)
    problem: Optional[str] = None
    try:
        run_path.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except (RunFolderBusy, OSError) as error:
        problem = str(error) if isinstance(error, RunFolderBusy) else f"--run-dir {run_path}: cannot use it ({error})"
    existing = (run_path / "run.json").exists()
    meta: dict[str, Any] = {}
    if problem:
        pass
    elif resume and not existing:
        problem = f"--resume: {run_path} holds no run (no run.json); start a new run without --resume"
    elif not resume and existing:
        problem = f"--run-dir {run_path} already holds a run; pass --resume to continue it or choose a new folder"
    elif resume:
        meta = rd.read_meta()
        done = int(meta.get("step", 0))
        if meta.get("status") == "completed" and cfg.train.steps <= done:
            problem = (f"{run_path}: the run already completed all {done} steps; to train further, resume with more "
                       f"steps, e.g. --set train.steps={2 * done} (or raise train.steps in its config)")
        elif meta.get("status") == "running" and _pid_alive(int(meta.get("pid", 0))) and meta.get("pid") != os.getpid():
            problem = f"{run_path}: the run is still running (pid {meta['pid']}); stop it before resuming"
    # The other ranks wait for this verdict before they touch the folder.
    world.broadcast_object(problem)
    if problem:
        console.error(problem)
        if created and lock.held:  # a folder this refusal made: leave nothing behind
            lock.release()
            shutil.rmtree(run_path, ignore_errors=True)
        return 2
    lock.announce()
    try:
        return _train_main(cfg, rd, resume, meta, config_path, console, world)
    finally:
        lock.release()


def _train_main(cfg: RunConfig, rd: RunDirectory, resume: bool, meta: dict[str, Any], config_path: Optional[Path],
                console: Console, world: World) -> int:
    run_path = rd.path
    handler = _setup_logging(run_path)
    trainer = Trainer(cfg, rd, console, world)
    previous_handlers = _install_stop_handlers(trainer, rd, console, world)
    try:
        if resume:
            extending = meta.get("status") == "completed"
            rd.adopt(meta)
            history = rd.segments()
            changed = config_changes(normalised_config(history[-1]["config"]), cfg.to_json())
            if changed:
                console.line(f"the config differs from the one this run last trained with: {describe_changes(changed)}; "
                             "run.json records it as a new segment")
            rd.update(config=cfg.to_json(), total_steps=cfg.train.steps, resume_count=int(meta.get("resume_count", 0)) + 1,
                      error=None, summary=None, segments=history, **run_description(trainer.algorithm))
            if extending:
                log.info("extending the completed run from %s to %d steps", meta.get("step"), cfg.train.steps)
        else:
            rd.create(cfg.name, cfg.algorithm, cfg.to_json(), str(config_path.resolve()) if config_path else None,
                      cfg.train.steps, run_description(trainer.algorithm))
        if world.active:
            shutil.rmtree(run_path / RANK_ERRORS, ignore_errors=True)
        log.info("run %s: %s, config %s", run_path.name, "resuming" if resume else "starting", config_path)
        rd.keep_reserve()
        trainer.build()
        # The System charts match what this device reports (GPU memory only on CUDA, utilisation with NVML).
        rd.update(metric_groups=[g.to_json() for g in [*trainer.algorithm.metric_groups(), *trainer.system.metric_groups()]])
        rd.clean_partial_checkpoints()
        rd.sync_checkpoints()  # whatever an interrupted run left listed, the list is what is on disk
        world.barrier()  # partial checkpoints are gone before any rank lists them
        if resume:
            _resume(trainer, rd, console)
            rd.update(segments=resumed_segments(rd.segments(), cfg.to_json(), trainer.step))
        trainer.trackers = open_trackers(cfg, run_path, trainer.step if resume else None)
        trainer.run()
        return 0
    except (ConfigError, DataError, ModelLoadError) as error:
        if not resume and trainer.step == 0:
            # Bad input found while starting a new run: said, and nothing of the run is left behind.
            console.error(str(error))
            rd.discard_new_run()
            return 2
        _fail(rd, trainer, console, "data" if isinstance(error, DataError) else "config", str(error))
        return 2
    except RewardTimeout as error:
        _fail(rd, trainer, console, "timeout", str(error))
        return 1
    except RewardError as error:
        _fail(rd, trainer, console, "reward", str(error))
        return 1
    except NumericError as error:
        _fail(rd, trainer, console, "numeric", str(error))
        return 1
    except DiskFull as error:
        rd.release_reserve()  # room to record it
        _fail(rd, trainer, console, "disk_full", str(error))
        return 1
    except Exception as error:  # noqa: BLE001 - the run must end as failed with the reason
        if is_disk_full(error, run_path):  # a write we do not wrap (a tracker, a library)
            rd.release_reserve()
            _fail(rd, trainer, console, "disk_full", f"no space left on device while writing to {run_path} "
                  f"({type(error).__name__}: {error}); free space, then resume")
            return 1
        _fail(rd, trainer, console, "internal", f"{type(error).__name__}: {error}")
        return 1
    except BaseException as error:  # an exit or interrupt that reached here: never leave the run "running"
        _fail(rd, trainer, console, "internal", f"the trainer was ended by {type(error).__name__} ({error!r}) at step {trainer.step}")
        return 1
    finally:
        rd.stop_heartbeat()
        trainer.trackers.close()
        for sig, previous in previous_handlers.items():
            signal.signal(sig, previous)
        log.removeHandler(handler)
        handler.close()


def resumed_segments(history: list[dict[str, Any]], config: dict[str, Any], step: int) -> list[dict[str, Any]]:
    """The config history after a resume from `step`: segments that began after it describe steps
    that are replayed now, so they go; a config that differs from the one in force gets a segment."""
    kept = [segment for segment in history if segment["start_step"] < step] or history[:1]
    if step == 0:  # nothing trained before remains: the run starts over with this config
        return [{"start_step": 0, "started_at": time.time(), "config": config, "changes": []}]
    changes = config_changes(normalised_config(kept[-1]["config"]), config)
    if not changes:
        return kept
    return [*kept, {"start_step": step, "started_at": time.time(), "config": config, "changes": changes}]


def open_trackers(cfg: RunConfig, run_path: Path, resume_step: Optional[int]) -> Trackers:
    """TensorBoard and W&B as the config asks; a package that cannot be imported is a config problem."""
    try:
        return Trackers.open(cfg, run_path, resume_step)
    except ImportError as error:
        field_name = "logging.wandb" if "wandb" in str(error) else "logging.tensorboard"
        raise ConfigError(cfg.source, [ConfigProblem(field_name, f"its package cannot be imported ({error}); "
                                                     "install it in the trainer's Python", "semantic")]) from None


def _resume(trainer: Trainer, rd: RunDirectory, console: Console) -> None:
    # Rank 0 checks the hashes and picks; every other rank loads what it picked.
    chosen = newest_intact_checkpoint(rd, console) if trainer.world.is_main else None
    chosen = trainer.world.broadcast_object(chosen)
    if chosen is not None:
        trainer.load_checkpoint(chosen)
        log.info("resumed from %s at step %d", chosen.name, trainer.step)
        console.line(f"resuming from step {trainer.step}")
    else:
        rd.truncate(METRICS_FILE, 0)
        rd.truncate(SAMPLES_FILE, 0)
        console.line("no checkpoint yet: starting from step 0")


def _run_follower(cfg: RunConfig, run_path: Path, resume: bool, world: World) -> int:
    """Ranks other than 0: train in step with rank 0, write nothing but their own failure."""
    if world.broadcast_object(None):
        return 2  # rank 0 refused the run and said why
    with open(os.devnull, "w", encoding="utf-8") as devnull:
        return _train_follower(cfg, run_path, resume, world, Console(devnull, sys.stderr))


def _train_follower(cfg: RunConfig, run_path: Path, resume: bool, world: World, quiet: Console) -> int:
    rd = FollowerRunDirectory(run_path)
    trainer = Trainer(cfg, rd, quiet, world)
    previous_handlers = _install_stop_handlers(trainer, rd, quiet, world)
    try:
        trainer.build()
        world.barrier()
        if resume:
            _resume(trainer, rd, quiet)
        trainer.run()
        return 0
    except BaseException as error:  # noqa: BLE001 - rank 0 reports it in run.json
        kind = ("config" if isinstance(error, (ConfigError, ModelLoadError)) else "data" if isinstance(error, DataError)
                else "reward" if isinstance(error, RewardError) else "numeric" if isinstance(error, NumericError)
                else "internal")
        message = str(error) if kind != "internal" else f"{type(error).__name__}: {error}"
        print(f"error: rank {world.rank}: {message}", file=sys.stderr, flush=True)
        if isinstance(error, Exception):
            (run_path / RANK_ERRORS).mkdir(parents=True, exist_ok=True)
            RunDirectory(run_path).write_rank_error(world.rank, {"message": f"rank {world.rank}: {message}", "type": kind,
                                                                "traceback": traceback.format_exc()})
        return 2 if kind in ("config", "data") else 1
    finally:
        for sig, previous in previous_handlers.items():
            signal.signal(sig, previous)


def _fail(rd: RunDirectory, trainer: Trainer, console: Console, kind: str, message: str) -> None:
    tb = traceback.format_exc()
    log.error("run failed (%s): %s\n%s", kind, message, tb)
    rd.stop_heartbeat()
    error: dict[str, Any] = {"message": message, "type": kind, "step": trainer.step, "traceback": tb}
    if trainer.world.active:
        # A collective that broke because another rank died: that rank's error is the real one.
        deadline = time.time() + 3.0
        other = rd.first_rank_error()
        while other is None and time.time() < deadline:
            time.sleep(0.2)
            other = rd.first_rank_error()
        if other is not None:
            error = {**other, "step": trainer.step}
            message = str(other.get("message"))
        else:
            error["rank"] = trainer.world.rank
    console.error(message)
    if rd.meta:
        try:
            rd.update(status="failed", ended_at=time.time(), error=error)
        except Exception as write_error:  # noqa: BLE001 - said above; the run folder may be beyond writing
            log.error("could not record the failure in run.json: %s", write_error)
            console.error(f"could not record the failure in {rd.path / 'run.json'}: {write_error}")


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _install_stop_handlers(trainer: Trainer, rd: RunDirectory, console: Console, world: World = World()) -> dict[int, Any]:
    def handle(signum: int, _frame: Optional[FrameType]) -> None:
        if not trainer.stop_requested:
            trainer.stop_requested = True
            if trainer.interruptible and not world.active:
                # In a reward or an evaluation, which may never return: interrupt it here.
                log.info("signal %d inside a reward or evaluation: stopping now", signum)
                console.line(f"stop requested (signal {signum}): interrupting the reward, then checkpointing")
                raise StopNow()
            log.info("signal %d: stopping after the current step", signum)
            console.line(f"stop requested (signal {signum}): finishing the current step, then checkpointing")
            return
        if world.active:
            # torchrun relays the group's SIGINT, so every rank sees it twice: the stop is already under
            # way, and leaving now would strand the other ranks in a collective.
            log.info("signal %d again: the stop is under way", signum)
            return
        # Second signal: leave now. Everything on disk is complete: checkpoints are renamed into place
        # only when whole, and record lines are written in one call.
        log.info("second signal %d: exiting without a new checkpoint", signum)
        rd.stop_heartbeat()
        if rd.meta:
            rd.update(status="stopped", ended_at=time.time())
        sys.stdout.flush()
        os._exit(0)

    previous: dict[int, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handle)
    return previous

