"""What the held-out prompts say: the evaluation (policy against Best-of-N of π_ref, effective N,
win rate, KL) and the sample snapshots the editor shows. Both draw from their own generator, seeded
by step, so that doing or skipping them never changes the training samples (exact resume)."""

from __future__ import annotations

import time
from typing import Any

import torch

from ..algorithms import bon
from ..algorithms import Draw
from ..inputs.config import RunConfig
from ..inputs.data import PromptSets
from .distributed import World
from ..models.roles import ModelRoles
from ..sampling.sequences import Completions
from .sampler import Sampler


class Evaluator:
    def __init__(self, cfg: RunConfig, sampler: Sampler, roles: ModelRoles, prompts: PromptSets, world: World):
        self.cfg = cfg
        self.sampler = sampler
        self.policy, self.anchor, self.ref = roles.policy, roles.anchor, roles.reference
        self.prompts = prompts
        self.world = world

    @torch.no_grad()
    def evaluate(self, step: int) -> dict[str, Any]:
        """Held-out metrics; under torchrun each rank takes a share of the prompts and the results are gathered."""
        cfg, e = self.cfg, self.cfg.eval
        prompts = self.prompts.eval[:e.prompts]
        prompt_ids = self.sampler.encode(prompts)
        indices, real = self.world.padded_shard(len(prompts))
        generator = self.sampler.side_generator(step, 1)
        policy = self.sampler.draw(self.policy, prompt_ids, prompts, e.policy_samples, generator, indices)
        ref = self.sampler.draw(self.ref, prompt_ids, prompts, e.mc_samples, generator, indices)
        anchor = ref if self.anchor is self.ref else self.sampler.draw(self.anchor, prompt_ids, prompts, e.mc_samples, generator, indices)
        shape = (len(indices), e.policy_samples)
        logp_policy = self.sampler.logp(self.policy, policy.completions).view(shape)
        logp_ref = self.sampler.logp(self.ref, policy.completions).view(shape)
        logp_anchor = logp_ref if self.anchor is self.ref else self.sampler.logp(self.anchor, policy.completions).view(shape)
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
    def snapshot_samples(self, step: int) -> list[dict[str, Any]]:
        """Sample records for the held-out prompts; under torchrun each rank builds its share and rank 0
        gets them all, in prompt order."""
        cfg, s = self.cfg, self.cfg.samples
        prompts = self.prompts.eval[:s.prompts]
        prompt_ids = self.sampler.encode(prompts)
        indices, real = self.world.padded_shard(len(prompts))
        generator = self.sampler.side_generator(step, 2)
        policy = self.sampler.draw(self.policy, prompt_ids, prompts, 2, generator, indices)
        anchor = self.sampler.draw(self.anchor, prompt_ids, prompts, s.mc_samples, generator, indices)
        local = len(indices)
        n = cfg.eval.bon_n
        winners = bon.best_index(anchor.rewards[:, :n])
        # Shown per prompt: both policy samples (rows 2g, 2g+1), then anchor samples 0 and 1 and the winner.
        anchor_rows = [g * s.mc_samples + i for g in range(local) for i in (0, 1, int(winners[g]))]
        shown = Completions.concat([policy.completions, anchor.completions.select(anchor_rows)])
        shown_rewards = torch.cat([policy.rewards.view(-1), anchor.rewards.view(-1)[anchor_rows]])
        lp_policy = self.sampler.logp(self.policy, shown)
        lp_anchor = self.sampler.logp(self.anchor, shown)
        lp_ref = lp_anchor if self.anchor is self.ref else self.sampler.logp(self.ref, shown)
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
            records.append({"step": step, "time": now, "prompt_id": prompt_id, "prompt": prompts[prompt_id].text,
                            "policy": [scored(2 * g), scored(2 * g + 1)],
                            "anchor": [scored(base), scored(base + 1)],
                            "bon": {"n": n, "winner": int(winners[g]), "best": scored(base + 2), "candidates": candidates}})
        return [record for part in self.world.gather_objects(records) for record in part]
