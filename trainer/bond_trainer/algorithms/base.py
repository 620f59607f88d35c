"""What an algorithm is to the trainer: what a step draws, which of the drawn rows its loss needs
scored and by which models, its loss as named terms, its own metrics, and the charts that show them
(docs/algorithms.md §3–§7).

The training step (training/step.py) draws, scores exactly the row groups an algorithm asks for,
back-propagates and updates the anchor; it names no algorithm and no row layout. run.json carries
`distilled_n`, `config_summary` and `metric_groups` from here, so the extension and the webviews never
branch on an algorithm's name either: a new algorithm is one file in this package (plus its config
section, tests and docs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Optional

import torch

from . import bon
from ..inputs.config import RunConfig, component_name
from ..run.metric_groups import MetricGroup, ReferenceLine, Series
from ..sampling.sequences import Completions

RowSource = Literal["policy", "anchor"]


@dataclass
class Draw:
    """Completions of G prompts, several each, rows prompt-major, with their rewards [G, per prompt]
    (and, for a composite reward, each component's unweighted values, by name)."""
    completions: Completions
    rewards: torch.Tensor
    parts: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass(frozen=True)
class Draws:
    """What a step drew on this rank: the policy's samples and the anchor's (None: not drawn)."""
    policy: Optional[Draw]
    anchor: Optional[Draw]

    def of(self, source: RowSource) -> Draw:
        draw = self.policy if source == "policy" else self.anchor
        if draw is None:
            raise ValueError(f"a row group asks for {source} rows, but the algorithm draws no {source} samples")
        return draw


@dataclass(frozen=True)
class RowGroup:
    """Rows of one draw that the loss needs: `per_prompt` rows of each prompt, prompt-major, as indices
    into that draw. Each gets log π with gradient; `anchor` / `reference`: log π_anchor / log π_ref of
    the same rows as well (the trainer runs a model's forward only for the rows some group asks it
    for). `reference_metric_only`: the loss does not read log π_ref, only the kl/policy_ref metric
    does, so the trainer scores it every `train.reference_kl_every` steps (and for free when the
    anchor is π_ref)."""
    source: RowSource
    rows: list[int]
    per_prompt: int
    anchor: bool = False
    reference: bool = False
    reference_metric_only: bool = False


@dataclass
class ScoredGroup:
    """A row group after scoring, over every rank: [G, per_prompt] with G the global prompts."""
    logp: torch.Tensor                     # log π; this rank's rows carry gradient
    weight_logp: Optional[torch.Tensor]    # dropout-free log π for returns and KL (train.dropout), else None
    anchor: Optional[torch.Tensor]         # log π_anchor, when asked for
    reference: Optional[torch.Tensor]      # log π_ref, when asked for
    rewards: torch.Tensor                  # as the objective sees them (reward.normalize)
    raw_rewards: torch.Tensor              # as the reward returned them (what metrics show)
    local_tokens: torch.Tensor

    def detached_logp(self) -> torch.Tensor:
        """log π without gradient or dropout, float64 on the CPU (for metrics)."""
        own = self.weight_logp if self.weight_logp is not None else self.logp
        return own.detach().double().cpu()


@dataclass
class StepData:
    """Everything a loss sees: the scored row groups by name, and each draw's rewards over every
    rank (as the objective sees them, as drawn, and per component of a composite reward)."""
    groups: dict[str, ScoredGroup]
    rewards: dict[RowSource, torch.Tensor]
    raw_rewards: dict[RowSource, torch.Tensor]
    parts: dict[RowSource, dict[str, torch.Tensor]]
    local_draws: Draws


@dataclass
class LossOutput:
    """The loss to descend, its named terms (logged as loss/<name>) and the algorithm's own metrics."""
    total: torch.Tensor
    terms: dict[str, torch.Tensor]
    metrics: dict[str, float] = field(default_factory=dict)


def kl_bon_bound_label(n: int) -> ReferenceLine:
    return ReferenceLine(f"BoN bound log N − (N−1)/N (N={n})", bon.kl_bon_bound(n))


def text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def anchor_summary(cfg: RunConfig) -> str:
    a = cfg.anchor
    if a.kind == "ema":
        return f"EMA η={text(a.ema_eta)}"
    if a.kind == "hard":
        return f"hard every {a.period}"
    return "fixed (π_ref)"


def mean(values: torch.Tensor) -> float:
    return values.double().mean().item()


@dataclass
class Algorithm:
    """The base of every algorithm: policy samples only, no anchor, the metric groups every run has."""
    cfg: RunConfig
    name: ClassVar[str] = ""
    # Loss terms in chart order: (name, label); loss/total is always written.
    LOSS_TERMS: ClassVar[tuple[tuple[str, str], ...]] = ()
    HAS_ANCHOR: ClassVar[bool] = False
    # The loss reads log π_ref (REINFORCE's KL penalty); otherwise only the kl/policy_ref metric does.
    REFERENCE_IN_LOSS: ClassVar[bool] = False

    # --- what a step draws and scores ----------------------------------------------------------
    @property
    def policy_samples(self) -> int:
        """Policy samples per prompt (0: none)."""
        return self.cfg.section.policy_samples_per_prompt()

    @property
    def anchor_samples(self) -> int:
        """Anchor samples per prompt (0: none)."""
        return 0

    @property
    def distilled_n(self) -> Optional[int]:
        """The N of the Best-of-N a step distils, or None."""
        return None

    @property
    def needs_anchor(self) -> bool:
        """A second copy of the weights that moves (hard or EMA); otherwise π_ref is the anchor."""
        return self.HAS_ANCHOR and self.cfg.anchor_moves

    @property
    def reference_kl_every(self) -> Optional[int]:
        """Steps between the reference's passes over the policy's samples when only kl/policy_ref
        reads them and they cost a pass (the anchor is not π_ref); None: every step."""
        every = self.cfg.train.reference_kl_every
        if self.REFERENCE_IN_LOSS or not self.needs_anchor or every == 1 or not self.policy_samples:
            return None
        return every

    @property
    def lora_ema_anchor(self) -> bool:
        hf = self.cfg.policy.hf
        return hf is not None and hf.lora is not None and self.needs_anchor and self.cfg.anchor.kind == "ema"

    def rows(self, draws: Draws) -> dict[str, RowGroup]:
        """The row groups this step's loss and metrics need, from this rank's draws."""
        raise NotImplementedError

    def loss(self, step: StepData) -> LossOutput:
        raise NotImplementedError

    # --- metrics shared by the algorithms that sample the policy --------------------------------
    def policy_group(self, draws: Draws) -> RowGroup:
        """Every policy sample, scored by the anchor and the reference (the KL metrics; the loss too
        where REFERENCE_IN_LOSS)."""
        policy = draws.of("policy")
        per_prompt = policy.rewards.shape[1]
        return RowGroup("policy", list(range(len(policy.completions))), per_prompt, anchor=True, reference=True,
                        reference_metric_only=not self.REFERENCE_IN_LOSS)

    @staticmethod
    def policy_metrics(step: StepData, group: str = "policy") -> dict[str, float]:
        """What the policy's own samples say: reward, KL to the reference and to the anchor, length
        and the share cut at max_new_tokens (TRL's names for the last two). Their entropy comes from
        the training step itself, after the backward that computes it (training/step.py)."""
        scored = step.groups[group]
        own = scored.detached_logp()
        metrics = {"reward/policy": mean(scored.raw_rewards), "completions/mean_length": mean(scored.local_tokens.float())}
        if scored.reference is not None:
            metrics["kl/policy_ref"] = mean(own - scored.reference.double().cpu())
        if scored.anchor is not None:
            metrics["kl/policy_anchor"] = mean(own - scored.anchor.double().cpu())
        draw = step.local_draws.of("policy")
        metrics["completions/clipped_ratio"] = sum(draw.completions.truncated) / max(1, len(draw.completions))
        for name, values in step.parts.get("policy", {}).items():
            metrics[f"reward/{name}/policy"] = mean(values)
        return metrics

    # --- what the editor shows -----------------------------------------------------------------
    def summary_items(self) -> list[tuple[str, Any]]:
        return []

    def config_summary(self) -> list[dict[str, str]]:
        c = self.cfg
        reward = " + ".join(f"{r.weight:g}×{component_name(r)}" for r in c.reward.components) or c.reward.type
        items: list[tuple[str, Any]] = [("reward", reward), *self.summary_items(), ("lr", c.train.lr),
                                        ("batch", c.train.batch_size), ("seed", c.train.seed), ("eval BoN", c.eval.bon_n)]
        return [{"label": label, "value": text(value)} for label, value in items if value is not None]

    def training_groups(self) -> list[MetricGroup]:
        """Charts of this algorithm's own metrics (beyond those every run writes)."""
        return []

    def component_roles(self) -> list[tuple[str, str]]:
        """The draws a composite reward's components are charted for: (metric suffix, label)."""
        return [("policy", "policy")] if self.policy_samples else []

    def component_groups(self) -> list[MetricGroup]:
        """A chart per component of a composite reward: policy, anchor and Best-of-N."""
        roles = self.component_roles()
        if not roles:
            return []
        return [MetricGroup(f"reward_{name}", f"Reward component: {name}", "training", "train",
                            [Series(f"reward/{name}/{key}", label) for key, label in roles])
                for name in (component_name(r) for r in self.cfg.reward.components)]

    def policy_sample_groups(self) -> list[MetricGroup]:
        if not self.policy_samples:
            return []
        eval_n = self.cfg.eval.bon_n
        return [
            MetricGroup("kl_ref", "KL(π ‖ π_ref)", "training", "train",
                        [Series("kl/policy_ref", "KL to reference", self.reference_kl_every)],
                        reference=kl_bon_bound_label(eval_n)),
            MetricGroup("kl_anchor", "KL(π ‖ anchor)", "training", "train", [Series("kl/policy_anchor", "KL to anchor")]),
            MetricGroup("entropy", "Entropy (nats/token)", "training", "train", [Series("entropy", "entropy")]),
            MetricGroup("completions", "Completion length (tokens)", "training", "train",
                        [Series("completions/mean_length", "mean length")]),
            MetricGroup("clipped", "Completions cut at max_new_tokens", "training", "train",
                        [Series("completions/clipped_ratio", "clipped ratio")]),
        ]

    def metric_groups(self) -> list[MetricGroup]:
        eval_n = self.cfg.eval.bon_n
        loss = [Series("loss/total", "total"), *(Series(f"loss/{name}", label) for name, label in self.LOSS_TERMS)]
        return [
            MetricGroup("loss", "Loss", "training", "train", loss),
            *self.training_groups(),
            *self.component_groups(),
            *self.policy_sample_groups(),
            *([MetricGroup("anchor_truncation", "LoRA anchor: update energy dropped by the rank truncation", "training",
                           "train", [Series("anchor/lora_truncation", "dropped share")])] if self.lora_ema_anchor else []),
            MetricGroup("grad_norm", "Gradient norm", "training", "train", [Series("grad_norm", "grad norm")]),
            MetricGroup("lr", "Learning rate", "training", "train", [Series("lr", "lr")], smooth=False),
            MetricGroup("eval_reward", "Eval reward (held-out prompts)", "evaluation", "eval",
                        [Series("eval/reward/policy", "policy"), Series("eval/reward/anchor", "anchor"),
                         Series("eval/reward/bon", "Best-of-N"), Series("eval/reward/ref", "reference")], smooth=False),
            MetricGroup("eval_effective_n", "Effective N", "evaluation", "eval", [Series("eval/effective_n", "effective N")],
                        smooth=False, reference=ReferenceLine(f"N = {eval_n}", float(eval_n))),
            MetricGroup("eval_win_rate", "Win rate vs Best-of-N", "evaluation", "eval",
                        [Series("eval/win_rate_vs_bon", "win rate")], smooth=False, reference=ReferenceLine("parity 0.5", 0.5)),
            MetricGroup("eval_kl", "Eval KL(π ‖ π_ref)", "evaluation", "eval",
                        [Series("eval/kl/policy_ref", "KL to reference"), Series("eval/kl/policy_anchor", "KL to anchor")],
                        smooth=False, reference=ReferenceLine(f"BoN bound (N={eval_n})", bon.kl_bon_bound(eval_n))),
            MetricGroup("throughput", "Throughput (samples/s)", "performance", "train", [Series("perf/samples_per_s", "samples/s")]),
            MetricGroup("tokens", "Throughput (tokens/s)", "performance", "train", [Series("perf/tokens_per_s", "tokens/s")]),
            MetricGroup("num_tokens", "Tokens generated so far", "performance", "train", [Series("num_tokens", "tokens")],
                        smooth=False),
            MetricGroup("step_time", "Time per step phase (s)", "performance", "train",
                        [Series("time/sample_s", "sample"), Series("time/score_s", "score"), Series("time/update_s", "update")]),
        ]
