"""The generation engine: `sampling.engine` eager | static | auto.

eager (sequences.sample): one Python iteration per token, a cache that grows by concatenation, and a
host sync per token to see whether every row has ended. Simple; every device; the reference.

static: the shapes of a draw are fixed up front, so that the decode step can be captured once in a
CUDA graph and replayed per token.
- Prompts are left-padded to a bucket (a power of two ≥ 16, at most context − max_new_tokens), so a
  run sees a handful of shapes.
- The KV cache is preallocated for [rows, bucket + max_new_tokens] (the byte GPT's own, transformers'
  StaticCache for Hugging Face models), written in place at `cache_position`; the attention mask
  covers the whole length, future positions masked.
- Tokens are drawn on the device from the same per-row uniforms (sequences.draw_uniforms) by the
  same inverse CDF, so static draws exactly what eager draws, and sharding still does not matter.
- The host looks at "have all rows ended?" every `CHECK_EVERY` tokens only; rows that ended keep
  producing masked padding until then, which changes nothing.
- On CUDA the decode step is captured in a `torch.cuda.CUDAGraph` per (model, rows, bucket) and
  replayed; the first replay is checked against the uncaptured step, and a mismatch or a capture
  failure turns graphs off for that model with the reason in trainer.log. Not under FSDP (its
  all-gathers cannot be captured) and not on CPU: there the same static step runs uncaptured.
A model the static path cannot serve (an architecture StaticCache does not support) falls back to
eager, with the reason in trainer.log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Optional

import torch

from ..models.base import CausalLM
from .padding import left_pad
from .sequences import Completions, SamplingTransform, assemble_completions, log_prob_dtype, sample, take_token

log = logging.getLogger("bond_trainer")

EngineName = Literal["eager", "static", "auto"]
CHECK_EVERY = 8          # tokens between host checks of "all rows ended" (static engine)
MIN_BUCKET = 16
MAX_GRAPHS = 8           # captured decode steps kept per engine (each holds its own cache)


def resolve_engine(name: EngineName, device: torch.device) -> Literal["eager", "static"]:
    """auto: static on CUDA (where the launch-bound token loop pays for graphs), eager elsewhere."""
    if name == "auto":
        return "static" if device.type == "cuda" else "eager"
    return name


def prompt_bucket(longest: int, room: int) -> int:
    """The padded prompt length: the smallest power of two ≥ longest (at least MIN_BUCKET), capped
    at `room` (context − max_new_tokens), never below the longest prompt."""
    bucket = MIN_BUCKET
    while bucket < longest:
        bucket *= 2
    return max(longest, min(bucket, room))


@dataclass
class _Slot:
    """What one (model, rows, bucket) shape keeps between draws: its cache, its mask buffer and its
    decode step (a CUDA graph, once captured, reads exactly these buffers)."""
    cache: Any
    mask: torch.Tensor                                   # [B, bucket + max_new_tokens]
    decode: Callable[[torch.Tensor, int], torch.Tensor]  # (token [B, 1], position) → logits [B, V]


@dataclass
class SamplingEngine:
    """Draws completions with the configured engine; remembers, per model, why static or graphs
    were turned off (said once in trainer.log)."""
    name: EngineName
    device: torch.device
    graphs_allowed: bool = True
    check_every: int = CHECK_EVERY
    _eager_reason: dict[int, str] = field(default_factory=dict)
    _served: set[int] = field(default_factory=set)  # models the static engine has drawn for
    _graphs_off: dict[int, str] = field(default_factory=dict)
    _slots: dict[tuple[Any, ...], _Slot] = field(default_factory=dict)

    @property
    def engine(self) -> Literal["eager", "static"]:
        return resolve_engine(self.name, self.device)

    def sample(self, model: CausalLM, prompt_ids: list[list[int]], max_new_tokens: int, uniforms: torch.Tensor,
               transform: SamplingTransform, autocast_dtype: Optional[torch.dtype],
               all_finished: Callable[[bool], bool] = lambda done: done) -> Completions:
        key = id(model)
        if self.engine == "eager" or key in self._eager_reason:
            return sample(model, prompt_ids, max_new_tokens, uniforms, transform, autocast_dtype, all_finished)
        try:
            drawn = self._sample_static(model, prompt_ids, max_new_tokens, uniforms, transform, autocast_dtype, all_finished)
        except Exception as reason:  # noqa: BLE001 - see below
            # A model the static path cannot serve fails on its first draw (an architecture whose
            # attention refuses a preallocated cache, say): it samples eagerly from then on, with the
            # reason in trainer.log. A draw is a pure function, so nothing is lost. A model that was
            # served before and fails now is a real error.
            if key in self._served:
                raise
            self._eager_reason[key] = f"{type(reason).__name__}: {reason}" if not isinstance(reason, NotImplementedError) else str(reason)
            log.warning("sampling.engine static: %s; this model samples with the eager engine", self._eager_reason[key])
            return sample(model, prompt_ids, max_new_tokens, uniforms, transform, autocast_dtype, all_finished)
        self._served.add(key)
        return drawn

    # --- the static engine ---------------------------------------------------------------------
    @torch.no_grad()
    def _sample_static(self, model: CausalLM, prompt_ids: list[list[int]], max_new_tokens: int, uniforms: torch.Tensor,
                       transform: SamplingTransform, autocast_dtype: Optional[torch.dtype],
                       all_finished: Callable[[bool], bool]) -> Completions:
        if uniforms.shape[0] != len(prompt_ids) or uniforms.shape[1] < max_new_tokens:
            raise ValueError(f"uniforms {tuple(uniforms.shape)} do not cover {len(prompt_ids)} rows of {max_new_tokens} tokens")
        static_cache = getattr(model, "static_cache", None)
        if not callable(static_cache):
            raise NotImplementedError(f"{type(model).__name__} has no static cache")
        module = model.module
        was_training = module.training
        module.eval()
        device = next(module.parameters()).device
        eos, pad = model.tokenizer.eos_id, model.tokenizer.pad_id
        bucket = prompt_bucket(max(len(r) for r in prompt_ids), model.context_length - max_new_tokens)
        # Left padding up to the bucket: the same prompts, masked the same way, in a shape seen before.
        ids, prompt_mask = left_pad([[pad] * (bucket - len(r)) + r for r in prompt_ids], pad, device)
        prompt_mask.zero_()
        for i, row in enumerate(prompt_ids):
            prompt_mask[i, bucket - len(row):] = 1
        batch, length = len(prompt_ids), bucket + max_new_tokens
        dtype = autocast_dtype or next(module.parameters()).dtype
        on_device = uniforms[:, :max_new_tokens].to(device)
        finished = torch.zeros(batch, dtype=torch.bool, device=device)
        generated = torch.full((batch, max_new_tokens), pad, dtype=torch.long, device=device)
        lengths = torch.zeros(batch, dtype=torch.long, device=device)
        logp = torch.zeros(batch, dtype=log_prob_dtype(device), device=device)

        def autocast() -> Any:
            return torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None)

        try:
            slot = self._slot(model, batch, bucket, length, dtype, device, autocast)
            # transformers' StaticCache: some architectures take the write position from what the
            # cache holds rather than from cache_position, so a reused one starts empty.
            reset = getattr(slot.cache, "reset", None)
            if callable(reset):
                reset()
            mask = slot.mask
            mask.zero_()
            mask[:, :bucket] = prompt_mask
            with autocast():
                logits, _ = model.forward(ids, mask, slot.cache, cache_position=torch.arange(bucket, device=device), keep_last=1)
            logits = logits[:, -1, :]
            for position in range(max_new_tokens):
                token = take_token(logits, transform, on_device[:, position], position, finished, generated, lengths, pad, eos, logp)
                last = position == max_new_tokens - 1
                # The host waits for the device only every few tokens (and at the end).
                if (last or (position + 1) % self.check_every == 0) and all_finished(bool(finished.all())):
                    break
                if last:
                    break
                # Rows that ended before this token attend to none of what follows (eager's mask).
                mask[:, bucket + position] = (~finished | (token == eos)).long()
                logits = slot.decode(token[:, None], bucket + position)
        finally:
            module.train(was_training)
        return assemble_completions(model, prompt_ids, generated, lengths, logp)

    def _slot(self, model: CausalLM, batch: int, bucket: int, length: int, dtype: torch.dtype, device: torch.device,
              autocast: Callable[[], Any]) -> _Slot:
        """The buffers and decode step of this shape, made on first use (the oldest dropped past MAX_GRAPHS)."""
        key = (id(model), batch, bucket, length, dtype)
        if key in self._slots:
            return self._slots[key]
        if len(self._slots) >= MAX_GRAPHS:
            del self._slots[next(iter(self._slots))]
        cache = model.static_cache(batch, length, dtype)  # type: ignore[attr-defined]
        mask = torch.zeros((batch, length), dtype=torch.long, device=device)

        def plain(token: torch.Tensor, position: int) -> torch.Tensor:
            with autocast():
                logits, _ = model.forward(token, mask, cache, cache_position=torch.tensor([position], device=device))
            return logits[:, -1, :]

        decode = plain
        if device.type == "cuda" and self.graphs_allowed and id(model) not in self._graphs_off:
            decode = self._graphed(model, batch, mask, cache, plain, autocast)
        slot = _Slot(cache, mask, decode)
        self._slots[key] = slot
        return slot

    def _graphed(self, model: CausalLM, batch: int, mask: torch.Tensor, cache: Any,
                 plain: Callable[[torch.Tensor, int], torch.Tensor], autocast: Callable[[], Any]
                 ) -> Callable[[torch.Tensor, int], torch.Tensor]:
        """The decode step as a CUDA graph over the slot's static buffers, captured at its first use
        and checked once against the plain step."""
        device = mask.device
        token_buffer = torch.zeros((batch, 1), dtype=torch.long, device=device)
        position_buffer = torch.zeros(1, dtype=torch.long, device=device)
        state: dict[str, Any] = {}

        def step() -> torch.Tensor:
            with autocast():
                logits, _ = model.forward(token_buffer, mask, cache, cache_position=position_buffer)
            return logits[:, -1, :]

        def decode(token: torch.Tensor, position: int) -> torch.Tensor:
            if id(model) in self._graphs_off:
                return plain(token, position)
            token_buffer.copy_(token)
            position_buffer.fill_(position)
            if "graph" in state:
                state["graph"].replay()
                return state["logits"].clone()
            try:
                expected = plain(token, position)  # the reference for the check below (an idempotent write)
                stream = torch.cuda.Stream()
                stream.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(stream):
                    step()  # warm-up outside the capture
                torch.cuda.current_stream().wait_stream(stream)
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph):
                    logits = step()
                graph.replay()
                error = float((logits.float() - expected.float()).abs().max())
                scale = float(expected.float().abs().max()) or 1.0
                if not error <= 1e-3 * scale:
                    raise RuntimeError(f"the captured step's logits differ from the plain step's by {error:.3g}")
                state.update(graph=graph, logits=logits)
                return logits.clone()
            except Exception as problem:  # noqa: BLE001 - any capture problem: run uncaptured, say why
                self._graphs_off[id(model)] = str(problem)
                log.warning("sampling.engine static: CUDA graphs off for %s (%s); decoding uncaptured", model.name, problem)
                return plain(token, position)

        return decode
