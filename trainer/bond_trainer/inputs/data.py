"""Prompt sets: each prompt is a string or a list of chat messages, with the row's other columns.

Sources (`data.train`, `data.eval`, each entry one of):
- a `.jsonl` file (one object per line), a `.json` file (a list of objects), read here;
- a `.parquet` or `.csv` file, or a folder written by `datasets`' `save_to_disk`, read with `datasets`;
- `name:split`, a data set already in the local Hugging Face cache, read with `datasets` offline:
  nothing downloads at run time.

The prompt is the column `data.field`: a string, or a list of {role, content} messages rendered with
the policy's chat template. The other columns travel with the prompt: a Python reward function gets
them as keyword arguments, lists aligned with the prompts (TRL's convention), and a Hugging Face
reward model's `template` can name them as {column}. Every problem names the source, the row and
the column.
"""

from __future__ import annotations

import json
import os
import random
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Union

from .config import HUB_SPLIT, ConfigError, ConfigProblem, RunConfig
from .extras import needs
from .schema import MAX_JSON_DEPTH, json_too_deep

Message = dict[str, str]
PromptValue = Union[str, list[Message]]
CHAT_ROLES = ("system", "user", "assistant", "tool")
DATASETS_SUFFIXES = {".parquet": "parquet", ".csv": "csv"}


class DataError(Exception):
    """A prompt source that cannot be used. Reported like a config error (exit 2)."""


@dataclass(frozen=True)
class Prompt:
    value: PromptValue                              # as the data holds it: text or chat messages
    columns: dict[str, Any] = field(default_factory=dict)  # the row's other columns
    where: str = ""                                 # source and row, for messages

    @property
    def is_chat(self) -> bool:
        return isinstance(self.value, list)

    @property
    def text(self) -> str:
        """The prompt as people read it (the samples view, trackers, a reward template's {prompt})."""
        return prompt_text(self.value)


def prompt_text(value: PromptValue, separator: str = "\n") -> str:
    """A prompt as text: itself, or its chat messages as 'role: content' lines."""
    return value if isinstance(value, str) else separator.join(f"{m['role']}: {m['content']}" for m in value)


# Far beyond any context window: a prompt this long is a wrong column or a corrupted row, and would
# cost a tokeniser pass over all of it at every draw.
MAX_PROMPT_CHARS = 1_000_000


def _text(value: str, where: str) -> str:
    if len(value) > MAX_PROMPT_CHARS:
        raise DataError(f"{where}: {len(value):,} characters, more than a prompt can sensibly be ({MAX_PROMPT_CHARS:,}); "
                        "is data.field the prompt's column?")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise DataError(f"{where}: character {error.start + 1} is a lone surrogate (U+{ord(value[error.start]):04X}), "
                        "not text that can be tokenised; fix the row's escapes") from None
    return value


def _prompt_value(value: Any, where: str, column: str) -> PromptValue:
    if isinstance(value, str):
        return _text(value, f"{where}, column {column!r}")
    if isinstance(value, list) and value:
        messages: list[Message] = []
        for index, message in enumerate(value):
            if (not isinstance(message, dict) or not isinstance(message.get("role"), str)
                    or not isinstance(message.get("content"), str)):
                raise DataError(f"{where}, column {column!r}, message {index + 1}: expected an object with string "
                                f"'role' and 'content', found {json.dumps(message, default=str)[:120]}")
            if message["role"] not in CHAT_ROLES:
                raise DataError(f"{where}, column {column!r}, message {index + 1}: role {message['role']!r} is not one "
                                f"of {', '.join(CHAT_ROLES)}")
            messages.append({"role": message["role"],
                             "content": _text(message["content"], f"{where}, column {column!r}, message {index + 1}")})
        return messages
    found = type(value).__name__ if value is not None else "nothing"
    raise DataError(f"{where}, column {column!r}: expected a string or a list of chat messages ({{role, content}}), "
                    f"found {found} (set data.field if the prompts are in another column)")


def _prompt(row: Any, where: str, column: str) -> Prompt:
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected an object (a row with a {column!r} column)")
    if column not in row:
        raise DataError(f"{where}: no column {column!r} (columns: {', '.join(map(str, row)) or 'none'}; "
                        "set data.field to the prompt's column)")
    return Prompt(_prompt_value(row[column], where, column), {k: v for k, v in row.items() if k != column}, where)


