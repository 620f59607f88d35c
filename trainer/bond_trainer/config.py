"""Run config: JSON (comments allowed) validated by contracts/schemas/config.schema.json, then
checked for the invariants the schema cannot express, then turned into typed dataclasses.

The schema is the one source of defaults, bounds and descriptions (the editor uses the same file);
the dataclasses mirror it field for field, and a test keeps the two in step.
"""

from __future__ import annotations


import copy
import json
import re
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Optional

from . import extras
from .gpt_shape import DEFAULT_CONTEXT, DEFAULT_HEADS, DEFAULT_LAYERS, DEFAULT_WIDTH, shape_problem
from .schema import JsoncError, SchemaIssue, Validator, load_schema, parse_jsonc, schemas_dir


ProblemCheck = Literal["syntax", "schema", "semantic", "override", "file", "moved"]
# Every algorithm the trainer has: one class each in algorithms/ (a test keeps the three lists equal:
# this, algorithms.ALGORITHMS and the config schema's enum).
AlgorithmName = Literal["bond", "jbond", "reinforce", "bonbon"]


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a config: the dotted field ("" for the whole file), what is wrong and
    what to do, and which rules caught it (schema: the JSON Schema; semantic: the rules beyond it)."""
    field: str
    message: str
    check: ProblemCheck
    line: Optional[int] = None    # 1-based, for syntax errors
    column: Optional[int] = None
    # pip requirements that fix it (a missing optional package): the editor offers to install them
    install: tuple[str, ...] = ()
    # a misspelt key's likely intended name: the editor offers to rename it
    rename_to: Optional[str] = None

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "message": self.message, "check": self.check, "line": self.line,
                               "column": self.column}
        if self.install:
            out["install"] = list(self.install)
        if self.rename_to:
            out["rename_to"] = self.rename_to
        return out


class ConfigError(Exception):
    """A config the trainer cannot run. Exit code 2; the message names the file and the field."""

    def __init__(self, source: str, problems: list[ConfigProblem]):
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid config {source}:\n{lines}")


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


def parse_override(text: str) -> tuple[list[str], Any]:
    """`dotted.key=value`; the value is JSON when it parses as JSON, else a plain string."""
    if "=" not in text:
        raise ValueError(f"--set {text!r}: expected dotted.key=value, e.g. --set train.steps=5")
    key, raw = text.split("=", 1)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", key):
        raise ValueError(f"--set {text!r}: {key!r} is not a dotted field name such as train.steps")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.split("."), value


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> None:
    for text in overrides:
        keys, value = parse_override(text)
        node = raw
        for key in keys[:-1]:
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                raise ValueError(f"--set {text!r}: {key} is not a section")
            node = child
        node[keys[-1]] = value


_validator: Optional[Validator] = None


def config_validator() -> Validator:
    global _validator
    if _validator is None:
        _validator = Validator(load_schema("config"))
    return _validator


def semantic_problems(cfg: RunConfig) -> list[ConfigProblem]:
    """Invariants the JSON Schema cannot express. Each message names the field and the rule."""
    problems: list[ConfigProblem] = []

    def add(field_name: str, message: str) -> None:
        problems.append(ConfigProblem(field_name, message, "semantic"))

    def needs_package(field_name: str, module: str, what: str, otherwise: str = "") -> None:
        if extras.missing(module):
            problems.append(ConfigProblem(field_name, extras.needs(module, what) + (f", {otherwise}" if otherwise else ""),
                                          "semantic", install=(extras.requirement(module),)))

    if cfg.policy.checkpoint is None and cfg.policy.hf is None and cfg.sampling.max_new_tokens >= cfg.policy.gpt.context:
        add("sampling.max_new_tokens", f"{cfg.sampling.max_new_tokens} leaves no room for a prompt in the model's context of "
            f"{cfg.policy.gpt.context} tokens (policy.gpt.context); make it smaller, or the context larger")
    hf = cfg.policy.hf
    if hf is not None:
        if cfg.policy.checkpoint is not None:
            add("policy.checkpoint", "must be null when policy.hf names a Hugging Face model (one reference policy per run)")
        needs_package("policy.hf", "transformers", "a Hugging Face policy")
        if hf.lora is not None:
            needs_package("policy.hf.lora", "peft", "LoRA", "or set lora to null")
        if hf.lora is not None and hf.lora.anchor_rank is not None and hf.lora.anchor_rank < hf.lora.r:
            add("policy.hf.lora.anchor_rank", f"the anchor adapter must hold at least the policy's rank r = "
                f"{hf.lora.r} (a hard anchor update copies the policy's update into it); {hf.lora.anchor_rank} is smaller")
    if cfg.distributed.strategy == "fsdp" and cfg.export.onnx:
        add("export.onnx", "the ONNX export reads whole weights, which FSDP shards; set export.onnx to false, or "
            "export a checkpoint afterwards with `python -m bond_trainer export-onnx`")
    if cfg.distributed.strategy == "fsdp" and cfg.distributed.world_size > 1 and cfg.train.micro_batch_size:
        add("train.micro_batch_size", "micro-batches are not supported under distributed.strategy fsdp yet (a 2-process "
            "CPU run aborted once in CI); use ddp, or set micro_batch_size to 0")
    if cfg.distributed.nnodes > 1 and cfg.distributed.rdzv_endpoint is None:
        add("distributed.rdzv_endpoint", f"a run on {cfg.distributed.nnodes} nodes needs a rendezvous host:port "
            "that every node can reach")
    if cfg.distributed.world_size > 1 and cfg.train.batch_size % cfg.distributed.world_size:
        add("train.batch_size", f"the prompts of a step are split evenly over the {cfg.distributed.world_size} "
            f"processes (distributed.nproc_per_node × nnodes), so it must be a multiple of that "
            f"({cfg.train.batch_size} is not)")
    shape = shape_problem(cfg.policy.gpt.width, cfg.policy.gpt.heads)
    if cfg.policy.hf is None and cfg.policy.checkpoint is None and shape:
        add("policy.gpt.heads", f"{shape}: policy.gpt.width {cfg.policy.gpt.width} is not divisible by "
            f"{cfg.policy.gpt.heads}")
    if cfg.policy.checkpoint is not None and not cfg.resolve_path(cfg.policy.checkpoint).exists():
        add("policy.checkpoint", f"{cfg.resolve_path(cfg.policy.checkpoint)} does not exist "
            "(create it with `python -m bond_trainer pretrain`, or set it to null for a random model)")
    for key in ("train", "eval"):
        for index, name in enumerate(getattr(cfg.data, key)):
            path = cfg.resolve_path(name)
            folder = name.rpartition(":")[0]
            if path.exists() or (folder and cfg.resolve_path(folder).is_dir()):
                continue  # a file, a save_to_disk folder, or one split of one
            if HUB_SPLIT.match(name):
                continue  # a data set in the local Hugging Face cache, name:split (checked when it loads)
            add(f"data.{key}[{index}]", f"{path} does not exist (prompts come from a .jsonl, .json, .parquet or .csv "
                "file, a save_to_disk folder, or a cached data set as name:split)")
    if cfg.eval.n_max > cfg.eval.mc_samples:
        add("eval.n_max", f"the Best-of-N curve up to N={cfg.eval.n_max} needs at least that many "
            f"reference samples, but eval.mc_samples is {cfg.eval.mc_samples}")
    if cfg.eval.bon_n > cfg.eval.n_max:
        add("eval.bon_n", f"must be ≤ eval.n_max ({cfg.eval.bon_n} > {cfg.eval.n_max})")
    if cfg.samples.every > 0 and cfg.eval.bon_n > cfg.samples.mc_samples:
        add("samples.mc_samples", f"the Best-of-{cfg.eval.bon_n} candidates shown in samples are drawn "
            f"from these, so it must be ≥ eval.bon_n ({cfg.samples.mc_samples} < {cfg.eval.bon_n})")
    problems.extend(cfg.section.problems(cfg))
    names: set[str] = set()
    for index, rc in enumerate(cfg.reward.parts):
        at = f"reward[{index}]" if cfg.reward.components else "reward"
        if rc.type == "hf":
            if not rc.model:
                add(f"{at}.model", "required when type is hf (a local folder or a Hugging Face cache name)")
            needs_package(f"{at}.type", "transformers", "a Hugging Face reward model")
        if rc.type == "python":
            if not rc.function:
                add(f"{at}.function", "required when type is python (e.g. \"rewards.py:score\")")
            else:
                file_part = rc.function.rsplit(":", 1)[0]
                if not cfg.resolve_path(file_part).is_file():
                    add(f"{at}.function", f"file {cfg.resolve_path(file_part)} does not exist")
        if rc.type == "keyword" and not rc.keywords and not rc.pattern:
            add(f"{at}.keywords", "type keyword needs keywords or a pattern")
        if rc.pattern is not None:
            try:
                re.compile(rc.pattern)
            except re.error as error:
                add(f"{at}.pattern", f"not a valid regular expression ({error})")
        if cfg.reward.components:
            name = component_name(rc)
            if name in names:
                add(f"{at}.name", f"two components are named {name!r}; their metrics (reward/{name}/…) would mix: "
                    "give each a distinct name")
            names.add(name)
            if rc.normalize != "none":
                add(f"{at}.normalize", "applies to a single reward; scale the components of a sum with their weights")
    if cfg.logging.tensorboard:
        needs_package("logging.tensorboard", "tensorboard", "TensorBoard logging", "or set it to false")
    if cfg.logging.wandb is not None and cfg.logging.wandb.mode != "disabled":
        needs_package("logging.wandb", "wandb", "W&B logging", "or set it to null")
    if cfg.export.onnx:
        needs_package("export.onnx", "onnx", "ONNX export", "or set export.onnx to false")
    return problems


def component_name(rc: RewardConfig) -> str:
    """The name a reward component's metrics carry: its `name`, else its type, as a metric key
    (lower-case letters, digits and underscores)."""
    return re.sub(r"[^a-z0-9_]+", "_", (rc.name or rc.type).lower()).strip("_") or rc.type


def load_config(path: str | Path, overrides: Optional[list[str]] = None, text: Optional[str] = None) -> RunConfig:
    """Read, override, validate and type a config. Raises ConfigError naming every problem. `text`:
    the file's contents as an editor holds them (unsaved), paths still resolved against `path`."""
    path = Path(path)
    source = str(path)
    try:
        if text is None:
            text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(source, [ConfigProblem("", "the config file does not exist", "file")]) from None
    except UnicodeDecodeError as error:
        raise ConfigError(source, [ConfigProblem("", f"not UTF-8 text: byte 0x{error.object[error.start]:02x} at offset "
                                                 f"{error.start} cannot be decoded; save the file as UTF-8", "syntax")]) from None
    except OSError as error:
        raise ConfigError(source, [ConfigProblem("", f"cannot read the file: {error.strerror}", "file")]) from None
    try:
        raw = parse_jsonc(text)
    except JsoncError as error:
        raise ConfigError(source, [ConfigProblem("", f"not valid JSON: {error}", "syntax", error.line, error.column)]) from None
    return config_from_dict(raw, base_dir=path.resolve().parent, source=source, overrides=overrides)


