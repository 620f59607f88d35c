"""The package's layout stays readable: modules grouped by layer, none over 400 lines, no function
over 60, and no module at the top level beyond the package's entry (docs: the README's Layout)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "bond_trainer"
LAYERS = {"algorithms", "commands", "inputs", "models", "run", "sampling", "sweeps", "training"}


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_modules_are_grouped_by_layer() -> None:
    top = {p.name for p in PACKAGE.glob("*.py")}
    assert top == {"__init__.py", "__main__.py"}, sorted(top)
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__" and p.name != "schemas"}
    assert folders == LAYERS, sorted(folders)


def test_no_module_over_400_lines_and_no_function_over_60() -> None:
    too_long = []
    for path in modules():
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > 400:
            too_long.append(f"{path.relative_to(PACKAGE)}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > 60:
                    too_long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}: {length} lines")
    assert too_long == []