def _decode(raw: bytes, where: str, offset: int = 0) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataError(f"{where}: not UTF-8 text: byte 0x{raw[error.start]:02x} at byte {error.start + 1} of the line "
                        f"(offset {offset + error.start} in the file) cannot be decoded; is this a text file?") from None


def _jsonl_rows(path: Path) -> Iterator[tuple[str, Any]]:
    offset = 0
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            where = f"{path}:{number}"
            line = _decode(raw, where, offset)
            offset += len(raw)
            if not line.strip():
                continue
            if json_too_deep(line) is not None:
                raise DataError(f"{where}: nested more than {MAX_JSON_DEPTH} levels deep; a row is a flat object")
            try:
                yield where, json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(f"{where}: not valid JSON ({error.msg})") from None


def _json_rows(path: Path) -> Iterator[tuple[str, Any]]:
    text = _decode(path.read_bytes(), str(path))
    if json_too_deep(text, MAX_JSON_DEPTH + 1) is not None:  # the list, then flat rows
        raise DataError(f"{path}: nested more than {MAX_JSON_DEPTH} levels deep; rows are flat objects")
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: not valid JSON (line {error.lineno}: {error.msg})") from None
    if not isinstance(rows, list):
        raise DataError(f"{path}: expected a JSON list of rows (objects); for one object per line use .jsonl")
    for index, row in enumerate(rows, start=1):
        yield f"{path} row {index}", row


def _require_datasets(source: str) -> Any:
    try:
        import datasets
    except ImportError:
        raise DataError(f"{source}: {needs('datasets', 'reading it')}; JSON Lines files need nothing") from None
    datasets.disable_progress_bars()
    return datasets


def _offline_switches() -> list[tuple[Any, str]]:
    """The module-level offline flags of datasets and huggingface_hub. Both libraries read their
    environment variables once, at import: once imported, only these flags switch them."""
    import importlib
    switches: list[tuple[Any, str]] = []
    for module_name, attribute in (("datasets.config", "HF_DATASETS_OFFLINE"), ("datasets.config", "HF_HUB_OFFLINE"),
                                   ("huggingface_hub.constants", "HF_HUB_OFFLINE")):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        if hasattr(module, attribute):
            switches.append((module, attribute))
    try:
        import huggingface_hub
        offline_module = importlib.import_module(huggingface_hub.is_offline_mode.__module__)
        if hasattr(offline_module, "HF_HUB_OFFLINE"):
            switches.append((offline_module, "HF_HUB_OFFLINE"))
    except (ImportError, AttributeError):
        pass
    return switches


