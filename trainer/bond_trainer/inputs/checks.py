"""The config's rules beyond its JSON Schema: invariants between fields, files that must exist,
optional packages a setting needs. Each message names the field, the rule and what to do; each
algorithm's own rules are its section's (AlgorithmSection.problems)."""

from __future__ import annotations

import re
from ..models.gpt_shape import shape_problem
from . import extras
from .problems import ConfigProblem
from .sections import HUB_SPLIT, RunConfig, component_name

class _Problems:
    """The problems found so far, with the two ways of adding one."""

    def __init__(self) -> None:
        self.found: list[ConfigProblem] = []

    def add(self, field_name: str, message: str) -> None:
        self.found.append(ConfigProblem(field_name, message, "semantic"))

    def needs_package(self, field_name: str, module: str, what: str, otherwise: str = "") -> None:
        if extras.missing(module):
            self.found.append(ConfigProblem(field_name, extras.needs(module, what) + (f", {otherwise}" if otherwise else ""),
                                            "semantic", install=(extras.requirement(module),)))


def semantic_problems(cfg: RunConfig) -> list[ConfigProblem]:
    """Invariants the JSON Schema cannot express. Each message names the field and the rule."""
    problems = _Problems()
    for check in (_policy_problems, _distributed_problems, _data_problems, _evaluation_problems, _reward_problems,
                  _package_problems):
        check(cfg, problems)
    problems.found.extend(cfg.section.problems(cfg))
    return problems.found


def _policy_problems(cfg: RunConfig, problems: _Problems) -> None:
    add, needs_package = problems.add, problems.needs_package
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
    shape = shape_problem(cfg.policy.gpt.width, cfg.policy.gpt.heads)
    if cfg.policy.hf is None and cfg.policy.checkpoint is None and shape:
        add("policy.gpt.heads", f"{shape}: policy.gpt.width {cfg.policy.gpt.width} is not divisible by "
            f"{cfg.policy.gpt.heads}")
    if cfg.policy.checkpoint is not None and not cfg.resolve_path(cfg.policy.checkpoint).exists():
        add("policy.checkpoint", f"{cfg.resolve_path(cfg.policy.checkpoint)} does not exist "
            "(create it with `python -m bond_trainer pretrain`, or set it to null for a random model)")


def _distributed_problems(cfg: RunConfig, problems: _Problems) -> None:
    add = problems.add
    if cfg.distributed.strategy == "fsdp" and cfg.export.onnx:
        add("export.onnx", "the ONNX export reads whole weights, which FSDP shards; set export.onnx to false, or "
            "export a checkpoint afterwards with `python -m bond_trainer export-onnx`")
    if cfg.distributed.nnodes > 1 and cfg.distributed.rdzv_endpoint is None:
        add("distributed.rdzv_endpoint", f"a run on {cfg.distributed.nnodes} nodes needs a rendezvous host:port "
            "that every node can reach")
    if cfg.distributed.world_size > 1 and cfg.train.batch_size % cfg.distributed.world_size:
        add("train.batch_size", f"the prompts of a step are split evenly over the {cfg.distributed.world_size} "
            f"processes (distributed.nproc_per_node × nnodes), so it must be a multiple of that "
            f"({cfg.train.batch_size} is not)")


def _data_problems(cfg: RunConfig, problems: _Problems) -> None:
    add = problems.add
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


def _evaluation_problems(cfg: RunConfig, problems: _Problems) -> None:
    add = problems.add
    if cfg.eval.n_max > cfg.eval.mc_samples:
        add("eval.n_max", f"the Best-of-N curve up to N={cfg.eval.n_max} needs at least that many "
            f"reference samples, but eval.mc_samples is {cfg.eval.mc_samples}")
    if cfg.eval.bon_n > cfg.eval.n_max:
        add("eval.bon_n", f"must be ≤ eval.n_max ({cfg.eval.bon_n} > {cfg.eval.n_max})")
    if cfg.samples.every > 0 and cfg.eval.bon_n > cfg.samples.mc_samples:
        add("samples.mc_samples", f"the Best-of-{cfg.eval.bon_n} candidates shown in samples are drawn "
            f"from these, so it must be ≥ eval.bon_n ({cfg.samples.mc_samples} < {cfg.eval.bon_n})")


def _reward_problems(cfg: RunConfig, problems: _Problems) -> None:
    add, needs_package = problems.add, problems.needs_package
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


def _package_problems(cfg: RunConfig, problems: _Problems) -> None:
    needs_package = problems.needs_package
    if cfg.logging.tensorboard:
        needs_package("logging.tensorboard", "tensorboard", "TensorBoard logging", "or set it to false")
    if cfg.logging.wandb is not None and cfg.logging.wandb.mode != "disabled":
        needs_package("logging.wandb", "wandb", "W&B logging", "or set it to null")
    if cfg.export.onnx:
        needs_package("export.onnx", "onnx", "ONNX export", "or set export.onnx to false")
