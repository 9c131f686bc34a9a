"""Special tokens as the tokenizer itself adds them (rlhfkit.models.encoding), with hand-computed ids.

The fixture's BPE tokenizer (tests/_hf_models.py) adds BOS like Llama's: ``tokenizer("hi")`` is
``[1, 77, 78]`` (BOS 1, EOS 2, pad 0; "hi" = [77, 78], " hi" = [226, 77, 78], "<|im_start|>" = 4,
"<|im_end|>" = 5, "\\n" = 204). The byte tokenizer of the tiny models adds nothing: "abc" =
[66, 67, 68], EOS 1, pad 0.
"""

from __future__ import annotations

import pytest
from _hf_models import bpe_tokenizer

from rlhfkit.data.examples import RankingExample, SFTExample
from rlhfkit.models.encoding import (
    completion_ids,
    encode_pairs,
    encode_prompts,
    leading_special_ids,
    pair_length,
    prompt_ids,
)
from rlhfkit.models.tokenizers import byte_tokenizer, word_tokenizer

BOS, EOS, PAD = 1, 2, 0
HI, SP_HI = [77, 78], [226, 77, 78]


@pytest.fixture(scope="module")
def tok():
    t = bpe_tokenizer()
    assert t("hi").input_ids == [BOS, *HI] and t(" hi", add_special_tokens=False).input_ids == SP_HI
    assert (t.bos_token_id, t.eos_token_id, t.pad_token_id) == (BOS, EOS, PAD)
    return t


def test_leading_special_ids_found_by_comparison(tok):
    assert leading_special_ids(tok) == [BOS]
    assert leading_special_ids(bpe_tokenizer(adds_bos=False)) == []
    assert leading_special_ids(byte_tokenizer()) == []  # the tiny models' tokenizers add nothing
    assert leading_special_ids(word_tokenizer(["a", "b"])) == []


def test_prompt_gets_bos_and_completion_eos(tok):
    enc = encode_pairs(tok, ["hi"], [" hi"], max_length=16)
    assert enc.input_ids.tolist() == [[BOS, *HI, *SP_HI, EOS]]
    assert enc.completion_mask.tolist() == [[0, 0, 0, 1, 1, 1, 1]]
    assert enc.attention_mask.tolist() == [[1] * 7] and enc.truncated.tolist() == [False]


def test_no_second_bos_or_eos_when_the_text_has_them(tok):
    # a chat template that writes the BOS string itself: one BOS, not two
    assert prompt_ids(tok, "<s>hi") == ([BOS, *HI], 1)
    assert encode_pairs(tok, ["<s>hi"], [" hi"], 16).input_ids.tolist() == [[BOS, *HI, *SP_HI, EOS]]
    # a template that closes the turn with the EOS string: one EOS
    assert completion_ids(tok, " hi</s>") == [*SP_HI, EOS]
    # Qwen: EOS is the template's end of turn, which a newline follows: the completion ends at it, once
    qwen = bpe_tokenizer(eos_token="<|im_end|>")
    assert completion_ids(qwen, " hi<|im_end|>\n") == [*SP_HI, 5]
    assert completion_ids(qwen, " hi") == [*SP_HI, 5]
    assert completion_ids(qwen, " hi<|im_end|>\nhi") == [*SP_HI, 5, 204, *HI, 5]  # a turn after it: one more EOS
    # a ChatML template without BOS (the fixture's): BOS is added, once
    chatml = "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    ids, n_lead = prompt_ids(tok, chatml)
    assert ids[:2] == [BOS, 4] and ids.count(BOS) == 1 and n_lead == 1


def test_byte_tokenizer_rows_are_unchanged():
    byte = byte_tokenizer()
    enc = encode_pairs(byte, ["ab"], ["c"], 16)
    assert enc.input_ids.tolist() == [[66, 67, 68, 1]] and enc.completion_mask.tolist() == [[0, 0, 1, 1]]
    ids, mask, cut = encode_prompts(byte, ["abc", "c"], 8)
    assert ids.tolist() == [[66, 67, 68], [0, 0, 68]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]] and cut == 0


def test_truncation_keeps_bos(tok):
    # BOS + " hi hi" (6) + " hi" (3) + EOS = 11 tokens > 8: the prompt loses its first 3 tokens, not its BOS
    enc = encode_pairs(tok, [" hi hi"], [" hi"], max_length=8)
    assert enc.input_ids.tolist() == [[BOS, *SP_HI, *SP_HI, EOS]] and enc.truncated.tolist() == [True]
    assert enc.completion_mask.tolist() == [[0, 0, 0, 0, 1, 1, 1, 1]]
    # a completion too long for the row keeps BOS and the completion's start
    enc = encode_pairs(tok, ["hi"], [" hi hi"], max_length=4)
    assert enc.input_ids.tolist() == [[BOS, *SP_HI]] and enc.completion_mask.tolist() == [[0, 1, 1, 1]]


def test_encode_prompts_left_pads_after_bos(tok):
    ids, mask, cut = encode_prompts(tok, ["hi", " hi"], max_length=8)
    assert ids.tolist() == [[PAD, BOS, *HI], [BOS, *SP_HI]]
    assert mask.tolist() == [[0, 1, 1, 1], [1, 1, 1, 1]] and cut == 0
    ids, _, cut = encode_prompts(tok, [" hi hi"], max_length=3)  # BOS + the last 2 tokens
    assert ids.tolist() == [[BOS, *HI]] and cut == 1
    ids, _, _ = encode_prompts(tok, ["<s>hi"], max_length=8)
    assert ids.tolist() == [[BOS, *HI]]


def test_truncation_counts_match_the_rows(tok):
    from rlhfkit.stages.rm.batching import RankingCollator, count_too_long_rankings
    from rlhfkit.stages.sft.batching import count_too_long

    assert pair_length(tok, "hi", " hi") == 7  # BOS + 2 + 3 + EOS
    examples = [SFTExample("hi", " hi", "m#0"), SFTExample("hi", "hi", "m#1")]  # 7 and 6 tokens
    assert count_too_long(tok, examples, 6, "test") == 1
    assert encode_pairs(tok, ["hi", "hi"], [" hi", "hi"], 6).truncated.tolist() == [True, False]
    ranking = RankingExample("hi", [" hi", "hi"], [0, 1], "m#2")
    assert count_too_long_rankings(tok, [ranking], 6, "test") == 1
    batch = RankingCollator(tok, 16)([ranking])
    assert batch["input_ids"].tolist() == [[BOS, *HI, *SP_HI, EOS], [BOS, *HI, *HI, EOS, PAD]]
    assert batch["completion_mask"].tolist() == [[0, 0, 0, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1, 0]]
