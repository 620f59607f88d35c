"""Checkpoints of a run: what they hold, writing them (rank 0, FSDP gathered), choosing the newest
intact one on resume, and restoring a trainer from one.

A checkpoint holds everything needed to continue exactly: the policy (and the anchor), the
optimizer and scheduler, every random generator, the prompt stream's position and the sizes of the
record files (which a resume cuts back to). The folder is renamed into place whole and its manifest
hashes every file (rundir.py), so a resume can tell a damaged one.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch

from .console import Console
from ..inputs.data import PromptStream
from ..training.distributed import World
from ..models.roles import (ANCHOR_ADAPTER, POLICY_ADAPTER, ModelRoles, load_policy_weights, save_hf_folder,
                           save_policy_weights)
from .rundir import RunDirectory
from .files import checkpoint_damage
from .layout import METRICS_FILE, SAMPLES_FILE

log = logging.getLogger("bond_trainer")


@dataclass
class TrainState:
    """What a checkpoint holds and restores, and where it goes: the models, the optimizer and its
    schedule, the sampling generator and the prompt stream, the progress (step, tokens generated),
    and the run folder with the two settings that shape a checkpoint."""
    rd: RunDirectory
    roles: ModelRoles
    optimizer: torch.optim.Optimizer
    scheduler: Any  # torch.optim.lr_scheduler.LRScheduler
    generator: torch.Generator
    stream: PromptStream
    trainable: list[torch.nn.Parameter]
    device: torch.device
    world: World
    fsdp: bool
    keep_last: int
    export_onnx: bool
    step: int = 0
    num_tokens: int = 0


def save_checkpoint(run: TrainState) -> Path:
    """Rank 0 writes (DDP keeps every rank's state identical; FSDP gathers the shards to it first,
    with every rank taking part), then every rank waits for it, so no rank runs ahead of a
    checkpoint that is not yet complete."""
    path = run.rd.checkpoints_dir / f"step-{run.step}"
    if run.world.is_main or run.fsdp:
        weights = _weights_to_save(run)
        if run.world.is_main:
            path = _write_checkpoint(run, *weights)
    run.world.barrier()
    return path


def _weights_to_save(run: TrainState) -> tuple[dict[str, torch.Tensor], Optional[dict[str, torch.Tensor]], dict[str, Any]]:
    """Policy, anchor and optimizer state, whole (a collective under FSDP)."""
    policy = run.roles.state(POLICY_ADAPTER)
    anchor = None if run.roles.anchor_is_reference else run.roles.state(ANCHOR_ADAPTER)
    if run.fsdp:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict
        # Keyed by parameter name, whole: loadable at any world size, with or without FSDP.
        optimizer = get_optimizer_state_dict(run.roles.policy.module, run.optimizer,
                                             options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    else:
        optimizer = run.optimizer.state_dict()
    return policy, anchor, optimizer


def _write_checkpoint(run: TrainState, policy: dict[str, torch.Tensor], anchor: Optional[dict[str, torch.Tensor]],
                      optimizer: dict[str, Any]) -> Path:
    extra = {"step": run.step, "run_id": run.rd.path.name}
    state = {
        "step": run.step,
        "optimizer": optimizer,
        "scheduler": run.scheduler.state_dict(),
        "generator": run.generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python_rng": list(random.getstate()[1]),
        "python_rng_version": random.getstate()[0],
        "stream": run.stream.state(),
        "num_tokens": run.num_tokens,
        "metrics_bytes": run.rd.file_size(METRICS_FILE),
        "samples_bytes": run.rd.file_size(SAMPLES_FILE),
    }
    payloads: dict[str, Any] = {"model.pt": lambda target: save_policy_weights(run.roles, target, extra, policy),
                                "trainer_state.pt": state}
    if anchor is not None:
        payloads["anchor.pt"] = anchor
    if run.roles.kind == "hf":
        # The trained policy as a Hugging Face folder, loadable with from_pretrained (peft for LoRA).
        payloads["hf"] = lambda target: save_hf_folder(run.roles, target, policy)
    path = run.rd.write_checkpoint(run.step, payloads, {"format": "bond-checkpoint/1", "model": run.roles.kind},
                                       run.keep_last)
    log.info("checkpoint written: %s", path)
    if run.export_onnx:
        # For the editor's playground: the same step's policy, anchor and reference as ONNX.
        from ..models.export import EXPORT_ERRORS, export_step, role_exporters
        kept = {step for step, _ in run.rd.list_checkpoints()}
        exporters = role_exporters(run.roles, run.step, run.rd.path.name)
        target = export_step(run.rd.path, run.step, exporters, kept)
        if (target / EXPORT_ERRORS).exists():
            log.warning("ONNX export incomplete: %s", (target / EXPORT_ERRORS).read_text(encoding="utf-8").strip())
        log.info("ONNX export written: %s", target)
    return path


def load_checkpoint(run: TrainState, path: Path) -> None:
    """Restore `run` in place (its step and num_tokens too) and cut the record files back."""
    load_policy_weights(run.roles, path / "model.pt", run.device)
    if not run.roles.anchor_is_reference:
        anchor = torch.load(path / "anchor.pt", map_location=run.device, weights_only=True)
        run.roles.load_state(ANCHOR_ADAPTER, anchor, path / "anchor.pt")
    state = torch.load(path / "trainer_state.pt", map_location="cpu", weights_only=True)
    _load_optimizer(run, state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    generator_state = state["generator"]
    if generator_state.numel() != run.generator.get_state().numel():
        raise ValueError(f"{path} was written by an older trainer whose sampler used another random stream; "
                         "start a new run (its checkpoints cannot resume exactly)")
    run.generator.set_state(generator_state)
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    random.setstate((state["python_rng_version"], tuple(state["python_rng"]), None))
    run.stream.restore(state["stream"])
    run.step = int(state["step"])
    run.num_tokens = int(state.get("num_tokens", 0))  # absent in checkpoints written before it was counted
    run.rd.truncate(METRICS_FILE, int(state["metrics_bytes"]))
    run.rd.truncate(SAMPLES_FILE, int(state["samples_bytes"]))


def _load_optimizer(run: TrainState, saved: dict[str, Any]) -> None:
    """Native optimizer state (keyed by position) or by parameter name (written under FSDP):
    either loads into either, so a run may change strategy and world size when it resumes."""
    by_name = any(isinstance(key, str) for key in saved.get("state", {})) or any(
        isinstance(p, str) for group in saved.get("param_groups", []) for p in group.get("params", []))
    if not by_name and not run.fsdp:
        run.optimizer.load_state_dict(saved)
        return
    if not by_name:
        saved = _name_optimizer_state(run, saved)
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict
    set_optimizer_state_dict(run.roles.policy.module, run.optimizer, saved, options=StateDictOptions(full_state_dict=True))


def _name_optimizer_state(run: TrainState, saved: dict[str, Any]) -> dict[str, Any]:
    """Positional optimizer state → keyed by parameter name (the optimizer holds the trainable
    parameters in the module's order)."""
    trainable = {id(p) for p in run.trainable}
    names = [n for n, p in run.roles.policy.module.named_parameters() if id(p) in trainable]
    groups = [{**group, "params": [names[i] for i in group["params"]]} for group in saved["param_groups"]]
    return {"state": {names[i]: value for i, value in saved["state"].items()}, "param_groups": groups}


def newest_intact_checkpoint(rd: RunDirectory, console: Console) -> Optional[Path]:
    """The newest checkpoint whose files match their manifest. Damaged ones newer than it are said,
    logged and set aside as step-N.damaged (their steps are replayed)."""
    for _step, path in reversed(rd.list_checkpoints()):
        damage = checkpoint_damage(path)
        if damage is None:
            return path
        aside = rd.set_aside_damaged(path)
        message = (f"checkpoint {path.name} is damaged: {damage}; set aside as {aside.name}, "
                   "resuming from the newest intact one")
        log.warning(message)
        console.line(message)
    return None
