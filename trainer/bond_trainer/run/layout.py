"""The names of a run's files and folders, from contracts/schemas/run-folder.schema.json (the
editor reads the same document)."""

from __future__ import annotations

from typing import Any

from ..inputs.schema import load_schema

FORMAT_VERSION = 1
# The names of a run's files and folders, from contracts/schemas/run-folder.schema.json (the editor
# reads the same document).
LAYOUT: dict[str, dict[str, Any]] = load_schema("run-folder")["x-layout"]
RUN_FILE = LAYOUT["run"]["path"]
LOCK_FILE = LAYOUT["lock"]["path"]
RESERVE_FILE = LAYOUT["reserve"]["path"]
RESERVE_BYTES = 256 * 1024  # several run.json rewrites' worth, to record a disk-full failure
METRICS_FILE = LAYOUT["metrics"]["path"]
SAMPLES_FILE = LAYOUT["samples"]["path"]
LOG_FILE = LAYOUT["log"]["path"]
CHECKPOINTS = LAYOUT["checkpoints"]["path"]
CHECKPOINT_MANIFEST = LAYOUT["checkpoint_manifest"]["path"]
RANK_ERRORS = LAYOUT["rank_errors"]["path"]  # under torchrun: a failing rank's error, for rank 0 to report
EXPORTS = LAYOUT["exports"]["path"]
EXPORT_ERRORS = LAYOUT["export_errors"]["path"]
PRUNE_REQUEST = LAYOUT["prune_request"]["path"]  # a sweep's pruner ended the run: stop as pruned
HEARTBEAT_SECONDS = 5.0
DAMAGED_SUFFIX = ".damaged"  # step-N.damaged: set aside at resume, never listed again
