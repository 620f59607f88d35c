"""One optimizer step: draw what the algorithm asks for, score exactly the row groups it names,
back-propagate its loss, update the anchor. It names no algorithm and no row layout
(algorithms/base.py says what an algorithm tells it)."""

from __future__ import annotations

import logging
import math
import time
from contextlib import nullcontext
from dataclasses import replace
from typing import Any, Callable, Optional

import torch

from ..algorithms import Algorithm, Draw, Draws, LossOutput, RowGroup, ScoredGroup, StepData
from ..inputs.config import RunConfig
from ..inputs.data import Prompt
from .distributed import World
from ..models import CausalLM
from ..models.roles import ModelRoles
from ..sampling.sequences import Completions, SequenceScores, score
from ..run.system import SystemMonitor
from .sampler import Sampler

log = logging.getLogger("bond_trainer")


class NumericError(Exception):
    pass


def batch_rows(plan: dict[str, RowGroup], wanted: Callable[[RowGroup], bool]) -> list[int]:
    """Indices into the step's scored batch (the plan's groups, concatenated in order) of the rows
    of the groups `wanted` picks."""
    rows: list[int] = []
    offset = 0
    for group in plan.values():
        if wanted(group):
            rows.extend(range(offset, offset + len(group.rows)))
        offset += len(group.rows)
    return rows


