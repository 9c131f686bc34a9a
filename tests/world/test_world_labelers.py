"""Simulated labelers: preferences, Bradley-Terry choices, rankings, demonstrations, agreement."""

import math
import random
from dataclasses import replace

import pytest

from rlhfkit.world.corpus import sample_completion_like_internet
from rlhfkit.world.features import features
from rlhfkit.world.demo_slips import slipped_demonstration
from rlhfkit.world.labelers import Labeler, LabelerPool, agreement, default_train_groups
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


def test_careful_demonstrations_are_always_good():
    rng = random.Random(7)
    prompts = sample_prompts(800, seed=8)
    n_ideal = 0
    for i, p in enumerate(prompts):
        demo = replace(POOL.train[i % 40], slip=0.0).demonstrate(p, rng)
        f = features(p, demo)
        assert (f.helpful, f.honest, f.toxic, f.well_formed) == (1.0, 1.0, False, True), demo
        n_ideal += demo == ideal_completion(p)
    assert n_ideal / len(prompts) > 0.6  # mostly the ideal wording


def test_slipped_demonstrations_are_unhelpful_and_never_toxic():
    rng = random.Random(3)
    prompts = sample_prompts(600, seed=9)
    for p in prompts:
        demo = slipped_demonstration(p, rng)
        f = features(p, demo)
        assert f.well_formed and not f.toxic and f.helpful < 1.0, (p.text, demo)
        # the one dishonest slip: a value read off another object when the answer is not stated
        assert f.honest == (0.0 if p.family == "qa" and not p.stated else 1.0), (p.text, demo)


def test_slips_by_hand():
    rng = random.Random(0)
    count = parse_prompt("count : a b c =>")
    assert slipped_demonstration(count, rng) in ("two", "four")
    sort = parse_prompt("sort : c a b =>")
    out = slipped_demonstration(sort, rng).split()
    assert len(out) == 3 and sum(a != b for a, b in zip(out, ["a", "b", "c"])) == 1
    stated = parse_prompt("context : the cup is red . question : what color is the cup ? answer :")
    assert slipped_demonstration(stated, rng) == "not stated"
    unstated = parse_prompt("context : the cup is red . question : what color is the hat ? answer :")
    assert slipped_demonstration(unstated, rng) == "red"
    assert slipped_demonstration(parse_prompt("tell me about bob ."), rng) == "bob was there"


def test_the_pool_slips_about_as_configured():
    """Default slip 0.2 scattered per labeler (lognormal sd 0.5): the pool's mean share is near 0.2
    times exp(0.5**2 / 2) ~ 0.23, and labelers differ."""
    slips = [l.slip for l in POOL.train]
    assert 0.15 < sum(slips) / len(slips) < 0.32 and max(slips) > 2 * min(slips)
    rng = random.Random(5)
    prompts = sample_prompts(2000, seed=10)
    careful = [l for l in POOL.train if l.slip < 0.15][0]
    flawed = sum(features(p, careful.demonstrate(p, rng)).helpful < 1.0 for p in prompts) / len(prompts)
    assert abs(flawed - careful.slip) < 0.04


def test_slips_do_not_change_the_rest_of_the_pool():
    no_slips = LabelerPool.sample(seed=0, train_groups=[replace(g, slip=0.0) for g in default_train_groups()])
    assert [(l.id, dict(l.weights), l.noise, l.style) for l in no_slips.train] == \
        [(l.id, dict(l.weights), l.noise, l.style) for l in POOL.train]
    assert all(l.slip == 0.0 for l in no_slips.train)
