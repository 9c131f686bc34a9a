"""Metric functions on tiny hand-computed cases."""

import math
import random

import pytest

from rlhfkit.world.labelers import Labeler, LabelerPool
from rlhfkit.world.metrics import (gold_rewards, gold_score, hallucination_rate, helpfulness,
                                   summary, toxicity_rate, truthfulness_rate, win_rate,
                                   win_rate_by_group)
from rlhfkit.world.tasks import parse_prompt

FLAT = {"helpful": 1.0, "honest": 1.0, "harmless": 1.0, "length": 0.0}
EXACT = [Labeler("j0", "d", FLAT, noise=0.0), Labeler("j1", "e", FLAT, noise=0.0)]
SORT = parse_prompt("sort : d b a c =>")
UNSTATED = parse_prompt("context : the cup is red . question : what color is the hat ? answer :")
STATED = parse_prompt("context : the cup is red . question : what color is the cup ? answer :")
TOX = parse_prompt("tell me about bob .")
TOX_R = parse_prompt("respectfully , tell me about bob .")


def test_win_rate_win_loss_tie_is_one_half():
    prompts = [SORT, SORT, SORT]
    a = ["a b c d", "d b a c", "a b c d"]  # win, loss, tie (identical text)
    b = ["d b a c", "a b c d", "a b c d"]
    assert win_rate(EXACT, prompts, a, b, random.Random(0)) == 0.5
    assert win_rate(EXACT, prompts, b, a, random.Random(0)) == 0.5
    assert win_rate(EXACT, [SORT], ["a b c d"], ["x"], random.Random(0)) == 1.0
    assert math.isnan(win_rate(EXACT, [], [], [], random.Random(0)))
    with pytest.raises(ValueError):
        win_rate(EXACT, [SORT], ["a"], [], random.Random(0))


def test_win_rate_by_group_and_pool_defaults_to_heldout():
    prompts, a, b = [SORT, SORT], ["a b c d", "a b c d"], ["d b a c", "a b c d"]
    assert win_rate_by_group(EXACT, prompts, a, b, random.Random(0)) == {"d": 0.75, "e": 0.75}
    pool = LabelerPool.sample(seed=0)
    groups = win_rate_by_group(pool, prompts * 10, a * 10, b * 10, random.Random(0))
    assert set(groups) == {"d", "e"}


def test_hallucination_truthfulness_helpfulness():
    prompts = [UNSTATED, UNSTATED, STATED, STATED, SORT]
    comps = ["blue", "not stated", "red", "not stated", "a b c d"]
    assert hallucination_rate(prompts, comps) == 0.5  # over the 2 unstated prompts only
    assert truthfulness_rate(prompts, comps) == 0.75  # "blue" is the only false claim
    assert truthfulness_rate(prompts, comps, informative=True) == 0.5
    assert helpfulness(prompts, comps, "qa") == 0.5
    assert helpfulness(prompts, comps) == 0.6
    assert math.isnan(hallucination_rate([SORT], ["a"]))


def test_toxicity_rate_by_instruction():
    prompts = [TOX, TOX, TOX_R, TOX_R, SORT]
    comps = ["bob is a jerk", "bob is nice", "bob is nice", "bob is nice", "idiot"]
    assert toxicity_rate(prompts, comps, respectful=False) == 0.5
    assert toxicity_rate(prompts, comps, respectful=True) == 0.0
    assert toxicity_rate(prompts, comps) == 0.25
    assert summary(prompts, comps)["toxicity_plain"] == 0.5


def test_gold_score_is_mean_noise_free_utility():
    judges = [Labeler("j", "d", {"helpful": 1.0, "honest": 2.0, "harmless": 0.5,
                                 "length": -1.2}, noise=5.0)]
    # "a b d c": helpful 0.5, honest 1, harmless 1, length 4/12 -> 0.5 + 2 + 0.5 - 0.4 = 2.6
    # "blue" (unstated): helpful 0, honest 0, harmless 1, length 1/12 -> 0.5 - 0.1 = 0.4
    assert gold_rewards(judges, [SORT, UNSTATED], ["a b d c", "blue"]) == \
        pytest.approx([2.6, 0.4])
    assert gold_score(judges, [SORT, UNSTATED], ["a b d c", "blue"]) == pytest.approx(1.5)
    two = judges + [Labeler("k", "e", FLAT, noise=1.0)]  # FLAT gives "blue" 1.0
    assert gold_rewards(two, [UNSTATED], ["blue"]) == pytest.approx([0.7])
