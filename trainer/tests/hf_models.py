"""Tiny, randomly initialised Hugging Face models saved to folders, built in the tests: nothing
downloads. Each gets its own tokenizer trained here, so vocabularies really differ between the
policies and the reward model."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch

CORPUS = [
    "the food was great and the staff were friendly",
    "a terrible, slow service and cold soup",
    "we loved the view, the wine and the cheese",
    "Review: the room was clean and quiet.",
    "p0: p1: p2: aaaa bbbb cccc dddd",
] * 4

CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>{% endif %}")


def _tokenizer(kind: Literal["bpe", "chars"], chat: bool):  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<eos>", "<bos>"] + (["<|user|>", "<|assistant|>", "<|end|>"] if chat else [])
    if kind == "bpe":
        tok = Tokenizer(models.BPE(unk_token=None))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=specials,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    else:
        # One token per character seen, an unknown token for the rest: a very different vocabulary.
        tok = Tokenizer(models.WordPiece(unk_token="<unk>", max_input_chars_per_word=1000))
        tok.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
        tok.decoder = decoders.WordPiece(prefix="##")
        trainer = trainers.WordPieceTrainer(vocab_size=120, special_tokens=specials + ["<unk>"], show_progress=False)
    tok.train_from_iterator(CORPUS, trainer)
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", pad_token="<pad>", bos_token="<bos>")
    if chat:
        wrapped.chat_template = CHAT_TEMPLATE
    return wrapped


def make_causal_lm(folder: Path, arch: Literal["gpt2", "llama"], chat: bool = False, seed: int = 0,
                   dropout: float = 0.0) -> Path:
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    tokenizer = _tokenizer("bpe", chat)
    ids = dict(vocab_size=len(tokenizer), eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
               bos_token_id=tokenizer.bos_token_id)
    if arch == "gpt2":
        model = GPT2LMHeadModel(GPT2Config(n_embd=32, n_layer=2, n_head=2, n_positions=96, resid_pdrop=dropout,
                                           embd_pdrop=dropout, attn_pdrop=dropout, **ids))
    else:
        model = LlamaForCausalLM(LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=96,
                                             attention_dropout=dropout, **ids))
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def make_reward_model(folder: Path, seed: int = 0) -> Path:
    """A sequence classifier with one label and a character-level tokenizer of its own."""
    from transformers import LlamaConfig, LlamaForSequenceClassification

    torch.manual_seed(seed)
    tokenizer = _tokenizer("chars", chat=True)
    model = LlamaForSequenceClassification(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=256, num_labels=1, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id))
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder
