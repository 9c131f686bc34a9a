"""Tokenizers built locally, with no download: bytes (any text) or words (a closed vocabulary)."""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

PAD, EOS, UNK = "<pad>", "<eos>", "<unk>"


def _wrap(tokenizer: Tokenizer, unk: str | None) -> PreTrainedTokenizerFast:
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token=PAD,  # RLHF_DETAILS item 35: pad distinct from EOS
        eos_token=EOS,
        bos_token=EOS,
        unk_token=unk,
    )
    wrapped.padding_side = "right"
    return wrapped


def byte_tokenizer() -> PreTrainedTokenizerFast:
    """One token per UTF-8 byte (256) plus <pad> and <eos>: covers any text, needs no training."""
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {PAD: 0, EOS: 1} | {ch: i + 2 for i, ch in enumerate(alphabet)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([PAD, EOS])
    return _wrap(tok, unk=None)


def word_tokenizer(words: Iterable[str]) -> PreTrainedTokenizerFast:
    """One token per whitespace-separated word of a closed vocabulary; others map to <unk>.

    Decoding joins tokens with single spaces, so text written as space-separated words
    round-trips exactly.
    """
    vocab = {PAD: 0, EOS: 1, UNK: 2}
    for word in words:
        if word not in vocab and not word.isspace() and word:
            vocab[word] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.add_special_tokens([PAD, EOS, UNK])
    return _wrap(tok, unk=UNK)
