"""Reward-model counting functions against hand computations (rlhfkit.stages.rm.metrics)."""

from __future__ import annotations

import math

import pytest
import torch

from rlhfkit.data import RankingExample
from rlhfkit.stages.rm.metrics import (
    PairCounts,
    accuracy_table,
    agreement_report,
    ranking_agreement,
    pair_counts_per_example,
    tie_counts,
)


def rk(prompt, completions, ranks, labeler=None, group=None):
    meta = {"group": group} if group else {}
    return RankingExample(prompt, list(completions), list(ranks), "<test>", labeler_id=labeler, labeler_meta=meta)


def test_pair_counts_per_example_by_hand():
    scores = torch.tensor([[3.0, 1.0, 2.0], [0.0, 0.0, 0.0], [1.0, 1.0, 9.0]])
    ranks = torch.tensor([[0, 1, 2], [0, 0, -1], [1, 0, -1]])
    correct, total = pair_counts_per_example(scores, ranks)
    # row 0: pairs (0>1) 3>1 yes, (0>2) 3>2 yes, (1>2) 1>2 no -> 2 of 3
    # row 1: a tie and an absent completion -> no pair
    # row 2: completion 1 beats 0, scores equal -> counted wrong; completion 2 absent -> 0 of 1
    assert correct.tolist() == [2, 0, 0]
    assert total.tolist() == [3, 0, 1]


def test_pair_counts_metric_sums_per_key_and_skips_unknown():
    metric = PairCounts(3)
    metric.update(torch.tensor([2, 1, 5]), torch.tensor([3, 1, 7]), torch.tensor([0, 2, -1]))
    metric.update(torch.tensor([1]), torch.tensor([2]), torch.tensor([0]))
    assert metric.counts() == ([3, 0, 1], [5, 0, 1])
    table = accuracy_table(["a", "b", "c"], *metric.counts())
    assert table == {"a": {"accuracy": 0.6, "correct": 3, "n_pairs": 5},
                     "c": {"accuracy": 1.0, "correct": 1, "n_pairs": 1}}  # b has no pair: left out
    overall = PairCounts(1)
    overall.update(torch.tensor([2, 1]), torch.tensor([3, 1]))
    assert overall.counts() == ([3], [4])  # one key still comes back as a list


def test_tie_counts_by_hand():
    counts = tie_counts([rk("p", "abc", [0, 1, 1]), rk("q", "ab", [0, 0]), rk("r", "abcd", [0, 1, 2, 3])])
    # [0,1,1]: C(3,2)=3, 1 tie -> 2 pairs; [0,0]: 1 tie, all tied; [0,1,2,3]: 6 pairs
    assert counts == {"rankings": 3, "pairs": 8, "tied_pairs": 2, "all_tied": 1}


def _agreement_data():
    return [
        rk("P", "abc", [0, 1, 2], "L1", "g1"),
        rk("P", "abc", [0, 2, 1], "L2", "g1"),
        rk("P", "abc", [1, 0, 0], "L3", "g2"),
        rk("P", "abc", [2, 1, 0], "L1", "g1"),  # L1 again: never compared with itself
        rk("P", "abc", [2, 1, 0]),  # no labeler id: ignored
        rk("Q", "ab", [0, 1], "L1", "g1"),  # one labeler only
    ]


def test_labeler_agreement_by_hand():
    # (L1, L2): (a,b) agree, (a,c) agree, (b,c) disagree -> 2/3
    # (L1, L3) and (L2, L3): (a,b), (a,c) disagree; (b,c) tied by L3 -> 0/2 each, 1 tie each
    # L1's second ranking [2,1,0] vs L2: (a,b) dis, (a,c) dis, (b,c) agree -> 1/3; vs L3: (a,b) agree, (a,c) agree, (b,c) tie -> 2/2
    a = ranking_agreement(_agreement_data())
    assert (a.agree, a.total, a.tied) == (2 + 0 + 0 + 1 + 2, 3 + 2 + 2 + 3 + 2, 3)
    assert a.n_prompts == 1 and a.labeler_pairs == 5
    assert a.rate == pytest.approx(5 / 12)


def test_labeler_agreement_restricted_and_per_group():
    data = _agreement_data()[:3]
    assert ranking_agreement(data, {"L1", "L2"}).as_dict()["rate"] == pytest.approx(2 / 3)
    report = agreement_report(data)
    assert report["all"]["agree"] == 2 and report["all"]["total"] == 7
    assert set(report["per_group"]) == {"g1"}  # g2 has one labeler: no comparison, left out
    assert report["per_group"]["g1"]["rate"] == pytest.approx(2 / 3)


def test_labeler_agreement_on_overlapping_completions():
    # L2 ranked only y and x; shared pair (x, y): L1 x above y, L2 y above x -> disagree
    a = ranking_agreement([rk("R", "xyz", [0, 1, 2], "L1"), rk("R", "yx", [0, 1], "L2")])
    assert (a.agree, a.total) == (0, 1)


def test_labeler_agreement_without_overlap_is_nan():
    a = ranking_agreement([rk("P", "ab", [0, 1], "L1"), rk("Q", "ab", [0, 1], "L2")])
    assert a.total == 0 and math.isnan(a.rate)
