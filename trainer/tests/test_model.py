"""The built-in model behind the CausalLM interface: KV-cache sampling, padding, log-probs."""

from __future__ import annotations

import torch

from bond_trainer.models import ByteGPT, GPTModelSpec
from bond_trainer.models.byte_gpt import EOS_ID, GPTModule
from bond_trainer.sampling.sequences import Completions, draw_uniforms, filter_logits, inverse_cdf, sample, score


def tiny_model(seed: int = 0) -> ByteGPT:
    torch.manual_seed(seed)
    return ByteGPT(GPTModule(GPTModelSpec(layers=2, heads=2, width=32, context=64)).eval())


def test_kv_cache_sampling_equals_full_prefix_decoding() -> None:
    model = tiny_model()
    prompts = [list(b"hello"), list(b"a longer prompt"), list(b"x")]
    uniforms = draw_uniforms(torch.Generator().manual_seed(3), len(prompts), 12)
    completions = sample(model, prompts, 12, uniforms)
    # Re-derive each token from the full prefix and the same random numbers.
    rows = [list(p) for p in prompts]
    done = [False] * len(rows)
    produced: list[list[int]] = [[] for _ in rows]
    for position in range(12):
        next_probs = []
        for row in rows:
            ids = torch.tensor([row])
            logits, _ = model.forward(ids, torch.ones_like(ids))
            next_probs.append(logits[0, -1].softmax(-1))
        tokens = inverse_cdf(torch.stack(next_probs), uniforms[:, position]).tolist()
        for i, token in enumerate(tokens):
            if not done[i]:
                produced[i].append(token)
                rows[i].append(token)
                done[i] = token == EOS_ID
        if all(done):
            break
    assert completions.completion_ids == produced


def test_sequence_logprobs_of_padded_batch_equal_one_by_one() -> None:
    model = tiny_model(1)
    batch = Completions(prompt_ids=[list(b"ab"), list(b"a much longer prompt"), list(b"q")],
                        completion_ids=[list(b"xyz") + [EOS_ID], list(b"k"), list(b"long completion here")],
                        truncated=[False, True, True], texts=["xyz", "k", "long completion here"])
    together = score(model, batch).logp
    alone = torch.cat([score(model, batch.select([i])).logp for i in range(3)])
    assert torch.allclose(together, alone, atol=1e-5)
    # Against a hand computation for row 0.
    ids = torch.tensor([list(b"ab") + list(b"xyz") + [EOS_ID]])
    logits, _ = model.forward(ids, torch.ones_like(ids))
    logp = logits.log_softmax(-1)[0, 1:-1].gather(1, ids[0, 2:, None]).sum()
    assert torch.allclose(together[0], logp, atol=1e-5)


def test_logprob_gradient_flows_only_through_completion_tokens() -> None:
    model = tiny_model(2)
    model.module.train()
    batch = Completions([list(b"ab")], [list(b"c")], [True], ["c"])
    scores = score(model, batch)
    scores.logp.sum().backward()
    assert model.module.token_embedding.weight.grad is not None
    assert scores.tokens.tolist() == [1]


def test_sampling_is_reproducible_with_a_seed() -> None:
    model = tiny_model()
    prompts = [list(b"seed")] * 4
    def draw(seed: int) -> Completions:
        return sample(model, prompts, 10, draw_uniforms(torch.Generator().manual_seed(seed), 4, 10))
    a, b, c = draw(5), draw(5), draw(6)
    assert a.completion_ids == b.completion_ids
    assert a.completion_ids != c.completion_ids


def test_a_batch_split_in_two_samples_what_the_whole_batch_does() -> None:
    # What makes ranks, chunks and devices agree: a row's tokens depend on its own random numbers only.
    model = tiny_model(3)
    prompts = [list(b"one"), list(b"a second, longer prompt"), list(b"3"), list(b"four!")]
    uniforms = draw_uniforms(torch.Generator().manual_seed(9), 4, 16)
    whole = sample(model, prompts, 16, uniforms)
    halves = Completions.concat([sample(model, prompts[:2], 16, uniforms[:2]), sample(model, prompts[2:], 16, uniforms[2:])])
    assert whole.completion_ids == halves.completion_ids


def test_inverse_cdf_draws_from_the_distribution_and_never_a_filtered_token() -> None:
    probs = torch.tensor([[0.0, 0.5, 0.0, 0.3, 0.2, 0.0]]).expand(40_000, 6)
    tokens = inverse_cdf(probs, torch.rand(40_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    counts = torch.bincount(tokens, minlength=6).double() / 40_000
    assert counts[[0, 2, 5]].sum() == 0
    assert torch.allclose(counts, probs[0].double(), atol=0.01)
    # The edges: u = 0 takes the first token with mass, u → 1 the last.
    edge = inverse_cdf(probs[:2], torch.tensor([0.0, 1.0 - 1e-12]))
    assert edge.tolist() == [1, 4]


def test_filter_logits_top_k_and_top_p() -> None:
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isinf(filter_logits(logits, 1.0, 2, 1.0)).tolist() == [[False, False, True, True]]
    # top_p 0.7: 0.5 alone is not enough, 0.5 + 0.3 reaches it; the rest go.
    assert torch.isinf(filter_logits(logits, 1.0, 0, 0.7)).tolist() == [[False, False, True, True]]
    assert torch.isinf(filter_logits(logits, 1.0, 0, 0.4)).tolist() == [[False, True, True, True]]
    assert not torch.isinf(filter_logits(logits, 1.0, 0, 1.0)).any()
