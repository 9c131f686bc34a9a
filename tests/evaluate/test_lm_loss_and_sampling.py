"""Held-out LM loss and sampling on stub / tiny models, by hand."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from rlhfkit.models.generation import sample_completions
from rlhfkit.evaluate.lm_loss import heldout_lm_loss, tokens_in
from rlhfkit.models import build_tiny


class Uniform(torch.nn.Module):
    """Logits all zero: every next token has probability 1/V."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.vocab = vocab
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, input_ids, attention_mask=None, **_):
        return SimpleNamespace(logits=torch.zeros(*input_ids.shape, self.vocab))


@pytest.fixture(scope="module")
def bundle():
    return build_tiny("nano", tokenizer="words", words="rlhfkit.world:vocabulary", max_positions=64, seed=0)


def test_uniform_model_loss_is_log_vocab(bundle):
    tok = bundle.tokenizer
    texts = ["the cup is red .", "bob likes the hat ."]
    loss, n = heldout_lm_loss(Uniform(len(tok)), tok, texts, max_length=64)
    assert loss == pytest.approx(math.log(len(tok)))
    assert n == 5 + 5  # each text: its words after the first, plus EOS (5 predicted tokens each)
    assert tokens_in(tok, texts) == 6 + 6  # words + EOS processed


def test_sampling_is_reproducible_and_repeats_prompts(bundle):
    prompts = ["sort : d b a c =>", "tell me about bob ."]
    a = sample_completions(bundle.model, bundle.tokenizer, prompts, n=3, max_new_tokens=5, seed=1)
    b = sample_completions(bundle.model, bundle.tokenizer, prompts, n=3, max_new_tokens=5, seed=1)
    assert a.completions == b.completions and a.prompts == [prompts[0]] * 3 + [prompts[1]] * 3
    assert all(len(c.split()) <= 5 for c in a.completions) and a.tokens > 0


def test_kl_to_itself_is_zero(bundle):
    s = sample_completions(bundle.model, bundle.tokenizer, ["sort : d b a c =>"] * 4, max_new_tokens=5,
                           ref_model=bundle.model, with_logprobs=True)
    assert s.kl == pytest.approx(0.0, abs=1e-5)
