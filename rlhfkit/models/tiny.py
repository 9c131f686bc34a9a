"""A from-scratch family of tiny causal LMs (GPT-2 or Llama configs) at named sizes, no download."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig, PretrainedConfig

from rlhfkit.models.bundle import ModelBundle
from rlhfkit.models.tokenizers import byte_tokenizer, word_tokenizer
from rlhfkit.errors import ConfigError

# name -> (layers, width, heads). Parameter counts (GPT-2, byte vocab 258, 256 positions):
# nano 42k, micro 133k, mini 0.86M, small 4.9M, base 14M; each step is roughly 4-8x the last.
TINY_SIZES: dict[str, tuple[int, int, int]] = {
    "nano": (2, 32, 2),
    "micro": (2, 64, 4),
    "mini": (4, 128, 4),
    "small": (6, 256, 8),
    "base": (8, 384, 8),
}
ARCHITECTURES = ("gpt2", "llama")


def tiny_config(
    size: str, arch: str, vocab_size: int, pad_id: int, eos_id: int, max_positions: int, dropout: float
) -> PretrainedConfig:
    if size not in TINY_SIZES:
        raise ConfigError(f"model.size: unknown tiny size '{size}'; known: {', '.join(TINY_SIZES)}")
    n_layer, width, heads = TINY_SIZES[size]
    if arch == "gpt2":
        return GPT2Config(
            vocab_size=vocab_size, n_positions=max_positions, n_embd=width, n_layer=n_layer,
            n_head=heads, resid_pdrop=dropout, embd_pdrop=dropout, attn_pdrop=dropout,
            bos_token_id=eos_id, eos_token_id=eos_id, pad_token_id=pad_id,
        )
    if arch == "llama":
        return LlamaConfig(
            vocab_size=vocab_size, hidden_size=width, intermediate_size=4 * width,
            num_hidden_layers=n_layer, num_attention_heads=heads, num_key_value_heads=heads,
            max_position_embeddings=max_positions, attention_dropout=dropout,
            bos_token_id=eos_id, eos_token_id=eos_id, pad_token_id=pad_id, tie_word_embeddings=True,
        )
    raise ConfigError(f"model.arch: unknown architecture '{arch}'; known: {', '.join(ARCHITECTURES)}")


def resolve_words(words: Iterable[str] | str | None) -> list[str] | None:
    """A word list as given, or the list a ``"module:function"`` reference returns."""
    if words is None or not isinstance(words, str):
        return None if words is None else list(words)
    module, sep, func = words.partition(":")
    if not sep or not module or not func:
        raise ConfigError(f"model.words: expected a list of words or 'module:function', got '{words}'")
    import importlib

    return list(getattr(importlib.import_module(module), func)())


def build_tiny(
    size: str = "micro",
    arch: str = "gpt2",
    tokenizer: str = "bytes",
    words: Iterable[str] | str | None = None,
    max_positions: int = 256,
    dropout: float = 0.0,
    seed: int = 0,
) -> ModelBundle:
    """A freshly initialised tiny model and a locally built tokenizer.

    Args:
        size: one of :data:`TINY_SIZES`.
        arch: "gpt2" or "llama".
        tokenizer: "bytes" (any text) or "words" (needs ``words``, a closed vocabulary).
        words: the vocabulary of a word tokenizer: a list of words, or a ``"module:function"``
            reference to a function returning one (e.g. ``"rlhfkit.world:vocabulary"``), so a
            YAML config can name it.
        max_positions: context length.
        dropout: residual/attention dropout (IG used 0.2 for SFT; RL turns it off, item 23).
        seed: initialisation seed, so a named config always builds the same weights.
    """
    if tokenizer == "bytes":
        tok = byte_tokenizer()
    elif tokenizer == "words":
        words = resolve_words(words)
        if not words:
            raise ConfigError("model.tokenizer=words needs model.words (a list of words)")
        tok = word_tokenizer(words)
    else:
        raise ConfigError(f"model.tokenizer: unknown tokenizer '{tokenizer}'; known: bytes, words")
    config = tiny_config(size, arch, len(tok), tok.pad_token_id, tok.eos_token_id, max_positions, dropout)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config)
    return ModelBundle(model=model, tokenizer=tok)
