"""Dropout off in every forward that defines a distribution.

π, π_anchor and π_ref are functions of their weights only: a dropout mask in a forward would make
log π(y) a random variable, so identical weights would give non-zero KL estimates and the gradient
would carry that noise. The model's own dropout (nn.Dropout modules, attention-probability dropout
stored as a float attribute as in Llama, the config's *_pdrop/*dropout fields) and LoRA's dropout
are zeroed. Modules stay in train mode, which gradient checkpointing needs.

`train.dropout: true` keeps them for the gradient-carrying forward only (a regulariser, see
docs/algorithms.md); every other forward then runs under `dropout_disabled`.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from torch import nn

_FLOAT_DROPOUT_ATTRIBUTES = ("attention_dropout", "dropout", "attn_dropout_p", "dropout_p")


def _dropout_sites(module: nn.Module) -> Iterator[tuple[Any, str]]:
    """(object, attribute) pairs that hold a dropout probability."""
    for sub in module.modules():
        if isinstance(sub, nn.modules.dropout._DropoutNd):
            yield sub, "p"
            continue
        for name in _FLOAT_DROPOUT_ATTRIBUTES:
            if isinstance(getattr(sub, name, None), float):
                yield sub, name


def disable_dropout(module: nn.Module) -> int:
    """Zero every dropout probability in `module` for good; returns how many were non-zero."""
    changed = 0
    for owner, name in _dropout_sites(module):
        if getattr(owner, name) != 0.0:
            changed += 1
            setattr(owner, name, 0.0)
    config = getattr(module, "config", None)
    if config is not None:
        # Layers that read the probability from the config at call time.
        for key, value in list(vars(config).items()):
            if isinstance(value, float) and ("dropout" in key or key.endswith("pdrop")) and value != 0.0:
                setattr(config, key, 0.0)
    return changed


@contextmanager
def dropout_disabled(module: nn.Module) -> Iterator[None]:
    """Dropout off for the duration, restored after (used only when train.dropout keeps it on)."""
    saved = [(owner, name, getattr(owner, name)) for owner, name in _dropout_sites(module)]
    for owner, name, _ in saved:
        setattr(owner, name, 0.0)
    try:
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)


def has_dropout(module: nn.Module) -> bool:
    return any(getattr(owner, name) > 0.0 for owner, name in _dropout_sites(module))