class StepRunner:
    def __init__(self, cfg: RunConfig, algorithm: Algorithm, sampler: Sampler, roles: ModelRoles,
                 optimizer: torch.optim.Optimizer, scheduler: Any, trainable: list[torch.nn.Parameter],
                 generator: torch.Generator, system: SystemMonitor, device: torch.device, world: World):
        self.cfg = cfg
        self.algorithm = algorithm
        self.sampler = sampler
        self.roles = roles
        self.policy, self.anchor, self.ref = roles.policy, roles.anchor, roles.reference
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.trainable = trainable
        self.generator = generator
        self.system = system
        self.device = device
        self.world = world
        self.autocast, self.transform = sampler.autocast, sampler.transform

    def train_step(self, prompts: list[Prompt], step: int) -> dict[str, float]:
        """One update on the global batch `prompts`: draw what the algorithm asks for, score exactly
        the row groups it names, back-propagate its loss, update the anchor. Under torchrun this rank
        samples and scores its shard, and the loss is computed on the gathered batch (distributed.py)."""
        cfg, algorithm, world = self.cfg, self.algorithm, self.world
        t_start = time.perf_counter()
        draws = self._draws(prompts)
        t_sampled = time.perf_counter()

        plan = self._plan(draws, step + 1)
        batch = Completions.concat([draws.of(group.source).completions.select(group.rows) for group in plan.values()])
        logp_anchor = self._role_logp(self.anchor, batch, plan, lambda g: g.anchor)
        logp_ref = (logp_anchor if self.anchor is self.ref and logp_anchor is not None
                    else self._role_logp(self.ref, batch, plan, lambda g: g.reference))
        t_scored = time.perf_counter()

        self.policy.module.train()
        micro = cfg.train.micro_batch_size
        accumulate = 0 < micro < len(batch)
        if accumulate:
            # Gradient accumulation: the loss is a function of the rows' log-probs, so its gradient with
            # respect to them comes from one no-grad pass, and each micro-batch then back-propagates
            # log π · that gradient (the chain rule, exactly).
            scores = self.sampler.scores(self.policy, batch, micro, with_entropy=True)
            leaf: Optional[torch.Tensor] = scores.logp.to(self.device).detach().requires_grad_(True)
            gradient_logp = leaf
        else:
            # The entropy metric comes out of this forward's backward (from the π the gradient
            # rebuilds), without gradient: no pass of its own.
            scores = score(self.policy, batch, self.autocast, self.transform, with_entropy=True)
            gradient_logp, leaf = scores.logp, None
        # With train.dropout the gradient forward drops out; the returns and KL estimates must not.
        exact_logp = self.sampler.logp(self.policy, batch) if cfg.train.dropout and not accumulate else None
        step_data = self._step_data(plan, draws, gradient_logp, exact_logp, logp_anchor, logp_ref, scores)
        out = algorithm.loss(step_data)
        lr = self.scheduler.get_last_lr()[0]
        grad_norm = self._update(out, step, batch, leaf, micro)
        t_updated = time.perf_counter()
        entropy = self._policy_entropy(plan, scores)

        metrics: dict[str, float] = {"loss/total": out.total.item(),
                                     **{f"loss/{name}": value.item() for name, value in out.terms.items()},
                                     **out.metrics, "grad_norm": grad_norm if math.isfinite(grad_norm) else 0.0, "lr": lr}
        if entropy is not None:
            metrics["entropy"] = entropy
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
        return world.reduce_metrics(metrics)

    @staticmethod
    def _policy_entropy(plan: dict[str, RowGroup], scores: SequenceScores) -> Optional[float]:
        """The mean entropy of π over this rank's policy samples (averaged over ranks as a metric),
        read after the backward: the gradient forward's backward is what computes it."""
        entropy = scores.entropy
        rows = batch_rows(plan, lambda group: group.source == "policy")
        if entropy is None or not rows:
            return None
        return entropy[rows].double().mean().item()

    def _plan(self, draws: Draws, step: int) -> dict[str, RowGroup]:
        """The algorithm's row groups for this step. log π_ref that only a metric reads is scored on
        the first step and every train.reference_kl_every steps (each a pass of the reference over
        the policy's rows; not tied to the run's end, so that a run extended later writes the same
        lines); when the anchor is π_ref it comes with the anchor's pass."""
        plan = self.algorithm.rows(draws)
        every = self.algorithm.reference_kl_every
        if every is None or step == 1 or step % every == 0:
            return plan
        return {name: replace(group, reference=False) if group.reference_metric_only else group
                for name, group in plan.items()}

    def _role_logp(self, model: CausalLM, batch: Completions, plan: dict[str, RowGroup],
                   wanted: Callable[[RowGroup], bool]) -> Optional[torch.Tensor]:
        """log π_model of the batch's rows that some group asks this role for (NaN elsewhere), or
        None when none does. The rows are scored padded to the whole batch's widths, the shape the
        policy's gradient forward sees, so that equal weights give bit-equal log-probs (a KL of
        exactly 0); rows the model drew itself come from the sampler (Sampler.scores)."""
        rows = batch_rows(plan, wanted)
        if not rows:
            return None
        values = torch.full((len(batch),), float("nan"), dtype=torch.float64)
        values[rows] = self.sampler.logp(model, batch.select(rows), pad_to=batch.widths())
        return values

    def _draws(self, prompts: list[Prompt]) -> Draws:
        """This rank's share of the prompts, drawn from the policy and the anchor as the algorithm asks."""
        shard = self.world.shard(len(prompts))  # equal shares: train.batch_size is a multiple of the world size
        indices = list(range(shard.start, shard.stop))
        prompt_ids = self.sampler.encode(prompts)

        def draw(model: CausalLM, per_prompt: int) -> Optional[Draw]:
            return self.sampler.draw(model, prompt_ids, prompts, per_prompt, self.generator, indices) if per_prompt else None

        return Draws(draw(self.policy, self.algorithm.policy_samples), draw(self.anchor, self.algorithm.anchor_samples))

    def _update(self, out: LossOutput, step: int, batch: Completions, leaf: Optional[torch.Tensor], micro: int) -> float:
        """Back-propagate the loss (through micro-batches when `leaf` holds the no-grad log-probs),
        clip, step the optimizer and the schedule, move the anchor. Returns the gradient norm."""
        if not torch.isfinite(out.total):
            terms = ", ".join(f"{name} {value.item():.6g}" for name, value in out.terms.items())
            raise NumericError(f"the loss became {out.total.item()} at step {step + 1} ({terms}); "
                               "lower train.lr or check the reward's scale")
        self.optimizer.zero_grad(set_to_none=True)
        # DDP averages gradients over ranks; each rank's part of the global loss must be summed.
        (out.total * self.world.size).backward()
        if leaf is not None:
            assert leaf.grad is not None
            self._accumulate(batch, leaf.grad.detach(), micro)
        clip = self.cfg.train.grad_clip if self.cfg.train.grad_clip is not None else float("inf")
        norm = torch.nn.utils.clip_grad_norm_(self.trainable, clip)
        grad_norm = float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)  # a DTensor under FSDP
        self.optimizer.step()
        self.scheduler.step()
        self._update_anchor(step + 1)
        self.sampler.weights_changed()
        return grad_norm

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
                local_tokens=scores.tokens[rows])
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

    def _accumulate(self, update_rows: Completions, weights: torch.Tensor, micro: int) -> None:
        """Back-propagate Σ log π(y)·weight(y) micro-batch by micro-batch; gradients are synchronised
        with the last one only (DDP's no_sync, FSDP2's gradient-sync switch)."""
        chunks = [list(range(i, min(i + micro, len(update_rows)))) for i in range(0, len(update_rows), micro)]
        for index, chunk in enumerate(chunks):
            with self._gradient_sync(index == len(chunks) - 1):
                part = score(self.policy, update_rows.select(chunk), self.autocast, self.transform)
                (part.logp * weights[chunk[0]:chunk[-1] + 1].to(part.logp.dtype)).sum().backward()

    def _gradient_sync(self, sync: bool) -> Any:
        ddp = getattr(self.policy, "ddp", None)
        if ddp is not None:
            return ddp.no_sync() if not sync else nullcontext()
        # FSDP2: a sharded module reduce-scatters its gradients in backward unless told not to; the
        # unsharded gradients then accumulate until the last micro-batch's backward reduces them all.
        set_sync = getattr(self.policy.module, "set_requires_gradient_sync", None)
        if set_sync is not None:
            set_sync(sync)
        return nullcontext()
