"""Hand-computed checks for rlhfkit.algos.gae (RLHF_DETAILS item 18)."""

import pytest
import torch

from rlhfkit.algos import gae


def test_gamma1_lam095_1x3() -> None:
    rewards = torch.tensor([[0.0, 0.0, 1.0]])
    values = torch.tensor([[0.5, 0.5, 0.5]])
    mask = torch.ones(1, 3)
    # delta_2 = 1 + 1*0 - 0.5 = 0.5 (V after the last token = 0); delta_1 = 0 + 0.5 - 0.5 = 0; delta_0 = 0
    # A_2 = 0.5; A_1 = 0 + 0.95*0.5 = 0.475; A_0 = 0 + 0.95*0.475 = 0.45125
    # returns = A + V = [0.95125, 0.975, 1.0]
    adv, ret = gae(rewards, values, mask, gamma=1.0, lam=0.95)
    torch.testing.assert_close(adv, torch.tensor([[0.45125, 0.475, 0.5]]))
    torch.testing.assert_close(ret, torch.tensor([[0.95125, 0.975, 1.0]]))


def test_gamma09_1x3() -> None:
    rewards = torch.tensor([[0.0, 0.0, 1.0]])
    values = torch.tensor([[0.5, 0.5, 0.5]])
    mask = torch.ones(1, 3)
    # delta_2 = 1 - 0.5 = 0.5; delta_1 = 0 + 0.9*0.5 - 0.5 = -0.05; delta_0 = -0.05
    # lam = 1: A_1 = -0.05 + 0.9*0.5 = 0.4; A_0 = -0.05 + 0.9*0.4 = 0.31
    #   returns = [0.81, 0.9, 1.0] = discounted returns 0.9^2, 0.9^1, 0.9^0
    adv, ret = gae(rewards, values, mask, gamma=0.9, lam=1.0)
    torch.testing.assert_close(adv, torch.tensor([[0.31, 0.4, 0.5]]))
    torch.testing.assert_close(ret, torch.tensor([[0.81, 0.9, 1.0]]))
    # lam = 0.5 (g*l = 0.45): A_1 = -0.05 + 0.45*0.5 = 0.175; A_0 = -0.05 + 0.45*0.175 = 0.02875
    adv, ret = gae(rewards, values, mask, gamma=0.9, lam=0.5)
    torch.testing.assert_close(adv, torch.tensor([[0.02875, 0.175, 0.5]]))
    torch.testing.assert_close(ret, torch.tensor([[0.52875, 0.675, 1.0]]))


def test_masked_rows_trailing_pad_and_early_eos() -> None:
    # garbage rewards/values at masked positions must not leak in
    rewards = torch.tensor([[0.0, 0.0, 1.0, 9.0], [0.0, 2.0, 7.0, 7.0]])
    values = torch.tensor([[0.5, 0.5, 0.5, 100.0], [1.0, 1.0, 50.0, 50.0]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]], dtype=torch.bool)
    # row 0: as test_gamma1_lam095_1x3 (position 3 is terminal padding)
    # row 1 ends at t=1: delta_1 = 2 + 1*0 - 1 = 1; delta_0 = 0 + 1 - 1 = 0
    #   A_1 = 1; A_0 = 0 + 0.95*1 = 0.95; returns = [1.95, 2.0]
    adv, ret = gae(rewards, values, mask, gamma=1.0, lam=0.95)
    torch.testing.assert_close(adv, torch.tensor([[0.45125, 0.475, 0.5, 0.0], [0.95, 1.0, 0.0, 0.0]]))
    torch.testing.assert_close(ret, torch.tensor([[0.95125, 0.975, 1.0, 0.0], [1.95, 2.0, 0.0, 0.0]]))


def test_no_gradient_flows() -> None:
    values = torch.tensor([[0.5, 0.5]], requires_grad=True)
    adv, ret = gae(torch.tensor([[0.0, 1.0]]), values, torch.ones(1, 2), gamma=1.0, lam=0.95)
    assert not adv.requires_grad and not ret.requires_grad


def test_validation() -> None:
    with pytest.raises(ValueError, match=r"shape mismatch: values \(1, 2\) vs rewards \(1, 3\)"):
        gae(torch.zeros(1, 3), torch.zeros(1, 2), torch.ones(1, 3), gamma=1.0, lam=0.95)
    with pytest.raises(ValueError, match=r"gamma must be in \[0, 1\]"):
        gae(torch.zeros(1, 3), torch.zeros(1, 3), torch.ones(1, 3), gamma=1.5, lam=0.95)
    with pytest.raises(ValueError, match=r"rewards must be 2-D \(B, T\)"):
        gae(torch.zeros(3), torch.zeros(3), torch.ones(3), gamma=1.0, lam=0.95)
