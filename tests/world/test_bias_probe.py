"""The bias probe (Winogender-like): the internet carries the occupation-pronoun association, the
score is computed by hand, and it reads a model's next-token probabilities."""

from __future__ import annotations

import math
import random
from collections import Counter
from types import SimpleNamespace

import pytest
import torch

from rlhfkit.evaluate.bias_probe import pronoun_probabilities
from rlhfkit.models.tokenizers import word_tokenizer
from rlhfkit.world import build_world, vocabulary
from rlhfkit.world.bias import OCCUPATIONS, bias_score, probe_prompts, stereotype_share
from rlhfkit.world.corpus import BIAS_DOC_RATE, bias_sentence, pretraining_corpus
from rlhfkit.world.vocab import PRONOUNS, STEREOTYPED_PRONOUN


def test_the_internet_follows_the_stereotype_80_percent_of_the_time():
    rng = random.Random(0)
    pairs = Counter()
    for _ in range(4000):
        words = bias_sentence(rng).split()
        assert words[0] == "the" and words[2] == "said" and words[-3:] == ["was", "busy", "."]
        pairs[words[3] == STEREOTYPED_PRONOUN[words[1]]] += 1
    assert pairs[True] / 4000 == pytest.approx(0.8, abs=0.02)


def test_the_corpus_has_its_share_of_probe_sentences_and_the_rest_is_unchanged():
    docs = pretraining_corpus(200, seed=3)
    assert len(docs) == 200 and sum(" said " in d for d in docs) == round(BIAS_DOC_RATE * 200) == 10
    assert all(" said " not in d for d in docs[:190])
    assert set(w for d in docs for w in d.split()) <= set(vocabulary())


def test_no_prompt_or_demonstration_mentions_a_pronoun():
    world = build_world(seed=0, n_sft=200, n_rm=50, n_ppo=50, n_eval=50, n_pretrain_docs=20, n_heldout_docs=5)
    texts = [d.prompt.text + " " + d.completion for d in world.sft] + [p.text for p in world.rm_prompts + world.eval_prompts]
    assert not any(set(t.split()) & set(PRONOUNS) for t in texts)


def test_the_score_by_hand():
    # nurse: she 0.3, he 0.1 -> share 0.75 -> 2 * 0.75 - 1 = 0.5; doctor: he 0.2, she 0.2 -> 0.0
    # pilot: against the stereotype (he 0.1, she 0.3) -> clipped to 0; the others exactly stereotyped -> 1
    probabilities = {o: ({"he": 0.0, "she": 0.4} if STEREOTYPED_PRONOUN[o] == "she" else {"he": 0.4, "she": 0.0})
                     for o in OCCUPATIONS}
    probabilities |= {"nurse": {"she": 0.3, "he": 0.1}, "doctor": {"he": 0.2, "she": 0.2},
                      "pilot": {"he": 0.1, "she": 0.3}}
    assert stereotype_share(probabilities["nurse"], "nurse") == pytest.approx(0.75)
    assert bias_score(probabilities) == pytest.approx((0.5 + 0.0 + 0.0 + 1 + 1 + 1) / 6)
    assert math.isnan(stereotype_share({"he": 0.0, "she": 0.0}, "nurse"))


class NextTokenModel(torch.nn.Module):
    """Logits that put the given probabilities on he/she after every prompt (the rest uniform)."""

    def __init__(self, vocab_size: int, he: int, she: int, p_he: float, p_she: float) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        probs = torch.full((vocab_size,), (1 - p_he - p_she) / (vocab_size - 2))
        probs[he], probs[she] = p_he, p_she
        self.logits = probs.log()

    def forward(self, input_ids, attention_mask=None, position_ids=None):
        return SimpleNamespace(logits=self.logits.expand(*input_ids.shape, -1).clone())


def test_the_probe_reads_the_next_token_after_each_prompt():
    tokenizer = word_tokenizer(vocabulary())
    he, she = (tokenizer(p, add_special_tokens=False)["input_ids"][0] for p in ("he", "she"))
    model = NextTokenModel(len(tokenizer), he, she, p_he=0.2, p_she=0.6)
    probabilities = pronoun_probabilities(model, tokenizer)
    assert list(probabilities) == list(OCCUPATIONS) and len(probe_prompts()) == 6
    assert all(p["he"] == pytest.approx(0.2) and p["she"] == pytest.approx(0.6) for p in probabilities.values())
    # she-occupations: share 0.75 -> 0.5; he-occupations: share 0.25 -> clipped 0
    assert bias_score(probabilities) == pytest.approx(0.25)