@contextmanager
def _offline() -> Iterator[None]:
    """The Hugging Face libraries read the local cache only: nothing downloads at run time, and no
    request waits on a network that is not there (a missing data set fails at once)."""
    saved = {k: os.environ.get(k) for k in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE")}
    os.environ.update({"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"})
    flags = [(module, attribute, getattr(module, attribute)) for module, attribute in _offline_switches()]
    for module, attribute, _ in flags:
        setattr(module, attribute, True)
    try:
        yield
    finally:
        for module, attribute, value in flags:
            setattr(module, attribute, value)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _dataset_rows(table: Any, source: str) -> Iterator[tuple[str, Any]]:
    if isinstance(getattr(table, "column_names", None), dict):  # a DatasetDict: one table per split
        raise DataError(f"{source}: holds several splits ({', '.join(table.keys())}); name one as {source}:SPLIT")
    for index, row in enumerate(table, start=1):
        yield f"{source} row {index}", row


def _source_rows(value: str, cfg: RunConfig, key: str, index: int) -> Iterator[tuple[str, Any]]:
    path = cfg.resolve_path(value)
    folder, _, split = value.rpartition(":")
    if folder and not path.exists() and cfg.resolve_path(folder).is_dir():  # a save_to_disk folder of splits, one named
        datasets = _require_datasets(folder)
        tables = datasets.load_from_disk(str(cfg.resolve_path(folder)))
        if split not in getattr(tables, "keys", lambda: [])():
            raise DataError(f"data.{key}[{index}]: {folder} has no split {split!r}")
        yield from _dataset_rows(tables[split], value)
        return
    if path.is_dir():
        datasets = _require_datasets(str(path))
        try:
            yield from _dataset_rows(datasets.load_from_disk(str(path)), str(path))
        except FileNotFoundError as error:
            raise DataError(f"{path}: not a folder written by datasets' save_to_disk ({error})") from None
        return
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".jsonl":
            yield from _jsonl_rows(path)
        elif suffix == ".json":
            yield from _json_rows(path)
        elif suffix in DATASETS_SUFFIXES:
            datasets = _require_datasets(str(path))
            with _offline():
                table = datasets.load_dataset(DATASETS_SUFFIXES[suffix], data_files=str(path), split="train")
            yield from _dataset_rows(table, str(path))
        else:
            raise DataError(f"data.{key}[{index}]: {path} is a {suffix or 'suffix-less'} file; use .jsonl, .json, "
                            ".parquet, .csv, a save_to_disk folder or a cached data set as name:split")
        return
    match = HUB_SPLIT.match(value)
    if match is None:
        raise DataError(f"data.{key}[{index}]: {path} does not exist (nor is {value!r} a cached data set as name:split)")
    datasets = _require_datasets(value)
    name, split = match.group("name"), match.group("split")
    try:
        with _offline():
            table = datasets.load_dataset(name, split=split)
    except Exception as error:  # noqa: BLE001 - datasets raises many kinds: name the fix
        raise DataError(f"data.{key}[{index}]: {name!r} (split {split!r}) is not in the local Hugging Face cache "
                        f"({type(error).__name__}: {str(error)[:200]}). Nothing downloads at run time: fetch it "
                        f"beforehand with `python -c \"import datasets; datasets.load_dataset('{name}', split='{split}')\"` "
                        "on a machine with internet and the same HF_HOME, or save_to_disk it and name the folder") from None
    yield from _dataset_rows(table, value)


def read_prompts(value: str, cfg: RunConfig, key: str = "train", index: int = 0) -> list[Prompt]:
    prompts = [_prompt(row, where, cfg.data.field) for where, row in _source_rows(value, cfg, key, index)]
    if not prompts:
        raise DataError(f"data.{key}[{index}]: {value} holds no prompts")
    return prompts


@dataclass
class PromptSets:
    train: list[Prompt]
    eval: list[Prompt]

    def first_chat(self) -> Prompt | None:
        return next((p for p in [*self.train, *self.eval] if p.is_chat), None)


def load_prompt_sets(cfg: RunConfig) -> PromptSets:
    train = [p for i, name in enumerate(cfg.data.train) for p in read_prompts(name, cfg, "train", i)]
    if cfg.data.eval:
        held_out = [p for i, name in enumerate(cfg.data.eval) for p in read_prompts(name, cfg, "eval", i)]
        return PromptSets(train, held_out)
    order = list(range(len(train)))
    random.Random(cfg.train.seed).shuffle(order)
    count = max(1, round(len(train) * cfg.data.eval_fraction)) if cfg.data.eval_fraction > 0 else 0
    if count == 0 or len(train) - count < 1:
        raise ConfigError(cfg.source, [ConfigProblem(
            "data.eval_fraction", f"no held-out prompts: give data.eval files or an eval_fraction that leaves both "
            f"sets non-empty ({len(train)} training prompts)", "semantic")])
    held = set(order[:count])
    return PromptSets([p for i, p in enumerate(train) if i not in held], [train[i] for i in order[:count]])


def columns_of(prompts: list[Prompt]) -> dict[str, list[Any]]:
    """The prompts' other columns as lists aligned with them (TRL's reward convention); a column a
    row lacks is None there."""
    names: list[str] = []
    for prompt in prompts:
        names += [name for name in prompt.columns if name not in names]
    return {name: [prompt.columns.get(name) for prompt in prompts] for name in names}


class PromptStream:
    """Endless shuffled passes over the training prompts; its position is part of a checkpoint."""

    def __init__(self, prompts: list[Prompt], seed: int):
        self.prompts = prompts
        self.seed = seed
        self.epoch = 0
        self.offset = 0
        self._order = self._permutation(0)

    def _permutation(self, epoch: int) -> list[int]:
        order = list(range(len(self.prompts)))
        random.Random(self.seed * 1_000_003 + epoch).shuffle(order)
        return order

    def next_batch(self, size: int) -> list[Prompt]:
        batch: list[Prompt] = []
        while len(batch) < size:
            if self.offset >= len(self._order):
                self.epoch += 1
                self.offset = 0
                self._order = self._permutation(self.epoch)
            batch.append(self.prompts[self._order[self.offset]])
            self.offset += 1
        return batch

    def state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "offset": self.offset}

    def restore(self, state: dict[str, int]) -> None:
        self.epoch, self.offset = int(state["epoch"]), int(state["offset"])
        self._order = self._permutation(self.epoch)
