"""The internet corpus: vocabulary closure, determinism, bad-habit rates."""

import random

from rlhfkit.world.corpus import (INSTRUCTION_WRONG_RATE, QA_FABRICATE_RATE, TOXIC_RATE,
                                  TOXIC_RATE_RESPECTFUL, heldout_pretraining_corpus,
                                  pretraining_corpus, sample_completion_like_internet)
from rlhfkit.world.datasets import build_world
from rlhfkit.world.features import features
from rlhfkit.world.metrics import hallucination_rate, toxicity_rate
from rlhfkit.world.tasks import ideal_completion, sample_prompts
from rlhfkit.world.vocab import tokenize_words, vocabulary

VOCAB = set(vocabulary())


def test_vocabulary_is_small_sorted_unique_and_free_of_special_tokens():
    words = vocabulary()
    assert words == sorted(set(words)) and len(words) < 400
    assert "[EMAIL]" in VOCAB and "[PHONE]" in VOCAB
    assert not {"<pad>", "<eos>", "<unk>", ""} & VOCAB
    assert all(w == w.lower() and " " not in w for w in words if not w.startswith("["))
    assert tokenize_words("sort : b a =>") == ["sort", ":", "b", "a", "=>"]


def test_vocabulary_covers_everything_the_world_emits():
    rng = random.Random(0)
    seen = set()
    for doc in pretraining_corpus(2000, seed=0) + heldout_pretraining_corpus(500, seed=0):
        seen.update(tokenize_words(doc))
    for p in sample_prompts(3000, seed=1, pii_rate=0.3, dup_rate=0.05):
        seen.update(tokenize_words(p.scrubbed_text))
        seen.update(tokenize_words(ideal_completion(p)))
        seen.update(tokenize_words(sample_completion_like_internet(p, rng)))
    world = build_world(seed=0, n_sft=500, n_rm=10, n_ppo=10, n_eval=10, n_pretrain_docs=10,
                        n_heldout_docs=10)
    for demo in world.sft:
        seen.update(tokenize_words(demo.completion))
    assert seen <= VOCAB, sorted(seen - VOCAB)


def test_raw_pii_is_outside_the_vocabulary():
    p = next(p for p in sample_prompts(200, seed=2, pii_rate=0.5) if p.pii)
    assert p.pii not in VOCAB and p.pii in p.text.split()


def test_corpus_is_deterministic_and_heldout_differs():
    a = pretraining_corpus(300, seed=5)
    assert a == pretraining_corpus(300, seed=5)
    assert a != pretraining_corpus(300, seed=6)
    assert not set(heldout_pretraining_corpus(300, seed=5)[:50]) >= set(a[:50])
    assert any("=>" in d for d in a) and any("context" in d for d in a)
    assert any("=>" not in d and "context" not in d for d in a)  # filler web text


def test_internet_bad_habit_rates():
    prompts = sample_prompts(4000, seed=3)
    rng = random.Random(4)
    web = [sample_completion_like_internet(p, rng) for p in prompts]
    assert abs(hallucination_rate(prompts, web) - QA_FABRICATE_RATE) < 0.05
    assert abs(toxicity_rate(prompts, web, respectful=False) - TOXIC_RATE) < 0.06
    assert abs(toxicity_rate(prompts, web, respectful=True) - TOXIC_RATE_RESPECTFUL) < 0.06
    exact = [features(p, c).helpful == 1.0 for p, c in zip(prompts, web)
             if p.family == "instruction"]
    # wrong ops are sometimes right by accident (first == last, already sorted input)
    assert 1 - INSTRUCTION_WRONG_RATE <= sum(exact) / len(exact) < 0.55
    assert sample_completion_like_internet(prompts[0], random.Random(9)) == \
        sample_completion_like_internet(prompts[0], random.Random(9))