def config_from_dict(raw: Any, base_dir: Path, source: str = "<config>",
                     overrides: Optional[list[str]] = None) -> RunConfig:
    raw = copy.deepcopy(raw)
    if not isinstance(raw, dict):
        raise ConfigError(source, [ConfigProblem("", "the top level must be a JSON object", "schema")])
    try:
        apply_overrides(raw, overrides or [])
    except ValueError as error:
        raise ConfigError(source, [ConfigProblem("", str(error), "override")]) from None
    warnings = move_legacy_fields(raw)
    issues: list[SchemaIssue] = config_validator().validate(raw, fill_defaults=True)
    if issues:
        # A moved field is named as the file writes it, with where it now belongs.
        moved = {new: old for old, new, _ in LEGACY_FIELDS if any(w.field == old and "ignored" not in w.message
                                                                  for w in warnings)}
        raise ConfigError(source, [ConfigProblem(moved[i.path], f"{i.message} (read as {i.path}, where it now belongs)",
                                                 "schema") if i.path in moved else
                                   ConfigProblem(i.path, i.message, "schema", rename_to=i.rename_to) for i in issues])
    raw.pop("$schema", None)
    components = raw.pop("reward") if isinstance(raw.get("reward"), list) else None
    cfg: RunConfig = _build(RunConfig, raw)
    if components is not None:
        cfg.reward = RewardConfig(components=[_build(RewardConfig, c) for c in components])
    cfg.base_dir = base_dir
    cfg.source = source
    cfg.warnings = warnings
    cfg.warnings.extend(_resolve_algorithm_defaults(cfg))
    problems = semantic_problems(cfg)
    if problems:
        raise ConfigError(source, problems)
    return cfg


