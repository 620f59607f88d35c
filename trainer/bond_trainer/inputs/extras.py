"""Optional packages: the one place that says which pip requirement brings each, so that a message
(and the editor's Install button) names exactly what to install into the trainer's Python.

The requirements equal trainer/requirements-extras.txt (a test keeps the two the same)."""

from __future__ import annotations

import importlib.util

# import name → pip requirement
OPTIONAL_PACKAGES: dict[str, str] = {
    "onnx": "onnx>=1.16",
    "onnxruntime": "onnxruntime>=1.18",
    "transformers": "transformers>=4.46",
    "tokenizers": "tokenizers>=0.20",
    "safetensors": "safetensors>=0.4",
    "peft": "peft>=0.13",
    "tensorboard": "tensorboard>=2.14",
    "wandb": "wandb>=0.16",
    "datasets": "datasets>=2.19",
    "pyarrow": "pyarrow>=14",
    "psutil": "psutil>=5.9",
    "optuna": "optuna>=4",
}


def requirement(module: str) -> str:
    """The pip requirement that installs `module` (an optional package the trainer knows)."""
    return OPTIONAL_PACKAGES[module]


def missing(module: str) -> bool:
    return importlib.util.find_spec(module) is None


def needs(module: str, what: str = "it") -> str:
    """'… needs the X package in the trainer's Python: pip install 'X>=v'' — names no file of ours."""
    return f"{what} needs the {module} package in the trainer's Python: pip install '{requirement(module)}'"


class MissingPackage(Exception):
    """A feature was asked for whose optional package is not installed. `install` lists the pip
    requirements that bring it; the CLI prints them for the editor, which offers to install them."""

    def __init__(self, message: str, install: list[str]):
        super().__init__(message)
        self.install = install
