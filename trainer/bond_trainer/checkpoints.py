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
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import torch

from .console import Console
from .models.roles import ANCHOR_ADAPTER, POLICY_ADAPTER, load_policy_weights, save_hf_folder, save_policy_weights
from .rundir import METRICS_FILE, SAMPLES_FILE, RunDirectory, checkpoint_damage

if TYPE_CHECKING:
    from .train import Trainer

log = logging.getLogger("bond_trainer")


def save_checkpoint(trainer: Trainer) -> Path:
    """Rank 0 writes (DDP keeps every rank's state identical; FSDP gathers the shards to it first,
    with every rank taking part), then every rank waits for it, so no rank runs ahead of a
    checkpoint that is not yet complete."""
    path = trainer.rd.checkpoints_dir / f"step-{trainer.step}"
    if trainer.world.is_main or trainer.fsdp:
        weights = _weights_to_save(trainer)
        if trainer.world.is_main:
            path = _write_checkpoint(trainer, *weights)
    trainer.world.barrier()
    return path


def _weights_to_save(trainer: Trainer) -> tuple[dict[str, torch.Tensor], Optional[dict[str, torch.Tensor]], dict[str, Any]]:
    """Policy, anchor and optimizer state, whole (a collective under FSDP)."""
    policy = trainer.roles.state(POLICY_ADAPTER)
    anchor = None if trainer.roles.anchor_is_reference else trainer.roles.state(ANCHOR_ADAPTER)
    if trainer.fsdp:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict
        # Keyed by parameter name, whole: loadable at any world size, with or without FSDP.
        optimizer = get_optimizer_state_dict(trainer.policy.module, trainer.optimizer,
                                             options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    else:
        optimizer = trainer.optimizer.state_dict()
    return policy, anchor, optimizer


def _write_checkpoint(trainer: Trainer, policy: dict[str, torch.Tensor], anchor: Optional[dict[str, torch.Tensor]],
                      optimizer: dict[str, Any]) -> Path:
    extra = {"step": trainer.step, "run_id": trainer.rd.path.name}
    state = {
        "step": trainer.step,
        "optimizer": optimizer,
        "scheduler": trainer.scheduler.state_dict(),
        "generator": trainer.generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python_rng": list(random.getstate()[1]),
        "python_rng_version": random.getstate()[0],
        "stream": trainer.stream.state(),
        "num_tokens": trainer.num_tokens,
        "metrics_bytes": trainer.rd.file_size(METRICS_FILE),
        "samples_bytes": trainer.rd.file_size(SAMPLES_FILE),
    }
    payloads: dict[str, Any] = {"model.pt": lambda target: save_policy_weights(trainer.roles, target, extra, policy),
                                "trainer_state.pt": state}
    if anchor is not None:
        payloads["anchor.pt"] = anchor
    if trainer.roles.kind == "hf":
        # The trained policy as a Hugging Face folder, loadable with from_pretrained (peft for LoRA).
        payloads["hf"] = lambda target: save_hf_folder(trainer.roles, target, policy)
    path = trainer.rd.write_checkpoint(trainer.step, payloads, {"format": "bond-checkpoint/1", "model": trainer.roles.kind},
                                       trainer.cfg.checkpoint.keep_last)
    log.info("checkpoint written: %s", path)
    if trainer.cfg.export.onnx:
        # For the editor's playground: the same step's policy, anchor and reference as ONNX.
        from .export import EXPORT_ERRORS, export_step, role_exporters
        kept = {step for step, _ in trainer.rd.list_checkpoints()}
        exporters = role_exporters(trainer.roles, trainer.step, trainer.rd.path.name)
        target = export_step(trainer.rd.path, trainer.step, exporters, kept)
        if (target / EXPORT_ERRORS).exists():
            log.warning("ONNX export incomplete: %s", (target / EXPORT_ERRORS).read_text(encoding="utf-8").strip())
        log.info("ONNX export written: %s", target)
    return path


def load_checkpoint(trainer: Trainer, path: Path) -> None:
    load_policy_weights(trainer.roles, path / "model.pt", trainer.device)
    if not trainer.roles.anchor_is_reference:
        anchor = torch.load(path / "anchor.pt", map_location=trainer.device, weights_only=True)
        trainer.roles.load_state(ANCHOR_ADAPTER, anchor, path / "anchor.pt")
    state = torch.load(path / "trainer_state.pt", map_location="cpu", weights_only=True)
    _load_optimizer(trainer, state["optimizer"])
    trainer.scheduler.load_state_dict(state["scheduler"])
    generator_state = state["generator"]
    if generator_state.numel() != trainer.generator.get_state().numel():
        raise ValueError(f"{path} was written by an older trainer whose sampler used another random stream; "
                         "start a new run (its checkpoints cannot resume exactly)")
    trainer.generator.set_state(generator_state)
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    random.setstate((state["python_rng_version"], tuple(state["python_rng"]), None))
    trainer.stream.restore(state["stream"])
    trainer.step = int(state["step"])
    trainer.num_tokens = int(state.get("num_tokens", 0))  # absent in checkpoints written before it was counted
    trainer.rd.truncate(METRICS_FILE, int(state["metrics_bytes"]))
    trainer.rd.truncate(SAMPLES_FILE, int(state["samples_bytes"]))


def _load_optimizer(trainer: Trainer, saved: dict[str, Any]) -> None:
    """Native optimizer state (keyed by position) or by parameter name (written under FSDP):
    either loads into either, so a run may change strategy and world size when it resumes."""
    by_name = any(isinstance(key, str) for key in saved.get("state", {})) or any(
        isinstance(p, str) for group in saved.get("param_groups", []) for p in group.get("params", []))
    if not by_name and not trainer.fsdp:
        trainer.optimizer.load_state_dict(saved)
        return
    if not by_name:
        saved = _name_optimizer_state(trainer, saved)
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict
    set_optimizer_state_dict(trainer.policy.module, trainer.optimizer, saved, options=StateDictOptions(full_state_dict=True))


def _name_optimizer_state(trainer: Trainer, saved: dict[str, Any]) -> dict[str, Any]:
    """Positional optimizer state → keyed by parameter name (the optimizer holds the trainable
    parameters in the module's order)."""
    trainable = {id(p) for p in trainer.trainable}
    names = [n for n, p in trainer.policy.module.named_parameters() if id(p) in trainable]
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
