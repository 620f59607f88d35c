"""One object per algorithm: what a step draws, what it distils, its loss, and what the editor needs
to show it (docs/algorithms.md §3–§6).

The training step (train.py) is generic: it asks the algorithm how many policy and anchor samples
to draw per prompt, which anchor samples are Best-of-N candidates and which form the quantile, and
hands the gathered log-probs and rewards to `loss`. run.json carries `distilled_n`,
`config_summary` and `metric_groups` from here, so the extension and the webviews never branch on
an algorithm's name: a new algorithm is a new class in this file and a name in the config schema.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Optional

import torch

from . import bon
from .config import RunConfig, component_name
from .objectives import LossTerms, bond_loss, jbond_loss, reinforce_loss

Section = Literal["training", "evaluation", "performance", "system"]
Table = Literal["train", "eval"]


@dataclass(frozen=True)
class Series:
    key: str      # a metric name in metrics.jsonl
    label: str


@dataclass(frozen=True)
class ReferenceLine:
    label: str
    value: float


@dataclass(frozen=True)
class MetricGroup:
    """One chart of the dashboard: metrics drawn together, with an optional horizontal reference."""
    id: str
    title: str
    section: Section
    table: Table
    series: list[Series]
    smooth: bool = True
    reference: Optional[ReferenceLine] = None

    def to_json(self) -> dict[str, Any]:
        record = asdict(self)
        if self.reference is None:
            record.pop("reference")
        return record


@dataclass
class StepInputs:
    """What one step's loss sees, gathered over every rank: G prompts, S policy samples each, A anchor
    samples each. Only `logp_policy` and `logp_best` carry gradient."""
    logp_policy: torch.Tensor                 # [G, S]
    logp_anchor: torch.Tensor                 # [G, S] the policy's samples under the anchor
    logp_ref: torch.Tensor                    # [G, S] … under the reference
    rewards_policy: torch.Tensor              # [G, S] as the objective sees them (reward.normalize)
    rewards_anchor: Optional[torch.Tensor]    # [G, A]
    logp_best: torch.Tensor                   # [G] the policy's log-prob of each Best-of-N winner (or empty)
    weight_logp: Optional[torch.Tensor] = None  # dropout-free log π for the returns (train.dropout)


def kl_bon_bound_label(n: int) -> ReferenceLine:
    return ReferenceLine(f"BoN bound log N − (N−1)/N (N={n})", bon.kl_bon_bound(n))


@dataclass
class Algorithm:
    """The base: REINFORCE-like draws (policy samples only) and the metric groups every run has."""
    cfg: RunConfig
    name: str = field(init=False, default="")

    # --- what a step draws ---------------------------------------------------------------------
    @property
    def policy_samples(self) -> int:
        """Policy samples per prompt."""
        return self.cfg.bond.policy_samples

    @property
    def anchor_samples(self) -> int:
        """Anchor samples per prompt (0: none)."""
        return 0

    @property
    def candidates(self) -> int:
        """The first `candidates` anchor samples compete for Best-of-N (0: no forward term)."""
        return 0

    @property
    def quantile_samples(self) -> int:
        """The first `quantile_samples` anchor samples estimate p̂≤ of the policy's samples."""
        return 0

    @property
    def distilled_n(self) -> Optional[int]:
        """The N of the Best-of-N a step distils, or None."""
        return None

    @property
    def needs_anchor(self) -> bool:
        """A second copy of the weights that moves (hard or EMA); otherwise π_ref is the anchor."""
        return self.cfg.bond.anchor != "fixed"

    @property
    def lora_ema_anchor(self) -> bool:
        hf = self.cfg.policy.hf
        return hf is not None and hf.lora is not None and self.needs_anchor and self.cfg.bond.anchor == "ema"

    def loss(self, inputs: StepInputs) -> LossTerms:
        raise NotImplementedError

    # --- what the editor shows -----------------------------------------------------------------
    def summary_items(self) -> list[tuple[str, Any]]:
        return []

    def config_summary(self) -> list[dict[str, str]]:
        c = self.cfg
        reward = " + ".join(f"{r.weight:g}×{component_name(r)}" for r in c.reward.components) or c.reward.type
        items: list[tuple[str, Any]] = [("reward", reward), *self.summary_items(), ("lr", c.train.lr),
                                        ("batch", c.train.batch_size), ("seed", c.train.seed), ("eval BoN", c.eval.bon_n)]
        return [{"label": label, "value": _text(value)} for label, value in items if value is not None]

    def training_groups(self) -> list[MetricGroup]:
        """Charts of this algorithm's own metrics (beyond those every run writes)."""
        return []

    def component_groups(self) -> list[MetricGroup]:
        """A chart per component of a composite reward: policy, anchor and Best-of-N."""
        roles = [("policy", "policy")] + ([("anchor", "anchor"), ("bon", "Best-of-N")] if self.candidates else [])
        return [MetricGroup(f"reward_{name}", f"Reward component: {name}", "training", "train",
                            [Series(f"reward/{name}/{key}", label) for key, label in roles])
                for name in (component_name(r) for r in self.cfg.reward.components)]

    def metric_groups(self) -> list[MetricGroup]:
        eval_n = self.cfg.eval.bon_n
        loss = [Series("loss/total", "total"), Series("loss/forward", "forward"), Series("loss/backward", "backward"),
                Series("loss/regulariser", "regulariser")]
        return [
            MetricGroup("loss", "Loss", "training", "train", [s for s in loss if s.key in self.loss_terms()]),
            *self.training_groups(),
            *self.component_groups(),
            MetricGroup("kl_ref", "KL(π ‖ π_ref)", "training", "train", [Series("kl/policy_ref", "KL to reference")],
                        reference=kl_bon_bound_label(eval_n)),
            MetricGroup("kl_anchor", "KL(π ‖ anchor)", "training", "train", [Series("kl/policy_anchor", "KL to anchor")]),
            *([MetricGroup("anchor_truncation", "LoRA anchor: update energy dropped by the rank truncation", "training",
                           "train", [Series("anchor/lora_truncation", "dropped share")])] if self.lora_ema_anchor else []),
            MetricGroup("entropy", "Entropy (nats/token)", "training", "train", [Series("entropy", "entropy")]),
            MetricGroup("completions", "Completion length (tokens)", "training", "train",
                        [Series("completions/mean_length", "mean length")]),
            MetricGroup("clipped", "Completions cut at max_new_tokens", "training", "train",
                        [Series("completions/clipped_ratio", "clipped ratio")]),
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

    def loss_terms(self) -> set[str]:
        return {"loss/total", "loss/forward", "loss/backward", "loss/regulariser"}


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _distillation_groups(n: int) -> list[MetricGroup]:
    return [
        MetricGroup("reward", "Reward", "training", "train",
                    [Series("reward/policy", "policy"), Series("reward/anchor", "anchor"), Series("reward/bon", "Best-of-N")]),
        MetricGroup("quantile", "Log-quantile of policy samples", "training", "train",
                    [Series("quantile/log_policy", "log p̂≤ (policy)")],
                    reference=ReferenceLine(f"target −1/N (N={n})", -1.0 / n)),
    ]


def _anchor_summary(cfg: RunConfig) -> str:
    b = cfg.bond
    if b.anchor == "ema":
        return f"EMA η={_text(b.ema_eta)}"
    if b.anchor == "hard":
        return f"hard every {b.anchor_period}"
    return "fixed (π_ref)"


@dataclass
class Bond(Algorithm):
    """J_β to Best-of-N of the anchor, with Monte Carlo quantiles (docs/algorithms.md §3–§4)."""

    def __post_init__(self) -> None:
        self.name = "bond"

    @property
    def anchor_samples(self) -> int:
        return max(self.cfg.bond.n, self.cfg.bond.k)

    @property
    def candidates(self) -> int:
        return self.cfg.bond.n

    @property
    def quantile_samples(self) -> int:
        return self.cfg.bond.k

    @property
    def distilled_n(self) -> Optional[int]:
        return self.cfg.bond.n

    def loss(self, inputs: StepInputs) -> LossTerms:
        b = self.cfg.bond
        assert inputs.rewards_anchor is not None
        reward = bon.bond_reward(inputs.rewards_policy, inputs.rewards_anchor[:, :b.k], b.quantile_floor, b.n, b.ties)
        return bond_loss(inputs.logp_policy, inputs.logp_anchor, reward, inputs.logp_best, b.n, b.beta,
                         b.backward_scale, inputs.weight_logp)

    def summary_items(self) -> list[tuple[str, Any]]:
        b = self.cfg.bond
        return [("N", b.n), ("β", b.beta), ("k", b.k), ("anchor", _anchor_summary(self.cfg)), ("ties", b.ties)]

    def training_groups(self) -> list[MetricGroup]:
        return _distillation_groups(self.cfg.bond.n)

    def loss_terms(self) -> set[str]:
        return {"loss/total", "loss/forward", "loss/backward"}


@dataclass
class JBond(Algorithm):
    """J-BOND, Algorithm 2 with the regulariser's sign corrected (docs/algorithms.md §5)."""
    PAIR = 2  # two anchor samples per prompt: the forward term distils Best-of-2

    def __post_init__(self) -> None:
        self.name = "jbond"

    @property
    def anchor_samples(self) -> int:
        return self.PAIR

    @property
    def candidates(self) -> int:
        return self.PAIR

    @property
    def quantile_samples(self) -> int:
        return self.PAIR

    @property
    def distilled_n(self) -> Optional[int]:
        return self.PAIR

    def loss(self, inputs: StepInputs) -> LossTerms:
        b = self.cfg.bond
        assert inputs.rewards_anchor is not None
        return jbond_loss(inputs.logp_policy, inputs.logp_anchor, inputs.rewards_policy, inputs.rewards_anchor,
                          inputs.logp_best, b.beta, b.gamma, b.tie_rule, inputs.weight_logp)

    def summary_items(self) -> list[tuple[str, Any]]:
        b = self.cfg.bond
        return [("β", b.beta), ("anchor", _anchor_summary(self.cfg)), ("γ", b.gamma)]

    def training_groups(self) -> list[MetricGroup]:
        return _distillation_groups(self.PAIR)


@dataclass
class Reinforce(Algorithm):
    """REINFORCE with a KL penalty to π_ref, leave-one-out baseline (docs/algorithms.md §6)."""

    def __post_init__(self) -> None:
        self.name = "reinforce"

    @property
    def policy_samples(self) -> int:
        return self.cfg.reinforce.samples_per_prompt

    @property
    def needs_anchor(self) -> bool:
        return False

    def loss(self, inputs: StepInputs) -> LossTerms:
        return reinforce_loss(inputs.logp_policy, inputs.logp_ref, inputs.rewards_policy, self.cfg.reinforce.beta_kl,
                              inputs.weight_logp)

    def summary_items(self) -> list[tuple[str, Any]]:
        return [("β_KL", self.cfg.reinforce.beta_kl), ("samples/prompt", self.cfg.reinforce.samples_per_prompt)]

    def training_groups(self) -> list[MetricGroup]:
        return [MetricGroup("reward", "Reward", "training", "train", [Series("reward/policy", "policy")])]

    def loss_terms(self) -> set[str]:
        return {"loss/total", "loss/backward"}


ALGORITHMS: dict[str, type[Algorithm]] = {"bond": Bond, "jbond": JBond, "reinforce": Reinforce}


def algorithm_for(cfg: RunConfig) -> Algorithm:
    return ALGORITHMS[cfg.algorithm](cfg)


def run_description(algorithm: Algorithm) -> dict[str, Any]:
    """What run.json tells the editor about the run beyond its config: the N it distils, the config
    at a glance, the charts with their reference lines, and every path resolved."""
    return {"distilled_n": algorithm.distilled_n, "config_summary": algorithm.config_summary(),
            "metric_groups": [group.to_json() for group in algorithm.metric_groups()],
            "paths": algorithm.cfg.resolved_paths()}
