"""Simulated labelers: preferences, Bradley-Terry choices, rankings, demonstrations, agreement."""

import math
import random

import pytest

from rlhfkit.world.corpus import sample_completion_like_internet
from rlhfkit.world.features import features
from rlhfkit.world.labelers import Labeler, LabelerPool, agreement
from rlhfkit.world.tasks import ideal_completion, parse_prompt, sample_prompts

POOL = LabelerPool.sample(seed=0)
FLAT = {"helpful": 1.0, "honest": 1.0, "harmless": 1.0, "length": 0.0}


def _agreement_set(n_prompts=300, k=4):
    """A fixed set of comparisons between internet-like samples (4 per prompt, all pairs)."""
    prompts = sample_prompts(n_prompts, seed=1)
    rng = random.Random(2)
    return prompts, [[sample_completion_like_internet(p, rng) for _ in range(k)] for p in prompts]


def test_pool_is_deterministic_and_grouped():
    again = LabelerPool.sample(seed=0)
    assert [(l.id, l.group, dict(l.weights), l.noise) for l in POOL.train] == \
        [(l.id, l.group, dict(l.weights), l.noise) for l in again.train]
    assert len(POOL.train) == 40 and len(POOL.heldout) == 10
    assert {l.group for l in POOL.train} == {"a", "b", "c"}
    assert {l.group for l in POOL.heldout} == {"d", "e"}
    assert not {l.id for l in POOL.train} & {l.id for l in POOL.heldout}
    assert POOL.by_id("H03") is POOL.heldout[3]


@pytest.mark.parametrize("split", ["train", "heldout"])
def test_agreement_lands_in_the_papers_range(split):
    prompts, sets = _agreement_set()
    value = agreement(getattr(POOL, split), prompts, sets, random.Random(3))
    assert 0.65 <= value <= 0.80, value


def test_heldout_labelers_agree_more_than_training_labelers():
    prompts, sets = _agreement_set()
    assert agreement(POOL.heldout, prompts, sets, random.Random(3)) > \
        agreement(POOL.train, prompts, sets, random.Random(3))


def test_labelers_prefer_the_ideal_over_the_internet():
    prompts = sample_prompts(600, seed=5)
    rng = random.Random(6)
    wins, decisive_wins, decisive = 0.0, 0, 0
    for i, p in enumerate(prompts):
        ideal, web = ideal_completion(p), sample_completion_like_internet(p, rng)
        outcome = POOL.train[i % 40].compare(p, ideal, web, rng)
        wins += outcome
        fi, fw = features(p, ideal), features(p, web)
        if (fi.helpful, fi.honest, fi.harmless) != (fw.helpful, fw.honest, fw.harmless):
            decisive += 1
            decisive_wins += outcome == 1.0
    assert wins / len(prompts) > 0.65
    assert decisive_wins / decisive > 0.9


def test_compare_is_bradley_terry():
    p = parse_prompt("sort : d b a c =>")
    lab = Labeler("x", "a", FLAT, noise=0.5)
    du = lab.utility(p, "a b c d") - lab.utility(p, "a b d c")
    assert du == pytest.approx(0.5)
    rng = random.Random(0)
    n = 4000
    share = sum(lab.compare(p, "a b c d", "a b d c", rng) for _ in range(n)) / n
    assert share == pytest.approx(1 / (1 + math.exp(-du / 0.5)), abs=0.03)
    assert lab.compare(p, "a b", "a b", rng) == 0.5


def test_rank_is_dense_with_ties_only_for_identical_texts():
    p = parse_prompt("sort : d b a c =>")
    exact = Labeler("x", "a", FLAT, noise=0.0)
    samples = ["d b a c", "a b c d", "a b d c", "a b c d", "a b c d e"]
    assert exact.rank(p, samples, random.Random(0)) == [3, 0, 2, 0, 1]
    rng = random.Random(1)
    for _ in range(50):
        ranks = POOL.train[0].rank(p, samples, rng)
        assert ranks[1] == ranks[3]
        assert sorted(set(ranks)) == [0, 1, 2, 3]


def test_demonstrations_are_always_good():
    rng = random.Random(7)
    prompts = sample_prompts(800, seed=8)
    n_ideal = 0
    for i, p in enumerate(prompts):
        demo = POOL.train[i % 40].demonstrate(p, rng)
        f = features(p, demo)
        assert (f.helpful, f.honest, f.toxic, f.well_formed) == (1.0, 1.0, False, True), demo
        n_ideal += demo == ideal_completion(p)
    assert n_ideal / len(prompts) > 0.6  # mostly the ideal wording