def _legacy_fields() -> list[tuple[str, str, Optional[tuple[str, ...]]]]:
    """Fields of the layout before algorithms had sections of their own: (old, new, for which
    algorithms the old field meant the new one; None: every algorithm). One table for the trainer
    and the editor: contracts/schemas/config.moved-fields.json."""
    with open(schemas_dir() / "config.moved-fields.json", encoding="utf-8") as handle:
        table = json.load(handle)
    return [(m["from"], m["to"], tuple(m["algorithms"]) if m.get("algorithms") else None) for m in table["moved"]]


LEGACY_FIELDS = _legacy_fields()


def move_legacy_fields(raw: dict[str, Any]) -> list[ConfigProblem]:
    """Configs and runs written before each algorithm had its section keep working: an old field is
    moved to the field that now holds it (unless that one is given too), with a warning naming it.
    Works in place on the raw config, before the schema sees it."""
    warnings: list[ConfigProblem] = []
    algorithm = raw.get("algorithm", "jbond")
    for old, new, meant_for in LEGACY_FIELDS:
        old_section, old_key = old.split(".")
        new_section, new_key = new.split(".")
        section = raw.get(old_section)
        if not isinstance(section, dict) or old_key not in section:
            continue
        if meant_for is not None and algorithm not in meant_for:
            continue  # bond.beta of a bond run is bond's own field
        value = section.pop(old_key)
        target = raw.setdefault(new_section, {})
        if not isinstance(target, dict):
            continue  # the schema says what is wrong with the new section
        if new_key in target:
            warnings.append(ConfigProblem(old, f"moved to {new}, which is given too; {old} ({json.dumps(value)}) "
                                          "is ignored: delete it", "moved"))
            continue
        target[new_key] = value
        warnings.append(ConfigProblem(old, f"moved to {new}; read as {new} = {json.dumps(value)} — move it there",
                                      "moved"))
    return warnings


