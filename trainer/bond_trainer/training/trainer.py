"""The training loop: one linear loop over steps, each step = sample → score → update.

Writes the run directory (rundir.py); stops cleanly on SIGINT/SIGTERM with a checkpoint; resumes
from the latest checkpoint so that, on CPU with the same seed, the metrics equal those of an
uninterrupted run (eval and sample snapshots use their own per-step generators for that reason).
The step is step.py's, the held-out prompts evaluation.py's, the run's lifecycle session.py's.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import random
import time
from pathlib import Path
from typing import Any, Optional

import torch

from ..algorithms import Algorithm, algorithm_for
from ..run.checkpoints import TrainState, load_checkpoint, save_checkpoint
from ..inputs.config import ConfigError, ConfigProblem, RunConfig
from ..run.console import Console
from ..inputs.data import Prompt, PromptStream, load_prompt_sets
from .distributed import World
from ..sampling.engine import SamplingEngine
from ..models import CausalLM
from ..models.hf import torch_dtype
from ..models.roles import ModelRoles, build_roles
from ..inputs.rewards import Reward, build_reward
from ..run.rundir import RunDirectory
from ..run.layout import METRICS_FILE, PRUNE_REQUEST, SAMPLES_FILE
from ..sampling.sequences import SamplingTransform
from ..run.system import SystemMonitor
from ..run.trackers import Trackers
from .devices import describe_device, select_autocast, select_device
from .evaluation import Evaluator
from .sampler import Sampler
from .step import StepRunner

log = logging.getLogger("bond_trainer")


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
        self.step = 0
        self.algorithm: Algorithm = algorithm_for(cfg)
        self.num_tokens = 0  # generated so far, over every rank (checkpointed)
        self.trackers = Trackers([])  # TensorBoard, W&B: opened by rank 0 (_run_main)
        self.loading = False  # in build(): nothing of the run is written there, so a stop may cut it short

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
        self.sampler = Sampler(cfg, self.policy, self.reward, self.engine, self.transform, self.autocast, self.world, self.fsdp)
        self.sampler.on_interruptible = self._stop_if_requested
        self.stepper = StepRunner(cfg, self.algorithm, self.sampler, self.roles, self.optimizer, self.scheduler,
                                  self.trainable, self.generator, self.system, self.device, self.world)
        self.evaluator = Evaluator(cfg, self.sampler, self.roles, self.prompts, self.world)
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

    def _stop_if_requested(self) -> None:
        """A stop asked for outside a reward (the signal then only set the flag) that reaches a reward
        call before the step loop sees it, e.g. an evaluation right after the step: stop there, since
        that reward may never return. Ranks of a torchrun job decide together in the loop instead."""
        if self.stop_requested and not self.world.active:
            raise StopNow()

    @property
    def interruptible(self) -> bool:
        """Loading (models, reward, data: build), inside a reward call or an evaluation: where a stop
        request interrupts (StopNow) instead of waiting for a step to end, which may never come."""
        sampler = getattr(self, "sampler", None)
        return self.loading or bool(sampler and sampler.interruptible)

    # --- the step and the held-out prompts (step.py, evaluation.py) ------------------------------
    def train_step(self, prompts: list[Prompt]) -> dict[str, float]:
        """One update on the global batch `prompts` (see StepRunner)."""
        metrics = self.stepper.train_step(prompts, self.step)
        # Every token generated so far, by every rank (policy and anchor samples): TRL's num_tokens.
        self.num_tokens += int(metrics.pop("_generated_tokens"))
        metrics["num_tokens"] = float(self.num_tokens)
        return metrics

    def evaluate(self) -> dict[str, Any]:
        return self.evaluator.evaluate(self.step)

    def snapshot_samples(self) -> list[dict[str, Any]]:
        return self.evaluator.snapshot_samples(self.step)

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
        try:
            self._catch_up_held_out_records()
        except StopNow:
            return self._stopped(last_checkpoint)
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
                evaluation = self._held_out_records(last)
                final_eval = evaluation if last else final_eval
            except StopNow as stop:
                # The step itself is complete (evaluation draws from its own generators): keep it.
                part = stop.args[0] if stop.args else "evaluation"
                self.console.line(f"stop requested during the {part} of step {self.step}: a resume takes it again")
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
        return self._end(final_eval, stopping, last_checkpoint)

    def _end(self, final_eval: Optional[dict[str, Any]], stopping: bool, last_checkpoint: int) -> str:
        """After the loop: completed (with the final evaluation a resumed run may still owe), or stopped."""
        total = self.cfg.train.steps
        if stopping and self.step < total:
            return self._stopped(last_checkpoint)
        if self.step >= total and final_eval is None and not stopping:
            try:
                final_eval = self._finish_evaluation()
            except StopNow:
                self.console.line(f"stop requested during the final evaluation of step {self.step}: a resume takes it again")
                return self._stopped(last_checkpoint)
        self.rd.stop_heartbeat()
        if self.step >= total:
            summary = self.summary(final_eval) if final_eval else None
            self.rd.update(status="completed", ended_at=time.time(), summary=summary)
            self.console.summary(summary, self.rd.path)
            return "completed"
        return self._stopped(last_checkpoint)

    def _held_out_records(self, last: bool) -> Optional[dict[str, Any]]:
        """The sample snapshot and the evaluation due after this step (each on its schedule, both
        after the last step), recorded; returns the evaluation, or None when none was due."""
        cfg = self.cfg
        if cfg.samples.every and (self.step % cfg.samples.every == 0 or last):
            try:
                self._record_samples()
            except StopNow:
                raise StopNow("sample snapshot") from None
        if not ((cfg.eval.every and self.step % cfg.eval.every == 0) or last):
            return None
        return self._record_evaluation(self.evaluate())

    def _record_samples(self) -> None:
        records = self.snapshot_samples()
        for record in records:
            self.rd.append(SAMPLES_FILE, record)
        self.trackers.samples(self.step, records)

    def _record_evaluation(self, evaluation: dict[str, Any]) -> dict[str, Any]:
        self.rd.append(METRICS_FILE, {"kind": "eval", "step": self.step, "time": time.time(), **evaluation})
        self.trackers.scalars(self.step, evaluation)
        self.console.evaluation(self.step, evaluation)
        return evaluation

    def _catch_up_held_out_records(self) -> None:
        """Resumed from a run stopped during the sample snapshot or evaluation after its last step
        (the checkpoint holds the step, not those records): make them now, as the run would have.
        Both draw from generators of their own, seeded by the step, so they equal the lost ones."""
        cfg, last = self.cfg, self.step >= self.cfg.train.steps
        if self.step == 0:
            return
        # Rank 0 reads the files; every rank takes its decision (both passes are collective).
        samples_due = bool(cfg.samples.every) and (self.step % cfg.samples.every == 0 or last)
        # After the last step, _finish_evaluation evaluates (and records only what is missing).
        eval_due = bool(cfg.eval.every) and self.step % cfg.eval.every == 0 and not last
        missing = (samples_due and not self.rd.holds_record(SAMPLES_FILE, self.step),
                   eval_due and not self.rd.holds_record(METRICS_FILE, self.step, kind="eval")) \
            if self.world.is_main else (False, False)
        missing_samples, missing_eval = self.world.broadcast_object(missing)
        if missing_samples:
            self.console.line(f"step {self.step}'s sample snapshot was not recorded before the run stopped: taking it now")
            self._record_samples()
        if missing_eval:
            self.console.line(f"step {self.step}'s evaluation was not recorded before the run stopped: running it now")
            self._record_evaluation(self.evaluate())

    def _finish_evaluation(self) -> dict[str, Any]:
        """Resumed at the end (killed after the final checkpoint): finish what that run did not."""
        final_eval = self.evaluate()
        return final_eval if self.rd.holds_record(METRICS_FILE, self.step, kind="eval") else self._record_evaluation(final_eval)

    def _stopped(self, last_checkpoint: int) -> str:
        """A stop request, honoured: a checkpoint of the last completed step, then status stopped."""
        if last_checkpoint != self.step:
            self.save_checkpoint()
        self.rd.stop_heartbeat()
        reason = pruned_reason(self.rd.path)
        if reason is not None:
            self.rd.update(status="pruned", ended_at=time.time(), step=self.step, pruned={"reason": reason, "step": self.step})
            self.console.line(f"pruned at step {self.step}/{self.cfg.train.steps} ({reason}); checkpoint written.")
            return "pruned"
        self.rd.update(status="stopped", ended_at=time.time(), step=self.step)
        self.console.line(f"stopped at step {self.step}/{self.cfg.train.steps}; checkpoint written. Resume with --resume.")
        return "stopped"

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


def pruned_reason(run_path: Path) -> Optional[str]:
    """The reason a sweep's worker wrote before stopping this run (prune-request.json), or None."""
    try:
        reason = json.loads((run_path / PRUNE_REQUEST).read_text(encoding="utf-8")).get("reason")
    except (OSError, ValueError, AttributeError):
        return None
    return str(reason) if reason else "pruned by the sweep"
