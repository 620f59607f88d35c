"""Sampling with a KV cache and sequence log-probabilities, for any `CausalLM`.

Layout of a scored batch: the prompt left-padded to a common length, then the completion
right-padded. Only completion tokens count in log-probs; a completion ends with EOS unless it was
cut at max_new_tokens (then it is `truncated` and carries no EOS).

π is the sampling distribution: temperature, top-k and top-p transform the model's next-token
logits both when tokens are drawn (`sample`) and when log-probs are computed (`score`), so every
log-prob that enters a loss, an estimator or a displayed number is of the distribution that was
sampled. A token outside a model's top-k/top-p set has probability 0 under that model; its
log-prob is floored at OUTSIDE_SUPPORT_LOGP (no gradient through it), see docs/algorithms.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from ..models.base import CausalLM
from .logprobs import SelectedLogProbs, kernel_dtype, normalised_scores, scaled
from .padding import left_pad
from .shared_prefix import forward_with_shared_prompts, shares_prompts


@dataclass
class Completions:
    """Completions of a batch of prompts; row i continues prompt_ids[i]."""
    prompt_ids: list[list[int]]
    completion_ids: list[list[int]]  # includes the final EOS when the model produced one
    truncated: list[bool]
    texts: list[str]
    # log π(y) of each row as its draw computed it (float64 [B], CPU; None: not drawn here), and who
    # drew it with which weights (training/sampler.py reuses it in place of a rescore).
    sampled_logp: Optional[torch.Tensor] = None
    drawn_by: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.drawn_by) != len(self.completion_ids):
            self.drawn_by = [None] * len(self.completion_ids)

    def __len__(self) -> int:
        return len(self.completion_ids)

    @property
    def generated_tokens(self) -> int:
        return sum(len(c) for c in self.completion_ids)

    def widths(self) -> tuple[int, int]:
        """The longest prompt and the longest completion (at least 1): a scored batch's shape."""
        return max(len(p) for p in self.prompt_ids), max(1, max(len(c) for c in self.completion_ids))

    def select(self, rows: list[int]) -> "Completions":
        sampled = self.sampled_logp[rows] if self.sampled_logp is not None else None
        return Completions([self.prompt_ids[r] for r in rows], [self.completion_ids[r] for r in rows],
                           [self.truncated[r] for r in rows], [self.texts[r] for r in rows], sampled,
                           [self.drawn_by[r] for r in rows])

    @staticmethod
    def concat(parts: list["Completions"]) -> "Completions":
        sampled = None
        if parts and all(c.sampled_logp is not None for c in parts):
            sampled = torch.cat([c.sampled_logp for c in parts if c.sampled_logp is not None])
        return Completions([p for c in parts for p in c.prompt_ids], [p for c in parts for p in c.completion_ids],
                           [t for c in parts for t in c.truncated], [t for c in parts for t in c.texts], sampled,
                           [d for c in parts for d in c.drawn_by])


def encode_prompts(model: CausalLM, prompts: list[Any], max_new_tokens: int) -> list[list[int]]:
    """Tokenise prompts (text, or chat messages through the tokenizer's chat template), keeping the
    last tokens of a prompt too long to leave room for the completion."""
    room = model.context_length - max_new_tokens
    if room < 1:
        raise ValueError(f"sampling.max_new_tokens ({max_new_tokens}) leaves no room for a prompt in the "
                         f"model's context of {model.context_length} tokens")

    def encode(prompt: Any) -> list[int]:
        if isinstance(prompt, list):
            return model.tokenizer.encode_chat(prompt)  # type: ignore[attr-defined]
        return model.tokenizer.encode(prompt)
    return [encode(p)[-room:] or [model.tokenizer.eos_id] for p in prompts]


# A token that a model's top-k/top-p filter excludes has log-prob −∞ under it; scores floor it here
# so that a loss or a KL estimate stays finite (e^−30 ≈ 1e−13: far below any kept token).
OUTSIDE_SUPPORT_LOGP = -30.0


@dataclass(frozen=True)
class SamplingTransform:
    """How next-token logits become π: divided by the temperature, then top-k, then nucleus (top-p)."""
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0

    @property
    def identity(self) -> bool:
        return self.temperature == 1.0 and self.top_k <= 0 and self.top_p >= 1.0

    @property
    def truncates(self) -> bool:
        return self.top_k > 0 or self.top_p < 1.0

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        """Transformed logits, float32, any leading shape [..., V]; excluded tokens are −∞."""
        shape = logits.shape
        flat = filter_logits(logits.reshape(-1, shape[-1]), self.temperature, self.top_k, self.top_p)
        return flat.view(shape)


