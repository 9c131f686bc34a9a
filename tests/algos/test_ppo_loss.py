"""Hand-computed checks for rlhfkit.algos.ppo_loss (RLHF_DETAILS item 20; arXiv 1707.06347 eq. 7)."""

import math

import pytest
import torch

from rlhfkit.algos import ppo_policy_loss, ppo_value_loss


def test_policy_loss_one_clipped_one_unclipped() -> None:
    # token 0: A = 1, rho = 1.5 -> -A*rho = -1.5, -A*clip(rho, 0.8, 1.2) = -1.2; max = -1.2 (clipped)
    # token 1: A = 2, rho = 1.1 -> both terms -2.2; max = -2.2 (not clipped)
    # token 2: masked (huge ratio and advantage must not count)
    old = torch.zeros(1, 3)
    logprobs = torch.tensor([[math.log(1.5), math.log(1.1), 5.0]], requires_grad=True)
    adv = torch.tensor([[1.0, 2.0, 100.0]])
    mask = torch.tensor([[1, 1, 0]])
    loss, stats = ppo_policy_loss(logprobs, old, adv, mask, clip_range=0.2)
    # loss = (-1.2 - 2.2) / 2 = -1.7
    torch.testing.assert_close(loss, torch.tensor(-1.7))
    torch.testing.assert_close(stats["clip_fraction"], torch.tensor(0.5))  # 1 of 2 real tokens
    torch.testing.assert_close(stats["ratio_mean"], torch.tensor(1.3))  # (1.5 + 1.1) / 2
    # approx_kl (k3) = mean((rho - 1) - ln rho) = ((0.5 - 0.40546511) + (0.1 - 0.09531018)) / 2 = 0.04961236
    torch.testing.assert_close(stats["approx_kl"], torch.tensor(0.04961236))
    assert all(v.dim() == 0 and not v.requires_grad for v in stats.values())
    loss.backward()
    # clipped token: no gradient; unclipped: d(-A*rho/2)/dlogp = -A*rho/2 = -2*1.1/2 = -1.1; masked: 0
    torch.testing.assert_close(logprobs.grad, torch.tensor([[0.0, -1.1, 0.0]]))


def test_policy_loss_pessimistic_bound_negative_advantage() -> None:
    # A = -1, rho = 1.5: -A*rho = 1.5 > -A*clip = 1.2 -> unclipped term kept (max), clip_fraction 0
    # A = -1, rho = 0.5: -A*rho = 0.5 < -A*clip = 0.8 -> clipped term kept, clip_fraction counts it
    logprobs = torch.tensor([[math.log(1.5), math.log(0.5)]])
    loss, stats = ppo_policy_loss(logprobs, torch.zeros(1, 2), -torch.ones(1, 2), torch.ones(1, 2), clip_range=0.2)
    torch.testing.assert_close(loss, torch.tensor(1.15))  # (1.5 + 0.8) / 2
    torch.testing.assert_close(stats["clip_fraction"], torch.tensor(0.5))


def test_value_loss_clipping() -> None:
    # c = 0.2
    # t0: V=1.0, V_old=0.5, R=2: clip(V) = 0.7; (V-R)^2 = 1, (0.7-2)^2 = 1.69 -> 1.69 (clipped term larger)
    # t1: V=0.6, V_old=0.5, R=2: clip(V) = 0.6; both 1.96 -> 1.96 (not clipped)
    # t2: V=1.0, V_old=0.5, R=0: clip(V) = 0.7; (V-R)^2 = 1, 0.49 -> 1 (unclipped larger)
    # t3: masked
    values = torch.tensor([[1.0, 0.6, 1.0, 30.0]])
    old_values = torch.tensor([[0.5, 0.5, 0.5, 0.0]])
    returns = torch.tensor([[2.0, 2.0, 0.0, -30.0]])
    mask = torch.tensor([[1, 1, 1, 0]])
    loss, stats = ppo_value_loss(values, old_values, returns, mask, clip_range=0.2)
    # 0.5 * (1.69 + 1.96 + 1) / 3 = 0.5 * 4.65 / 3 = 0.775
    torch.testing.assert_close(loss, torch.tensor(0.775))
    torch.testing.assert_close(stats["clip_fraction"], torch.tensor(1 / 3))


def test_validation() -> None:
    z = torch.zeros(2, 3)
    with pytest.raises(ValueError, match=r"shape mismatch: advantages \(2, 2\) vs logprobs \(2, 3\)"):
        ppo_policy_loss(z, z, torch.zeros(2, 2), torch.ones(2, 3), clip_range=0.2)
    with pytest.raises(ValueError, match=r"shape mismatch: returns \(3, 2\) vs values \(2, 3\)"):
        ppo_value_loss(z, z, torch.zeros(3, 2), torch.ones(2, 3), clip_range=0.2)
    with pytest.raises(ValueError, match="clip_range must be > 0"):
        ppo_policy_loss(z, z, z, torch.ones(2, 3), clip_range=0.0)


def test_garbage_on_padding_gives_finite_grads() -> None:
    # masked token: old logprob -1000 -> log ratio ~1000 would overflow exp(); it must not poison the gradients
    logprobs = torch.tensor([[math.log(1.1), 0.0]], requires_grad=True)
    old = torch.tensor([[0.0, -1000.0]])
    loss, _ = ppo_policy_loss(logprobs, old, torch.tensor([[2.0, 1.0]]), torch.tensor([[1, 0]]), clip_range=0.2)
    loss.backward()
    # only token 0 counts: loss = -2*1.1 = -2.2, grad = -2.2; masked grad 0
    torch.testing.assert_close(loss, torch.tensor(-2.2))
    torch.testing.assert_close(logprobs.grad, torch.tensor([[-2.2, 0.0]]))
