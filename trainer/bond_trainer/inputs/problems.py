"""What every check of a config reports: one problem per field (what is wrong, what to do, which
rules caught it), and the error a config the trainer cannot run raises (exit code 2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Optional

ProblemCheck = Literal["syntax", "schema", "semantic", "override", "file", "moved"]

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