def filter_logits(logits: torch.Tensor, temperature: float, top_k: int, top_p: float) -> torch.Tensor:
    """Temperature, top-k and nucleus filtering of next-token logits [B, V] (float32; the tensor
    itself, not a copy, when it is float32 and nothing applies)."""
    logits = scaled(logits, temperature) if logits.dtype != torch.float64 else logits.float() / temperature
    if 0 < top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        # Drop a token when the tokens ranked above it already hold top_p; the first always stays.
        drop_sorted = (cumulative - sorted_logits.softmax(dim=-1)) >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def draw_uniforms(generator: torch.Generator, rows: int, max_new_tokens: int) -> torch.Tensor:
    """The random numbers of a whole draw, [rows, max_new_tokens], from a CPU generator.

    Drawn up front for every row of the global batch, so that a row's tokens depend on its own
    numbers only: a batch split across ranks, chunks or devices samples exactly what one batch would.
    """
    return torch.rand((rows, max_new_tokens), generator=generator, dtype=torch.float64)


def inverse_cdf(probs: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
    """The token whose cumulative-probability interval holds u: an exact draw from probs [B, V]."""
    dtype = torch.float32 if probs.device.type == "mps" else torch.float64  # MPS has no float64
    cdf = probs.to(dtype).cumsum(dim=-1)
    target = uniforms.to(cdf.device, dtype)[:, None] * cdf[:, -1:]
    # Token i holds [cdf[i-1], cdf[i]); a token filtered to probability 0 holds an empty interval.
    token = (cdf <= target).sum(dim=-1)
    # u rounded up to 1 would run past the end: take the last token with mass instead.
    positions = torch.arange(probs.shape[-1], device=probs.device)
    last_with_mass = torch.where(probs > 0, positions, torch.zeros_like(positions)).max(dim=-1).values
    return torch.minimum(token, last_with_mass)


@torch.no_grad()
def sample(model: CausalLM, prompt_ids: list[list[int]], max_new_tokens: int, uniforms: torch.Tensor,
           transform: SamplingTransform = SamplingTransform(),
           autocast_dtype: Optional[torch.dtype] = None,
           all_finished: Callable[[bool], bool] = lambda done: done) -> Completions:
    """Sample one completion per row of prompt_ids, all rows in one batch, reusing the KV cache.

    `uniforms` [rows, ≥ max_new_tokens] (see draw_uniforms) drive the draws by inverse CDF.
    `all_finished` decides when the loop may end early; with sharded weights (FSDP) every rank must
    run the same number of forwards, so it agrees with the other ranks."""
    if uniforms.shape[0] != len(prompt_ids) or uniforms.shape[1] < max_new_tokens:
        raise ValueError(f"uniforms {tuple(uniforms.shape)} do not cover {len(prompt_ids)} rows of {max_new_tokens} tokens")
    module = model.module
    was_training = module.training
    module.eval()
    device = next(module.parameters()).device
    eos, pad = model.tokenizer.eos_id, model.tokenizer.pad_id
    ids, mask = left_pad(prompt_ids, pad, device)
    batch = ids.shape[0]
    finished = torch.zeros(batch, dtype=torch.bool, device=device)
    generated = torch.full((batch, max_new_tokens), pad, dtype=torch.long, device=device)
    lengths = torch.zeros(batch, dtype=torch.long, device=device)
    logp = torch.zeros(batch, dtype=log_prob_dtype(device), device=device)
    cache = None
    step_input = ids
    try:
        for position in range(max_new_tokens):
            with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
                logits, cache = model.forward(step_input, mask, cache, keep_last=1)
            token = take_token(logits[:, -1, :], transform, uniforms[:, position], position, finished, generated, lengths,
                               pad, eos, logp)
            if all_finished(bool(finished.all())):
                break
            step_input = token[:, None]
            mask = torch.cat([mask, (~finished | (token == eos)).long()[:, None]], dim=1)
    finally:
        module.train(was_training)
    return assemble_completions(model, prompt_ids, generated, lengths, logp)


def log_prob_dtype(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64


def take_token(logits: torch.Tensor, transform: SamplingTransform, uniforms: torch.Tensor, position: int,
               finished: torch.Tensor, generated: torch.Tensor, lengths: torch.Tensor, pad: int, eos: int,
               logp: torch.Tensor) -> torch.Tensor:
    """One decoding step's draw, the same for every engine: the token of each row by inverse CDF of
    π (ended rows get padding), written into `generated`, `lengths` and `finished` in place, and
    its log π added to the row's `logp` (what a rescore of the row would compute)."""
    probs = transform(logits).softmax(dim=-1)
    token = inverse_cdf(probs, uniforms)
    drawn = probs.gather(1, token[:, None]).squeeze(1)
    logp += torch.where(finished, torch.zeros_like(drawn), drawn.log()).to(logp.dtype)
    token = torch.where(finished, torch.full_like(token, pad), token)
    generated[:, position] = token
    lengths += (~finished).long()
    finished |= token == eos
    return token


def assemble_completions(model: CausalLM, prompt_ids: list[list[int]], generated: torch.Tensor,
                         lengths: torch.Tensor, logp: Optional[torch.Tensor] = None) -> Completions:
    """Completions from a draw's token grid [B, max_new_tokens], per-row lengths and log-probs."""
    eos = model.tokenizer.eos_id
    completion_ids: list[list[int]] = []
    truncated: list[bool] = []
    for row, length in zip(generated.tolist(), lengths.tolist()):
        tokens = row[:length]
        completion_ids.append(tokens)
        truncated.append(not tokens or tokens[-1] != eos)
    texts = [model.tokenizer.decode([t for t in c if t != eos]) for c in completion_ids]
    sampled = logp.detach().double().cpu() if logp is not None else None
    return Completions(prompt_ids, completion_ids, truncated, texts, sampled)


SCORE_CHUNK = 64  # completion positions scored at a time under top-k/top-p (bounds the float32 [B, chunk, V] tensors)
def _filtered_token_scores(logits: torch.Tensor, targets: torch.Tensor, transform: SamplingTransform,
                           with_entropy: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token log π(target) under a truncating transform (top-k/top-p) [B, c], and the entropy of
    π [B, c] (detached; zeros unless asked for), from logits [B, c, V] at the model's dtype."""
    log_probs = F.log_softmax(transform(logits), dim=-1)
    token_logp = log_probs.gather(2, targets[:, :, None]).squeeze(2)
    # Outside this model's top-k/top-p set: floored, and no gradient (the -inf has none to give).
    token_logp = torch.where(torch.isfinite(token_logp), token_logp, torch.full_like(token_logp, OUTSIDE_SUPPORT_LOGP))
    with torch.no_grad():
        if not with_entropy:
            return token_logp, torch.zeros_like(token_logp)
        probs = log_probs.exp()
        # 0·log 0 = 0 for the tokens the filter removed.
        entropy = -(probs * log_probs.masked_fill(probs == 0, 0.0)).sum(dim=-1)
    return token_logp, entropy


def token_scores(logits: torch.Tensor, targets: torch.Tensor, transform: SamplingTransform,
                 with_entropy: bool = False, entropy_out: Optional[torch.Tensor] = None,
                 ) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """log π(target) [B, T] under the sampling transform (differentiable when grad is on) and, when
    asked, π's entropy [B, T] (detached), from next-token logits [B, T, V] at the model's dtype.

    A temperature alone: `SelectedLogProbs` (logsumexp and gather; its own backward, which also
    writes the entropy: with gradient on, the entropy tensor is filled when the backward runs). With
    top-k or top-p, π is renormalised over a per-position set: the filtered log-softmax, SCORE_CHUNK
    positions at a time, each chunk recomputed in the backward (checkpointed) instead of keeping it.
    `entropy_out`: where the gradient path's backward writes the entropy (a view of a larger tensor
    when the positions come in parts); a new tensor when None."""
    if not transform.truncates:
        if torch.is_grad_enabled() and logits.requires_grad:
            if not with_entropy:
                entropy_out = None
            elif entropy_out is None:
                entropy_out = torch.full(targets.shape, float("nan"), dtype=kernel_dtype(logits), device=logits.device)
            return SelectedLogProbs.apply(logits, targets, transform.temperature, entropy_out), entropy_out
        _, token_logp, maybe_entropy = normalised_scores(logits, targets, transform.temperature, with_entropy)
        return token_logp, maybe_entropy
    pieces = []
    for begin in range(0, logits.shape[1], SCORE_CHUNK):
        chunk, chunk_targets = logits[:, begin:begin + SCORE_CHUNK, :], targets[:, begin:begin + SCORE_CHUNK]
        if torch.is_grad_enabled() and chunk.requires_grad:
            pieces.append(checkpoint(_filtered_token_scores, chunk, chunk_targets, transform, with_entropy, use_reentrant=False))
        else:
            pieces.append(_filtered_token_scores(chunk, chunk_targets, transform, with_entropy))
    token_logp = torch.cat([p[0] for p in pieces], dim=1)
    return token_logp, torch.cat([p[1] for p in pieces], dim=1) if with_entropy else None


@dataclass
class SequenceScores:
    logp: torch.Tensor                     # [B] sum of completion-token log-probs (differentiable when grad is on)
    tokens: torch.Tensor                   # [B] completion length in tokens
    row_entropy: Optional[torch.Tensor] = None
    # [B, T] per-token entropy and its mask, when it is written later (by the backward, see token_scores)
    token_entropy: Optional[tuple[torch.Tensor, torch.Tensor]] = None

    @property
    def entropy(self) -> Optional[torch.Tensor]:
        """[B] mean per-token entropy of π (detached), when asked for; NaN for a gradient forward
        whose backward has not run yet."""
        if self.row_entropy is not None or self.token_entropy is None:
            return self.row_entropy
        per_token, weights = self.token_entropy
        return (per_token * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)


def score(model: CausalLM, completions: Completions, autocast_dtype: Optional[torch.dtype] = None,
          transform: SamplingTransform = SamplingTransform(), with_entropy: bool = False,
          pad_to: Optional[tuple[int, int]] = None) -> SequenceScores:
    """Sequence log-probs of completions given prompts under the sampling transform (π as sampled);
    gradient flows when enabled by the caller. Runs the module as it is (the caller picks the mode;
    dropout is off in every role, see models/dropout.py). `with_entropy`: π's mean entropy per row as
    well (a metric, without gradient: from this forward, or with gradient on, from its backward). `pad_to` (prompt, completion
    widths): pad to these instead of the rows' own longest, so that a subset of a batch is scored in
    the very shape the whole batch was (equal weights then give bit-equal log-probs). A single
    process runs each distinct prompt's forward once (shared_prefix.py)."""
    device = next(model.module.parameters()).device
    pad = model.tokenizer.pad_id
    prompt_width, width = pad_to if pad_to is not None else completions.widths()
    batch = len(completions)
    completion = torch.full((batch, width), pad, dtype=torch.long)
    completion_mask = torch.zeros((batch, width), dtype=torch.long)
    for i, row in enumerate(completions.completion_ids):
        if row:
            completion[i, :len(row)] = torch.tensor(row, dtype=torch.long)
            completion_mask[i, :len(row)] = 1
    completion, completion_mask = completion.to(device), completion_mask.to(device)
    with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
        parts = (forward_with_shared_prompts(model, completions.prompt_ids, prompt_width, completion, completion_mask)
                 if shares_prompts() else None)
        if parts is None:
            prompt_ids, prompt_mask = left_pad(completions.prompt_ids, pad, device, prompt_width)
            # The completion's last token predicts nothing that is scored: the input stops before it.
            ids = torch.cat([prompt_ids, completion[:, :-1]], dim=1)
            mask = torch.cat([prompt_mask, completion_mask[:, :-1]], dim=1)
            # Only the last C positions' logits: position t predicts token t+1, so the completion's C
            # tokens are predicted from P-1 .. P+C-2 (the prompt's other positions need no vocabulary).
            # They are the whole logits tensor, contiguous: no slice of it to copy or back-propagate through.
            logits, _ = model.forward(ids, mask, use_cache=False, keep_last=width)
            parts = (logits[:, -width:, :], None)  # a model that ignores keep_last returns every position
    token_logp, token_entropy = _scores_of_parts(parts, completion, transform, with_entropy)
    weights = completion_mask.to(token_logp.dtype)
    logp = (token_logp * weights).sum(dim=1)
    tokens = completion_mask.sum(dim=1)
    if token_entropy is None:
        return SequenceScores(logp, tokens)
    return SequenceScores(logp, tokens, token_entropy=(token_entropy, completion_mask.to(token_entropy.dtype)))


def _scores_of_parts(parts: tuple[torch.Tensor, Optional[torch.Tensor]], completion: torch.Tensor,
                     transform: SamplingTransform, with_entropy: bool) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """token_scores over the completion's positions when their logits come in parts (the first
    position's and the rest's, see shared_prefix.py) or whole (the second part None)."""
    pieces = [p for p in parts if p is not None]
    if len(pieces) == 1:
        return token_scores(pieces[0], completion, transform, with_entropy)
    gradient_entropy = with_entropy and not transform.truncates and torch.is_grad_enabled() and pieces[0].requires_grad
    # With gradient, the entropy is written by each part's backward: into views of one tensor.
    entropy = (torch.full(completion.shape, float("nan"), dtype=kernel_dtype(pieces[0]), device=completion.device)
               if gradient_entropy else None)
    logps, entropies, begin = [], [], 0
    for logits in pieces:
        end = begin + logits.shape[1]
        logp, part_entropy = token_scores(logits, completion[:, begin:end], transform, with_entropy,
                                          entropy[:, begin:end] if entropy is not None else None)
        logps.append(logp)
        entropies.append(part_entropy)
        begin = end
    if entropy is None and with_entropy:
        entropy = torch.cat([e for e in entropies if e is not None], dim=1)
    return torch.cat(logps, dim=1), entropy
