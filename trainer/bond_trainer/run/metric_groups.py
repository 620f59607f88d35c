"""The dashboard's charts as run.json describes them (`metric_groups`): metrics drawn together,
with an optional horizontal reference line. Algorithms and the system monitor declare theirs; the
editor draws whatever a run declares and never branches on an algorithm's name."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, Optional

Section = Literal["training", "evaluation", "performance", "system"]
Table = Literal["train", "eval"]


@dataclass(frozen=True)
class Series:
    key: str      # a metric name in metrics.jsonl
    label: str
    # A train metric with a pass of its own: on the first and every `every`-th train line
    # only (None: on every line).
    every: Optional[int] = None


@dataclass(frozen=True)
class ReferenceLine:
    label: str
    value: float


@dataclass(frozen=True)
class MetricGroup:
    """One chart of the dashboard: metrics drawn together, with an optional horizontal reference."""
    id: str
    title: str
    section: Section
    table: Table
    series: list[Series]
    smooth: bool = True
    reference: Optional[ReferenceLine] = None

    def to_json(self) -> dict[str, Any]:
        record = asdict(self)
        if self.reference is None:
            record.pop("reference")
        record["series"] = [{k: v for k, v in series.items() if v is not None} for series in record["series"]]
        return record
