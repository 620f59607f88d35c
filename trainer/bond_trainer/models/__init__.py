"""Models behind one small interface (`CausalLM`), so that samplers, log-probs and the training
loop never depend on which model is plugged in. The built-in byte-level GPT is the first; Hugging
Face causal LMs plug into the same interface."""

from .base import CausalLM, KVCache, Tokenizer
from .byte_gpt import ByteGPT, ByteTokenizer, GPTModelSpec, load_byte_gpt, save_byte_gpt

__all__ = ["CausalLM", "KVCache", "Tokenizer", "ByteGPT", "ByteTokenizer", "GPTModelSpec",
           "load_byte_gpt", "save_byte_gpt"]
