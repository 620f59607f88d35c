"""Rewards r(prompt, completion), batched. Built-ins are pure functions of the text so that the
TypeScript playground can implement the same ones and prove equality on shared fixtures.

Any exception or non-finite value fails the run with the reward's name and the offending input.
"""

from __future__ import annotations

import importlib.util
import inspect
import math
import re
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import torch

from .config import RewardConfig, RunConfig, component_name
from .data import prompt_text

# fn(prompts, completions, **columns): prompts as the data holds them (text or chat messages), and
# the rows' other columns as keyword lists aligned with them (TRL's convention).
RewardFn = Callable[..., Sequence[float]]
Columns = dict[str, list[Any]]

# Word lists for the demo's sentiment reward. Lower-case; matched as whole words.
POSITIVE_WORDS = frozenset("""
amazing awesome beautiful best brilliant charming cheerful clean cozy delicious delightful enjoy enjoyed
excellent fantastic fine fresh friendly fun generous glad good gorgeous great happy helpful impressive
kind love loved lovely magnificent marvelous nice perfect pleasant polite recommend remarkable satisfying
smooth splendid stunning superb sweet tasty terrific thrilling warm wonderful
""".split())
NEGATIVE_WORDS = frozenset("""
annoying awful bad bland boring broken cold dirty disappointing disgusting dreadful dull hate hated
horrible lousy mediocre mess messy nasty noisy poor rude sad slow stale terrible tired ugly unpleasant
upset waste weak worse worst wrong
""".split())

WORD = re.compile(r"[a-z']+")


def sentiment_score(completion: str) -> float:
    words = WORD.findall(completion.lower())
    return float(sum(w in POSITIVE_WORDS for w in words) - sum(w in NEGATIVE_WORDS for w in words))


def length_score(completion: str, target_length: int) -> float:
    return -abs(len(completion) - target_length) / target_length


def keyword_score(completion: str, keywords: Sequence[str], pattern: re.Pattern[str] | None) -> float:
    total = 0
    if keywords:
        words = WORD.findall(completion.lower())
        wanted = {k.lower() for k in keywords}
        total += sum(w in wanted for w in words)
    if pattern is not None:
        total += sum(1 for _ in pattern.finditer(completion))
    return float(total)


class RewardError(Exception):
    """A reward raised, returned the wrong shape, or returned a non-finite value. Fails the run."""


# Beyond this a reward's batch mean or a REINFORCE return overflows a double: refused, naming the input.
MAX_REWARD_MAGNITUDE = 1e30


class RewardTimeout(RewardError):
    """A python reward did not return within reward.timeout_s (error type timeout)."""


class _Alarm(BaseException):
    """Raised by SIGALRM inside a reward call; a BaseException so the user's `except Exception`
    cannot swallow it."""


def with_timeout(fn: RewardFn, seconds: float, name: str) -> RewardFn:
    """`fn` that may run at most `seconds` per call (SIGALRM: POSIX, main thread; elsewhere as is)."""
    if not hasattr(signal, "setitimer"):
        return fn

    def timed(prompts: list[Any], completions: list[str], **columns: list[Any]) -> Any:
        if threading.current_thread() is not threading.main_thread():
            return fn(prompts, completions, **columns)

        def alarm(_signum: int, _frame: Any) -> None:
            raise _Alarm()

        previous = signal.signal(signal.SIGALRM, alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            return fn(prompts, completions, **columns)
        except _Alarm:
            raise RewardTimeout(f"reward {name} did not return within reward.timeout_s = {seconds:g} s on a batch of "
                                f"{len(completions)} completions; make it faster, or raise reward.timeout_s") from None
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    timed.__wrapped__ = fn  # type: ignore[attr-defined]  (accepted_columns reads the user's signature)
    return timed


# What user code can throw at us: an exit (sys.exit, exit()) or a KeyboardInterrupt it raised itself
# fails the run with the reward named, like any exception (the trainer's own Ctrl-C is a signal
# handler's stop request, never a KeyboardInterrupt).
USER_CODE_ERRORS = (Exception, SystemExit, KeyboardInterrupt)


def user_error_text(error: BaseException) -> str:
    if isinstance(error, SystemExit):
        return f"called sys.exit({error.code!r})" if error.code is not None else "called sys.exit()"
    return f"raised {type(error).__name__}: {error}"


def accepted_columns(fn: Callable[..., Any]) -> Optional[set[str]]:
    """The column names a reward function takes as keywords (None: any, it has **kwargs)."""
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return set()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return {p.name for p in parameters[2:] if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)}


@dataclass
class Reward:
    name: str
    fn: RewardFn
    # Components of a composite reward, by metric name: their last values (unweighted), per row.
    parts: dict[str, list[float]] = field(default_factory=dict)

    def _columns(self, columns: Optional[Columns]) -> Columns:
        accepted = accepted_columns(self.fn)
        return {k: v for k, v in (columns or {}).items() if accepted is None or k in accepted}

    def __call__(self, prompts: list[Any], completions: list[str], columns: Optional[Columns] = None) -> list[float]:
        if not completions:
            return []
        passed = self._columns(columns)
        try:
            values = list(self.fn(prompts, completions, **passed))
        except RewardError:
            raise
        except USER_CODE_ERRORS as error:  # user code: report which input broke it
            raise RewardError(self._locate_failure(prompts, completions, passed, error)) from error
        if len(values) != len(completions):
            raise RewardError(f"reward {self.name} returned {len(values)} values for {len(completions)} completions")
        out: list[float] = []
        for index, value in enumerate(values):
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise RewardError(f"reward {self.name} returned {value!r} (not a number) for "
                                  f"{_show(prompts[index], completions[index])}") from None
            if not math.isfinite(number) or abs(number) > MAX_REWARD_MAGNITUDE:
                raise RewardError(f"reward {self.name} returned {number} for {_show(prompts[index], completions[index])}; "
                                  f"rewards must be finite numbers within ±{MAX_REWARD_MAGNITUDE:g} (larger ones overflow "
                                  "the batch means and the losses)")
            out.append(number)
        return out

    def _locate_failure(self, prompts: list[Any], completions: list[str], columns: Columns, error: BaseException) -> str:
        # Rerun one at a time to name the input that breaks it.
        for index, (prompt, completion) in enumerate(zip(prompts, completions)):
            try:
                self.fn([prompt], [completion], **{k: v[index:index + 1] for k, v in columns.items()})
            except USER_CODE_ERRORS as single:
                return f"reward {self.name} {user_error_text(single)} for {_show(prompt, completion)}"
        return f"reward {self.name} {user_error_text(error)} on a batch of {len(completions)}"


def _show(prompt: Any, completion: str) -> str:
    return f"prompt {prompt_text(prompt, ' / ')[:80]!r} and completion {completion[:120]!r}"


def load_user_function(spec: str, base_dir: Path) -> RewardFn:
    file_part, function_name = spec.rsplit(":", 1)
    path = Path(file_part)
    path = path if path.is_absolute() else (base_dir / path).resolve()
    module_spec = importlib.util.spec_from_file_location(f"bond_user_reward_{abs(hash(str(path)))}", path)
    if module_spec is None or module_spec.loader is None:
        raise RewardError(f"reward.function: cannot import {path}")
    module = importlib.util.module_from_spec(module_spec)
    # The reward's own folder, and only it, becomes importable (for its helper modules); appended, so
    # that it can never shadow torch or the trainer.
    if str(path.parent) not in sys.path:
        sys.path.append(str(path.parent))
    try:
        module_spec.loader.exec_module(module)
    except USER_CODE_ERRORS as error:
        raise RewardError(f"reward.function: importing {path} {user_error_text(error)}") from error
    fn = getattr(module, function_name, None)
    if not callable(fn):
        raise RewardError(f"reward.function: {path} has no function {function_name!r}")
    return fn  # type: ignore[no-any-return]


