"""ppo_total_loss: pg + vf_coef * vf + ptx_coef * ptx (items 12, 13, 20), hand-computed."""

import pytest
import torch

from rlhfkit.algos.ppo_objective import ppo_total_loss


def test_hand_computed_totals():
    pg, vf, ptx = torch.tensor(0.5), torch.tensor(2.0), torch.tensor(3.0)
    assert ppo_total_loss(pg).item() == 0.5
    assert ppo_total_loss(pg, vf, vf_coef=0.1).item() == pytest.approx(0.7)
    assert ppo_total_loss(pg, vf, 0.1, ptx, ptx_coef=27.8).item() == pytest.approx(0.7 + 83.4)
    assert ppo_total_loss(pg, vf, 0.1, ptx, ptx_coef=0.0).item() == pytest.approx(0.7)  # gamma 0 = PPO


def test_gradients_accumulate_from_both_terms():
    w = torch.tensor(1.0, requires_grad=True)
    ppo_total_loss(2 * w, None, 0.1, 3 * w, ptx_coef=2.0).backward()
    assert w.grad.item() == pytest.approx(2 + 2 * 3)  # item 13: PPO and pretraining gradients summed


def test_negative_ptx_coef_is_refused():
    with pytest.raises(ValueError):
        ppo_total_loss(torch.tensor(0.0), ptx_loss=torch.tensor(1.0), ptx_coef=-1.0)
