"""Best-of-n: the analytic KL by hand (item 33) and the nested choice."""

from __future__ import annotations

import math

import pytest
import torch

from rlhfkit.algos.best_of_n import best_of_n_index, best_of_n_kl


def test_the_analytic_kl_by_hand():
    assert best_of_n_kl(1) == 0.0
    assert best_of_n_kl(2) == pytest.approx(math.log(2) - 0.5)  # 0.1931
    assert best_of_n_kl(4) == pytest.approx(1.3862944 - 0.75)  # 0.6363
    assert best_of_n_kl(32) == pytest.approx(math.log(32) - 31 / 32)
    with pytest.raises(ValueError, match="n must be >= 1"):
        best_of_n_kl(0)


def test_the_best_of_the_first_n_and_ties_take_the_first():
    scores = torch.tensor([[0.1, 0.5, 0.3, 0.9],
                           [2.0, 1.0, 2.0, 0.0]])
    assert best_of_n_index(scores, 1).tolist() == [0, 0]
    assert best_of_n_index(scores, 3).tolist() == [1, 0]  # row 2: 2.0 twice, the first wins
    assert best_of_n_index(scores, 4).tolist() == [3, 0]
    with pytest.raises(ValueError, match=r"n must be in \[1, 4\]"):
        best_of_n_index(scores, 5)