class HFRewardModel:
    """A Hugging Face sequence-classification model whose single logit is the reward.

    Runs batched, in eval mode, without gradients, on its own device and dtype, with its own
    tokenizer: the policy's tokens are decoded to text first, so the vocabularies may differ.
    """

    def __init__(self, cfg: RunConfig, rc: RewardConfig, training_device: torch.device):
        from ..models.hf import ModelLoadError, load_sequence_classifier, torch_dtype
        assert rc.model is not None  # enforced by config validation
        if rc.device == "cuda" and not torch.cuda.is_available():
            raise ModelLoadError("reward.device: cuda was requested but torch sees no CUDA device; use auto or cpu")
        self.device = training_device if rc.device == "auto" else torch.device(rc.device)
        module, self.tokenizer, self.location = load_sequence_classifier(
            rc.model, cfg.base_dir, torch_dtype(rc.dtype, self.device), "reward.model")
        self.module = module.to(self.device).eval().requires_grad_(False)
        if self.tokenizer.pad_token_id is None:
            # Batching needs a pad token; padding is masked, so EOS serves.
            self.tokenizer.pad_token = self.tokenizer.eos_token
            self.module.config.pad_token_id = self.tokenizer.pad_token_id
        if rc.chat_template and not getattr(self.tokenizer, "chat_template", None):
            raise ModelLoadError("reward.chat_template: the reward model's tokenizer has no chat template; "
                                 "set chat_template to false and describe the text with reward.template")
        # The completion matters most: a text too long loses its beginning.
        self.tokenizer.truncation_side = "left"
        self.template, self.chat = rc.template, rc.chat_template
        self.batch_size, self.max_length = rc.batch_size, rc.max_length

    def text(self, prompt: Any, completion: str, row: dict[str, Any]) -> str:
        if self.chat:
            turns = prompt if isinstance(prompt, list) else [{"role": "user", "content": prompt}]
            return str(self.tokenizer.apply_chat_template([*turns, {"role": "assistant", "content": completion}], tokenize=False))
        text = self.template.replace("{prompt}", prompt_text(prompt)).replace("{completion}", completion)
        for name, value in row.items():  # the row's other columns, as {column}
            text = text.replace("{" + name + "}", "" if value is None else str(value))
        return text

    @torch.no_grad()
    def __call__(self, prompts: list[Any], completions: list[str], **columns: list[Any]) -> list[float]:
        texts = [self.text(p, c, {k: v[i] for k, v in columns.items()}) for i, (p, c) in enumerate(zip(prompts, completions))]
        scores: list[float] = []
        for start in range(0, len(texts), self.batch_size):
            batch = self.tokenizer(texts[start:start + self.batch_size], padding=True, truncation=True,
                                   max_length=self.max_length, return_tensors="pt").to(self.device)
            logits = self.module(**batch).logits
            scores.extend(logits[:, 0].float().cpu().tolist())
        return scores


def build_component(cfg: RunConfig, rc: RewardConfig, device: Optional[torch.device] = None) -> Reward:
    if rc.type == "hf":
        model = HFRewardModel(cfg, rc, device or torch.device("cpu"))
        return Reward(f"hf({Path(model.location).name})", model)
    if rc.type == "sentiment":
        return Reward("sentiment", lambda _p, cs, **_: [sentiment_score(c) for c in cs])
    if rc.type == "length":
        target = rc.target_length
        return Reward(f"length(target={target})", lambda _p, cs, **_: [length_score(c, target) for c in cs])
    if rc.type == "keyword":
        pattern = re.compile(rc.pattern) if rc.pattern else None
        keywords = list(rc.keywords)
        return Reward("keyword", lambda _p, cs, **_: [keyword_score(c, keywords, pattern) for c in cs])
    assert rc.function is not None  # enforced by config validation
    return Reward(rc.function, with_timeout(load_user_function(rc.function, cfg.base_dir), rc.timeout_s, rc.function))


def build_reward(cfg: RunConfig, device: Optional[torch.device] = None) -> Reward:
    """The run's reward: one function, or the weighted sum of the config's components (each checked
    as a reward of its own, its values kept in `parts` for the metrics)."""
    if not cfg.reward.components:
        return build_component(cfg, cfg.reward, device)
    components = [(component_name(rc), rc.weight, build_component(cfg, rc, device)) for rc in cfg.reward.components]
    composite = Reward(" + ".join(f"{w:g}·{name}" for name, w, _ in components), lambda _p, cs, **_: [])

    def total(prompts: list[Any], completions: list[str], **columns: list[Any]) -> list[float]:
        values = {name: reward(prompts, completions, columns) for name, _, reward in components}
        composite.parts = values
        return [sum(w * values[name][i] for name, w, _ in components) for i in range(len(completions))]

    composite.fn = total
    return composite
