"""The built-in byte GPT's shape: its defaults and its one invariant, in one place (torch-free, so
that config validation stays fast). inputs/sections.py, models/byte_gpt.py, commands/pretrain.py and the CLI use it;
the config schema's defaults are kept equal to these by a test."""

from __future__ import annotations

from typing import Optional

DEFAULT_LAYERS = 2
DEFAULT_HEADS = 4
DEFAULT_WIDTH = 128
DEFAULT_CONTEXT = 128


def shape_problem(width: int, heads: int) -> Optional[str]:
    """Attention splits the width evenly over the heads."""
    if heads < 1 or width % heads:
        return f"heads ({heads}) must divide width ({width})"
    return None
