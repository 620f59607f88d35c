"""The run config as typed dataclasses: one per section of contracts/schemas/config.schema.json,
field for field (a test keeps the two in step), each algorithm's section with its own rules, and the
problem and error types every check reports with. Loading a file is config.py's."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Optional

from ..models.gpt_shape import DEFAULT_CONTEXT, DEFAULT_HEADS, DEFAULT_LAYERS, DEFAULT_WIDTH
from .problems import ConfigProblem

# Every algorithm the trainer has: one class each in algorithms/ (a test keeps the three lists equal:
# this, algorithms.ALGORITHMS and the config schema's enum).
AlgorithmName = Literal["bond", "jbond", "reinforce", "bonbon"]


@dataclass
class GPTSpec:
    layers: int = DEFAULT_LAYERS
    heads: int = DEFAULT_HEADS
    width: int = DEFAULT_WIDTH
    context: int = DEFAULT_CONTEXT
    dropout: float = 0.0


@dataclass
class LoraConfig:
    r: int = 8
    alpha: float = 16
    dropout: float = 0.0
    target_modules: list[str] = field(default_factory=list)
    anchor_rank: Optional[int] = None


@dataclass
class HFPolicyConfig:
    model: str
    chat_template: bool = False
    dtype: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    gradient_checkpointing: bool = False
    compile: bool = False
    lora: Optional[LoraConfig] = None


@dataclass
class PolicyConfig:
    checkpoint: Optional[str] = None
    gpt: GPTSpec = field(default_factory=GPTSpec)
    hf: Optional[HFPolicyConfig] = None


@dataclass
class RewardConfig:
    type: Literal["sentiment", "length", "keyword", "python", "hf"] = "sentiment"
    target_length: int = 40
    keywords: list[str] = field(default_factory=list)
    pattern: Optional[str] = None
    function: Optional[str] = None
    timeout_s: float = 300.0  # one call of a python reward; past it the run fails (error type timeout)
    model: Optional[str] = None
    template: str = "{prompt}{completion}"
    chat_template: bool = False
    batch_size: int = 16
    max_length: int = 1024
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    normalize: Literal["none", "standardize"] = "none"
    # A component of a composite reward (the config's `reward` given as a list): its weight and the
    # name its metrics carry (reward/<name>/…). Unused for a single reward.
    weight: float = 1.0
    name: Optional[str] = None
    components: list["RewardConfig"] = field(default_factory=list)

    @property
    def parts(self) -> list["RewardConfig"]:
        """The components, or this reward alone."""
        return self.components or [self]


@dataclass
class DataConfig:
    train: list[str] = field(default_factory=list)
    eval: list[str] = field(default_factory=list)
    eval_fraction: float = 0.1
    field: str = "prompt"


AnchorKind = Literal["fixed", "hard", "ema"]


@dataclass
class AlgorithmSection:
    """A config section that belongs to one algorithm (its name is the section's key)."""
    # The anchor kind when `anchor.kind` is null; None: the algorithm has no anchor (π_ref is fixed).
    DEFAULT_ANCHOR: ClassVar[Optional[AnchorKind]] = None

    def policy_samples_per_prompt(self) -> int:
        """Policy samples a step draws per prompt (0: none)."""
        return 0

    def problems(self, cfg: "RunConfig") -> list[ConfigProblem]:
        """This algorithm's own invariants beyond the schema."""
        problems = []
        if self.policy_samples_per_prompt() == 1 and cfg.train.batch_size < 2:
            problems.append(ConfigProblem("train.batch_size", f"with one policy sample per prompt ({cfg.algorithm}."
                                          "policy_samples = 1) the leave-one-out baseline averages the other prompts "
                                          "of the batch, so at least 2 prompts per step are needed", "semantic"))
        return problems


@dataclass
class BondConfig(AlgorithmSection):
    DEFAULT_ANCHOR: ClassVar[Optional[AnchorKind]] = "ema"
    n: int = 4
    beta: float = 0.5
    k: int = 16
    quantile_floor: Literal["add_one", "clamp"] = "add_one"
    ties: Literal["exact", "paper"] = "exact"
    policy_samples: int = 1
    backward_scale: Literal["n_minus_1", "one"] = "n_minus_1"

    def policy_samples_per_prompt(self) -> int:
        return self.policy_samples


@dataclass
class JBondConfig(AlgorithmSection):
    DEFAULT_ANCHOR: ClassVar[Optional[AnchorKind]] = "ema"
    beta: float = 0.5
    gamma: float = 0.0
    tie_rule: Literal["strict", "inclusive"] = "strict"
    policy_samples: int = 1

    def policy_samples_per_prompt(self) -> int:
        return self.policy_samples


@dataclass
class ReinforceConfig(AlgorithmSection):
    beta_kl: float = 0.01
    samples_per_prompt: int = 2

    def policy_samples_per_prompt(self) -> int:
        return self.samples_per_prompt


@dataclass
class BonbonConfig(AlgorithmSection):
    DEFAULT_ANCHOR: ClassVar[Optional[AnchorKind]] = "fixed"
    n: int = 8
    alpha: float = 0.005
    tau: Optional[float] = None  # None: (n − 1)·H_(n−1), resolved when the config is loaded


# Each algorithm's section, by the algorithm's name (the section's key in the config).
SECTION_TYPES: dict[str, type[AlgorithmSection]] = {"bond": BondConfig, "jbond": JBondConfig, "reinforce": ReinforceConfig,
                                                    "bonbon": BonbonConfig}


@dataclass
class AnchorConfig:
    kind: Optional[AnchorKind] = None  # None until loaded: then the algorithm's DEFAULT_ANCHOR
    period: int = 50
    ema_eta: float = 0.02


@dataclass
class TrainConfig:
    steps: int = 100
    batch_size: int = 16
    lr: float = 3e-4
    warmup_steps: int = 10
    lr_schedule: Literal["constant", "cosine"] = "constant"
    weight_decay: float = 0.0
    grad_clip: Optional[float] = 1.0
    seed: int = 0
    device: Literal["auto", "cuda", "mps", "cpu"] = "auto"
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    dropout: bool = False
    micro_batch_size: int = 0
    reference_kl_every: int = 10


@dataclass
class SamplingConfig:
    max_new_tokens: int = 32
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    engine: Literal["auto", "eager", "static"] = "auto"


@dataclass
class EvalConfig:
    every: int = 50
    prompts: int = 32
    policy_samples: int = 4
    mc_samples: int = 32
    n_max: int = 32
    bon_n: int = 16


@dataclass
class SamplesConfig:
    every: int = 10
    prompts: int = 8
    mc_samples: int = 16


@dataclass
class CheckpointConfig:
    every: int = 50
    keep_last: int = 2


@dataclass
class ExportConfig:
    onnx: bool = False


@dataclass
class WandbConfig:
    project: str
    entity: Optional[str] = None
    mode: Literal["online", "offline", "disabled"] = "online"


@dataclass
class LoggingConfig:
    tensorboard: bool = False
    wandb: Optional[WandbConfig] = None


@dataclass
class DistributedConfig:
    nproc_per_node: int = 1
    nnodes: int = 1
    rdzv_endpoint: Optional[str] = None
    rdzv_id: str = "bond"
    strategy: Literal["ddp", "fsdp"] = "ddp"
    timeout_s: float = 900

    @property
    def world_size(self) -> int:
        return self.nproc_per_node * self.nnodes


@dataclass
class RunConfig:
    data: DataConfig
    name: str = "bond-run"
    algorithm: AlgorithmName = "jbond"
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    bond: BondConfig = field(default_factory=BondConfig)
    jbond: JBondConfig = field(default_factory=JBondConfig)
    reinforce: ReinforceConfig = field(default_factory=ReinforceConfig)
    bonbon: BonbonConfig = field(default_factory=BonbonConfig)
    anchor: AnchorConfig = field(default_factory=AnchorConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    samples: SamplesConfig = field(default_factory=SamplesConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    distributed: DistributedConfig = field(default_factory=DistributedConfig)
    # Not part of the file: the folder relative paths are resolved against, and the file's name.
    base_dir: Path = field(default=Path("."), compare=False)
    source: str = field(default="<config>", compare=False)
    # Fields read in an older layout, each with the field that now holds it (said, never fatal).
    warnings: list[ConfigProblem] = field(default_factory=list, compare=False)

    @property
    def section(self) -> AlgorithmSection:
        """The config section of the run's algorithm."""
        return getattr(self, self.algorithm)

    @property
    def anchor_moves(self) -> bool:
        """A second copy of the weights that moves (hard or EMA); otherwise π_ref is the anchor."""
        return self.anchor.kind not in (None, "fixed")

    def resolve_path(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.base_dir / path).resolve()

    def resolved_paths(self) -> dict[str, Any]:
        """Every file or model the run reads, resolved once, here, for run.json: the extension reads
        these and never resolves a config's relative paths itself."""
        hf = self.policy.hf
        if hf is not None:
            reference = {"kind": "hf", "location": locate_model(hf.model, self.base_dir), "chat_template": hf.chat_template}
        elif self.policy.checkpoint is not None:
            reference = {"kind": "byte-gpt", "location": str(self.resolve_path(self.policy.checkpoint)), "chat_template": False}
        else:
            reference = {"kind": "random", "location": None, "chat_template": False}
        model = next((r.model for r in self.reward.parts if r.type == "hf" and r.model), None)
        function = next((r.function.rsplit(":", 1)[0] for r in self.reward.parts if r.type == "python" and r.function), None)
        return {
            "reference": reference,
            "reward_model": locate_model(model, self.base_dir) if model else None,
            "reward_function": str(self.resolve_path(function)) if function else None,
            "data": {"train": [str(self.resolve_path(f)) for f in self.data.train],
                     "eval": [str(self.resolve_path(f)) for f in self.data.eval]},
        }

    def to_json(self) -> dict[str, Any]:
        return _to_json(self)


_NOT_IN_FILE = ("base_dir", "source", "warnings")
# A data set in the local Hugging Face cache, named in data.train/eval as name:split (data.py loads it).
HUB_SPLIT = re.compile(r"^(?P<name>[A-Za-z0-9][\w.-]*(/[\w.-]+)?):(?P<split>[\w.\[\]%:+-]+)$")


def locate_model(value: str, base_dir: Path) -> str:
    """A model named in a config: the absolute path of a local folder (relative to the config) when
    one exists there, else the name as given, for the Hugging Face cache."""
    path = Path(value).expanduser()
    path = path if path.is_absolute() else (base_dir / path)
    return str(path.resolve()) if path.exists() else value


def _to_json(obj: Any) -> Any:
    if isinstance(obj, RewardConfig):
        if obj.components:  # the file's own form: a list of components
            return [_to_json(c) for c in obj.components]
        return {f.name: _to_json(getattr(obj, f.name)) for f in fields(obj) if f.name not in ("components", "weight", "name")}
    if is_dataclass(obj):
        return {f.name: _to_json(getattr(obj, f.name)) for f in fields(obj) if f.name not in _NOT_IN_FILE}
    if isinstance(obj, list):
        return [_to_json(v) for v in obj]
    return obj


def _build(cls: Any, data: dict[str, Any]) -> Any:
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        sub = _dataclass_of(f.type)
        if sub is not None and value is not None:
            value = _build(sub, value)
        elif f.type in ("int", int) and isinstance(value, float):
            value = int(value)  # JSON 2.0 counts as an integer (draft-07); store it as one
        kwargs[f.name] = value
    return cls(**kwargs)


_DATACLASSES = {c.__name__: c for c in (GPTSpec, LoraConfig, HFPolicyConfig, PolicyConfig, RewardConfig,
                                        DataConfig, BondConfig, JBondConfig, ReinforceConfig, BonbonConfig,
                                        AnchorConfig, TrainConfig, SamplingConfig,
                                        EvalConfig, SamplesConfig, CheckpointConfig, ExportConfig,
                                        WandbConfig, LoggingConfig, DistributedConfig)}


def _dataclass_of(annotation: Any) -> Any:
    name = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    optional = re.fullmatch(r"Optional\[(\w+)\]", name)
    return _DATACLASSES.get(optional.group(1) if optional else name)


def component_name(rc: RewardConfig) -> str:
    """The name a reward component's metrics carry: its `name`, else its type, as a metric key
    (lower-case letters, digits and underscores)."""
    return re.sub(r"[^a-z0-9_]+", "_", (rc.name or rc.type).lower()).strip("_") or rc.type


def bonbon_tau(n: int) -> float:
    """(n − 1)·H_(n−1): the expected log-ratio of Best-of-n to its anchor, log n + (n − 1)·log F(y), at
    the best of n samples minus at the worst, for continuous rewards: E log F is −1/n at the max of n
    and −H_n at the min (docs/algorithms.md §7)."""
    return (n - 1) * sum(1.0 / i for i in range(1, n))
