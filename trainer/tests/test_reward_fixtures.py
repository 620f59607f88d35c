"""The built-in rewards on shared cases: contracts/fixtures/rewards.json holds inputs and the Python
values; the TypeScript rewards (the editor's playground) are tested against the same file.
Regenerate after a deliberate change: BOND_REGENERATE_FIXTURES=1 pytest tests/test_reward_fixtures.py"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from conftest import CONTRACTS
from bond_trainer.inputs.rewards import keyword_score, length_score, sentiment_score

FIXTURE = CONTRACTS / "fixtures" / "rewards.json"

TEXTS = [
    "", "good", "The food was GOOD, great and lovely!", "bad bad bad but fine", "it's not good... it's wonderful",
    "café au lait: délicieux, wonderful", "日本語のテキスト good 👍🏽", "worst-ever, horrible; hated it", "aaa bab a",
    "don't hate, love", "x" * 300, "  spaces   and\ttabs\nnewlines good\n", "Nice nice NICE nIcE",
]
REWARDS: list[dict[str, Any]] = [
    {"type": "sentiment"},
    {"type": "length", "target_length": 40},
    {"type": "length", "target_length": 5},
    {"type": "keyword", "keywords": ["good", "Love"], "pattern": None},
    {"type": "keyword", "keywords": [], "pattern": "a"},
    {"type": "keyword", "keywords": ["nice"], "pattern": "[0-9]+|é"},
]


def score(reward: dict[str, Any], text: str) -> float:
    if reward["type"] == "sentiment":
        return sentiment_score(text)
    if reward["type"] == "length":
        return length_score(text, reward["target_length"])
    pattern = re.compile(reward["pattern"]) if reward["pattern"] else None
    return keyword_score(text, reward["keywords"], pattern)


def build() -> dict[str, Any]:
    return {"cases": [{"reward": reward, "completion": text, "expected": score(reward, text)}
                      for reward in REWARDS for text in TEXTS]}


def test_reward_fixture_is_up_to_date() -> None:
    expected = build()
    if os.environ.get("BOND_REGENERATE_FIXTURES") == "1":
        FIXTURE.write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    assert json.loads(FIXTURE.read_text(encoding="utf-8")) == expected, \
        "contracts/fixtures/rewards.json is stale: BOND_REGENERATE_FIXTURES=1 pytest tests/test_reward_fixtures.py"
