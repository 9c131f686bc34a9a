"""Hand-computed checks for rlhfkit.algos.ranking (RLHF_DETAILS items 6, 9, 11; IG eq. 1)."""

import pytest
import torch

from rlhfkit.algos import (
    best_of_k_loss,
    gain_and_bias,
    pairwise_margin,
    ranking_accuracy,
    ranking_loss,
    reward_bias,
)

# -log sigmoid(d) = log(1 + e^-d):
NLS_1 = 0.31326169  # d = 1
NLS_2 = 0.12692801  # d = 2
NLS_M1 = 1.31326169  # d = -1
LN2 = 0.69314718  # d = 0


def test_k2_equals_minus_logsigmoid() -> None:
    scores = torch.tensor([[1.0, 0.0]])
    torch.testing.assert_close(ranking_loss(scores, torch.tensor([[0, 1]])), torch.tensor(NLS_1))
    torch.testing.assert_close(ranking_loss(scores, torch.tensor([[1, 0]])), torch.tensor(NLS_M1))  # winner is 2nd


def test_k3_full_ranking_mean_over_three_pairs() -> None:
    # pairs (0,1): d = 1, (0,2): d = 2, (1,2): d = 1 -> (0.31326169*2 + 0.12692801) / 3 = 0.25115046
    loss = ranking_loss(torch.tensor([[2.0, 1.0, 0.0]]), torch.tensor([[0, 1, 2]]))
    torch.testing.assert_close(loss, torch.tensor(0.25115046))


def test_tie_pair_dropped() -> None:
    # ranks [0, 1, 1]: (1,2) tied -> pairs (0,1) d=1 and (0,2) d=2 -> (0.31326169 + 0.12692801) / 2 = 0.22009485
    loss = ranking_loss(torch.tensor([[2.0, 1.0, 0.0]]), torch.tensor([[0, 1, 1]]))
    torch.testing.assert_close(loss, torch.tensor(0.22009485))


def test_absent_completion() -> None:
    # completion 2 absent (-1): its score is ignored -> only (0,1): d = 1
    loss = ranking_loss(torch.tensor([[2.0, 1.0, 100.0]]), torch.tensor([[0, 1, -1]]))
    torch.testing.assert_close(loss, torch.tensor(NLS_1))


def test_margin() -> None:
    # -log sigmoid(1 - 0 - 1) = ln 2
    loss = ranking_loss(torch.tensor([[1.0, 0.0]]), torch.tensor([[0, 1]]), margin=1.0)
    torch.testing.assert_close(loss, torch.tensor(LN2))


def test_two_prompts_average_per_prompt_means() -> None:
    scores = torch.tensor([[2.0, 1.0, 0.0], [0.0, 1.0, 0.0], [5.0, 5.0, 5.0]])
    ranks = torch.tensor([[0, 1, 2], [0, 1, -1], [0, 0, 0]])  # prompt 3: all tied -> no pair, ignored
    # prompt 1: 0.25115046 (3 pairs); prompt 2: one pair d = 0 - 1 = -1 -> 1.31326169
    # per-prompt mean: (0.25115046 + 1.31326169) / 2 = 0.78220607
    # (pooling the 4 pairs would give (3*0.25115046 + 1.31326169) / 4 = 0.51667827: must NOT be that)
    loss = ranking_loss(scores, ranks)
    torch.testing.assert_close(loss, torch.tensor(0.78220607))


def test_gradient_reaches_scores() -> None:
    scores = torch.tensor([[1.0, 0.0]], requires_grad=True)
    ranking_loss(scores, torch.tensor([[0, 1]])).backward()
    # d/ds_w -log sigmoid(s_w - s_l) = -(1 - sigmoid(1)) = -0.26894142; d/ds_l = +0.26894142
    torch.testing.assert_close(scores.grad, torch.tensor([[-0.26894142, 0.26894142]]))


def test_ranking_accuracy_and_margin() -> None:
    scores = torch.tensor([[2.0, 1.0, 0.0], [0.0, 1.0, 0.0], [3.0, 3.0, 0.0]])
    ranks = torch.tensor([[0, 1, 2], [0, 1, -1], [0, 1, -1]])
    # prompt 1: 3/3 correct; prompt 2: 0/1 (1 > 0 wrong way); prompt 3: equal scores count as wrong, 0/1
    correct, total = ranking_accuracy(scores, ranks)
    assert (int(correct), int(total)) == (3, 5)
    # margins s_w - s_l: 1, 2, 1, -1, 0 -> 3 / 5 = 0.6
    torch.testing.assert_close(pairwise_margin(scores, ranks), torch.tensor(0.6))


def test_best_of_k_loss() -> None:
    # row 1: uniform over 3 -> ln 3 = 1.09861229; row 2: logits [0, ln 2, 0] -> p(best=1) = 2/4 -> ln 2
    # mean = (1.09861229 + 0.69314718) / 2 = 0.89587973
    scores = torch.tensor([[0.0, 0.0, 0.0], [0.0, LN2, 0.0]])
    torch.testing.assert_close(best_of_k_loss(scores, torch.tensor([2, 1])), torch.tensor(0.89587973))


def test_bias_and_gain() -> None:
    demo = torch.tensor([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0])  # mean 5, population std 2
    torch.testing.assert_close(reward_bias(demo), torch.tensor(5.0))
    gain, bias = gain_and_bias(demo)
    # N(0, 1): gain = 1/2 = 0.5, bias = 0 - 0.5*5 = -2.5
    torch.testing.assert_close((gain, bias), (torch.tensor(0.5), torch.tensor(-2.5)))
    gain, bias = gain_and_bias(demo, target_mean=1.0, target_std=3.0)
    # gain = 3/2 = 1.5, bias = 1 - 1.5*5 = -6.5
    torch.testing.assert_close((gain, bias), (torch.tensor(1.5), torch.tensor(-6.5)))
    with pytest.raises(ValueError, match="zero variance"):
        gain_and_bias(torch.ones(3))


def test_validation() -> None:
    with pytest.raises(ValueError, match="no prompt in the batch has a comparable pair"):
        ranking_loss(torch.zeros(2, 3), torch.tensor([[0, 0, 0], [0, -1, -1]]))
    with pytest.raises(ValueError, match=r"shape mismatch: ranks \(2, 2\) vs scores \(2, 3\)"):
        ranking_loss(torch.zeros(2, 3), torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="ranks must be an integer tensor"):
        ranking_loss(torch.zeros(1, 2), torch.tensor([[0.0, 1.0]]))
    with pytest.raises(ValueError, match="or -1 for an absent"):
        ranking_loss(torch.zeros(1, 2), torch.tensor([[0, -2]]))
    with pytest.raises(ValueError, match=r"best_index must lie in \[0, 3\)"):
        best_of_k_loss(torch.zeros(1, 3), torch.tensor([3]))
