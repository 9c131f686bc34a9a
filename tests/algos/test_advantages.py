"""Hand-computed checks for rlhfkit.algos.advantages (arXiv 2402.14740 RLOO, arXiv 2402.03300 GRPO)."""

import pytest
import torch

from rlhfkit.algos import broadcast_sequence_advantage, group_normalized_advantages, rloo_advantages

# two prompts, 4 samples each: group 1 = [1, 1, 3, 3], group 2 = [0, 2, 4, 6]
SCORES = torch.tensor([1.0, 1.0, 3.0, 3.0, 0.0, 2.0, 4.0, 6.0])


def test_rloo_two_groups() -> None:
    # group 1: 1 - (1+3+3)/3 = -4/3; 3 - (1+1+3)/3 = 4/3
    # group 2: 0 - (2+4+6)/3 = -4; 2 - (0+4+6)/3 = -4/3; 4 - (0+2+6)/3 = 4/3; 6 - (0+2+4)/3 = 4
    expected = torch.tensor([-4 / 3, -4 / 3, 4 / 3, 4 / 3, -4.0, -4 / 3, 4 / 3, 4.0])
    torch.testing.assert_close(rloo_advantages(SCORES, group_size=4), expected)


def test_group_normalized_two_groups() -> None:
    # group 1: mean 2, population std 1 -> [-1, -1, 1, 1]
    # group 2: mean 3, deviations [-3, -1, 1, 3], population var (9+1+1+9)/4 = 5, std 2.23606798
    #   -> [-1.34164079, -0.44721360, 0.44721360, 1.34164079]
    expected = torch.tensor([-1.0, -1.0, 1.0, 1.0, -1.34164079, -0.44721360, 0.44721360, 1.34164079])
    torch.testing.assert_close(group_normalized_advantages(SCORES, group_size=4, eps=0.0), expected)
    torch.testing.assert_close(group_normalized_advantages(SCORES, group_size=4), expected, atol=1e-5, rtol=1e-5)
    # scale=False: only the group mean is subtracted
    torch.testing.assert_close(
        group_normalized_advantages(SCORES, group_size=4, scale=False),
        torch.tensor([-1.0, -1.0, 1.0, 1.0, -3.0, -1.0, 1.0, 3.0]),
    )
    # a group with equal scores gets 0 (eps keeps it finite)
    torch.testing.assert_close(group_normalized_advantages(torch.full((4,), 2.0), group_size=4), torch.zeros(4))


def test_broadcast_sequence_advantage() -> None:
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    out = broadcast_sequence_advantage(torch.tensor([2.0, -1.0]), mask)
    torch.testing.assert_close(out, torch.tensor([[2.0, 2.0, 0.0], [-1.0, 0.0, 0.0]]))


def test_validation() -> None:
    with pytest.raises(ValueError, match="B=7 is not a multiple of group_size=4"):
        rloo_advantages(torch.zeros(7), group_size=4)
    with pytest.raises(ValueError, match="group_size must be >= 2"):
        rloo_advantages(torch.zeros(4), group_size=1)
    with pytest.raises(ValueError, match="B=6 is not a multiple of group_size=4"):
        group_normalized_advantages(torch.zeros(6), group_size=4)
    with pytest.raises(ValueError, match="disagree on B"):
        broadcast_sequence_advantage(torch.zeros(3), torch.ones(2, 4))
