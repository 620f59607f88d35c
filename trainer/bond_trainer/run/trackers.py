"""Experiment trackers beside the run folder: TensorBoard event files and Weights & Biases.

The run folder stays the source of truth (the editor reads it); trackers get a copy of what it
holds, written by rank 0 only: every scalar of metrics.jsonl under its own name (eval metrics under
their eval/ names), and each sample snapshot (TensorBoard: a text summary per prompt; W&B: a Table).
Both packages are optional extras; asking for one that is missing is a config error (inputs/checks.py).

Resume: the replayed steps (those after the checkpoint) are written again. TensorBoard is told to
purge events from the resumed step on (`purge_step`); W&B continues the same run (its id is the run
folder's name) and drops steps it already has.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Optional, Protocol

from ..inputs.config import RunConfig

log = logging.getLogger("bond_trainer")
TENSORBOARD_DIR = "tensorboard"


class Tracker(Protocol):
    def scalars(self, step: int, record: dict[str, Any]) -> None: ...

    def samples(self, step: int, records: list[dict[str, Any]]) -> None: ...

    def close(self) -> None: ...


def _numbers(record: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in record.items()
            if k not in ("kind", "step", "time") and isinstance(v, (int, float)) and not isinstance(v, bool)}


def cell(value: Any) -> str:
    """Text for a Markdown table cell: model output is text, so its pipes and line breaks are escaped."""
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _sample_rows(step: int, record: dict[str, Any]) -> list[list[Any]]:
    """One row per shown text of a snapshot record: prompt, role, text, reward."""
    prompt = record["prompt"]
    rows = [[step, record["prompt_id"], prompt, f"policy {i + 1}", shown["text"], shown["reward"]]
            for i, shown in enumerate(record["policy"])]
    rows += [[step, record["prompt_id"], prompt, f"anchor {i + 1}", shown["text"], shown["reward"]]
             for i, shown in enumerate(record["anchor"])]
    best = record["bon"]["best"]
    rows.append([step, record["prompt_id"], prompt, f"Best-of-{record['bon']['n']}", best["text"], best["reward"]])
    return rows


SAMPLE_COLUMNS = ["step", "prompt_id", "prompt", "sample", "completion", "reward"]


class TensorBoardTracker:
    def __init__(self, run_path: Path, resume_step: Optional[int]):
        from torch.utils.tensorboard import SummaryWriter
        self.writer = SummaryWriter(log_dir=str(run_path / TENSORBOARD_DIR),
                                    purge_step=resume_step + 1 if resume_step is not None else None)

    def scalars(self, step: int, record: dict[str, Any]) -> None:
        for name, value in _numbers(record).items():
            self.writer.add_scalar(name, value, step)

    def samples(self, step: int, records: list[dict[str, Any]]) -> None:
        for record in records:
            lines = ["| sample | reward | completion |", "|---|---:|---|"]
            lines += [f"| {cell(r[3])} | {r[5]:.3f} | {cell(r[4])} |" for r in _sample_rows(step, record)]
            self.writer.add_text(f"samples/prompt_{record['prompt_id']}", f"**{cell(record['prompt'])}**\n\n" + "\n".join(lines), step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def wandb_run_id(run_id: str) -> str:
    """W&B ids allow letters, digits, '-' and '_' (64 at most): the run folder's name, so a resume
    continues the same W&B run."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", run_id)[:64]


class WandbTracker:
    def __init__(self, cfg: RunConfig, run_path: Path, resume: bool):
        import wandb
        settings = cfg.logging.wandb
        assert settings is not None
        self.wandb = wandb
        self.run = wandb.init(project=settings.project, entity=settings.entity, mode=settings.mode, dir=str(run_path),
                              id=wandb_run_id(run_path.name), name=cfg.name, resume="allow" if resume else None,
                              config=cfg.to_json(), tags=[cfg.algorithm])

    def scalars(self, step: int, record: dict[str, Any]) -> None:
        self.run.log(_numbers(record), step=step)

    def samples(self, step: int, records: list[dict[str, Any]]) -> None:
        table = self.wandb.Table(columns=SAMPLE_COLUMNS, data=[row for r in records for row in _sample_rows(step, r)])
        self.run.log({"samples": table}, step=step)

    def close(self) -> None:
        self.run.finish()


class Trackers:
    """Every tracker the config asks for; a tracker that fails while the run goes on is logged and
    dropped (the run folder keeps everything)."""

    def __init__(self, trackers: list[Tracker]):
        self.trackers = trackers

    @staticmethod
    def open(cfg: RunConfig, run_path: Path, resume_step: Optional[int]) -> "Trackers":
        trackers: list[Tracker] = []
        if cfg.logging.tensorboard:
            trackers.append(TensorBoardTracker(run_path, resume_step))
        if cfg.logging.wandb is not None and cfg.logging.wandb.mode != "disabled":
            trackers.append(WandbTracker(cfg, run_path, resume_step is not None))
        return Trackers(trackers)

    def _each(self, method: str, *args: Any) -> None:
        for tracker in list(self.trackers):
            try:
                getattr(tracker, method)(*args)
            except Exception as error:  # noqa: BLE001 - a tracker never stops training
                log.warning("%s failed (%s: %s); it is switched off for this run", type(tracker).__name__,
                            type(error).__name__, error)
                self.trackers.remove(tracker)

    def scalars(self, step: int, record: dict[str, Any]) -> None:
        self._each("scalars", step, record)

    def samples(self, step: int, records: list[dict[str, Any]]) -> None:
        if records:
            self._each("samples", step, records)

    def close(self) -> None:
        self._each("close")