def normalised_config(recorded: dict[str, Any]) -> dict[str, Any]:
    """A config as a run recorded it (run.json, any trainer version), in today's layout with every
    default filled: what resume compares the config it is given with."""
    raw = copy.deepcopy(recorded)
    move_legacy_fields(raw)
    config_validator().validate(raw, fill_defaults=True)
    section = raw.get("anchor")
    algorithm = raw.get("algorithm", "jbond")
    if isinstance(section, dict) and section.get("kind") is None:
        classes = {"bond": BondConfig, "jbond": JBondConfig, "reinforce": ReinforceConfig, "bonbon": BonbonConfig}
        section["kind"] = (classes.get(algorithm, AlgorithmSection).DEFAULT_ANCHOR or "fixed")
    bonbon = raw.get("bonbon")
    if isinstance(bonbon, dict) and bonbon.get("tau") is None and isinstance(bonbon.get("n"), int):
        bonbon["tau"] = bonbon_tau(bonbon["n"])
    return raw


def bonbon_tau(n: int) -> float:
    """(n − 1)·H_(n−1): the expected log-ratio of Best-of-n to its anchor, log n + (n − 1)·log F(y), at
    the best of n samples minus at the worst, for continuous rewards: E log F is −1/n at the max of n
    and −H_n at the min (docs/algorithms.md §7)."""
    return (n - 1) * sum(1.0 / i for i in range(1, n))


def _resolve_algorithm_defaults(cfg: RunConfig) -> list[ConfigProblem]:
    """Defaults that depend on the algorithm: the anchor's kind and BoNBoN's τ. Written into the
    config, so that run.json records what the run used."""
    warnings: list[ConfigProblem] = []
    default = cfg.section.DEFAULT_ANCHOR
    if default is None:
        if cfg.anchor.kind not in (None, "fixed"):
            warnings.append(ConfigProblem("anchor.kind", f"{cfg.algorithm} has no anchor (its KL penalty is to π_ref), "
                                          f"so {cfg.anchor.kind!r} is not used; set it to \"fixed\" or remove it",
                                          "semantic"))
        cfg.anchor.kind = "fixed"
    elif cfg.anchor.kind is None:
        cfg.anchor.kind = default
    if cfg.bonbon.tau is None:
        cfg.bonbon.tau = bonbon_tau(cfg.bonbon.n)
    return warnings


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else str(key), out)
    else:
        out[prefix] = value  # lists are compared whole: a reward list or the data files are one choice


def config_changes(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """What differs between two resolved configs, as dotted fields with their values (None: absent),
    in field order. The run's segments and the resume prompt are made of these."""
    old: dict[str, Any] = {}
    new: dict[str, Any] = {}
    _flatten(before, "", old)
    _flatten(after, "", new)
    fields_in_order = list(old) + [key for key in new if key not in old]
    return [{"field": key, "before": old.get(key), "after": new.get(key)}
            for key in fields_in_order if old.get(key) != new.get(key)]


def describe_changes(changes: list[dict[str, Any]]) -> str:
    """'bond.beta 0.3 → 0.9, train.lr 0.003 → 0.05' for messages."""
    return ", ".join(f"{c['field']} {json.dumps(c['before'])} → {json.dumps(c['after'])}" for c in changes)
