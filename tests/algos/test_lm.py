"""The SFT loss masking, checked by hand on a toy batch."""

import math

import pytest
import torch

from rlhfkit.algos.lm import masked_lm_loss, token_nll


def test_token_nll_uniform_logits():
    logits = torch.zeros(1, 3, 4)  # uniform over 4 tokens: every nll is log 4
    nll = token_nll(logits, torch.tensor([[0, 1, 2]]))
    torch.testing.assert_close(nll, torch.full((1, 2), math.log(4)))


def test_completion_only_mask_by_hand():
    # vocab 2; sequence [p, c1, c2] = [0, 1, 0]; logits at each position favour token 1 by 1 nat
    logits = torch.tensor([[[0.0, 1.0], [0.0, 1.0], [0.0, 1.0]]])
    ids = torch.tensor([[0, 1, 0]])
    # log-softmax: token 1 -> -log(1 + e^-1) = -0.31326; token 0 -> -1 - 0.31326 = -1.31326
    nll_c1, nll_c2 = 0.31326169, 1.31326169
    completion_mask = torch.tensor([[0, 1, 1]])  # prompt is token 0
    loss, n = masked_lm_loss(logits, ids, completion_mask)
    assert n.item() == 2 and loss.item() == pytest.approx((nll_c1 + nll_c2) / 2, abs=1e-6)
    only_last = torch.tensor([[0, 0, 1]])
    loss, n = masked_lm_loss(logits, ids, only_last)
    assert n.item() == 1 and loss.item() == pytest.approx(nll_c2, abs=1e-6)


def test_padding_rows_are_weighted_by_tokens():
    logits = torch.zeros(2, 3, 2)  # nll log 2 everywhere
    ids = torch.tensor([[0, 1, 1], [0, 1, 0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])  # row 2 has one pad
    loss, n = masked_lm_loss(logits, ids, mask)
    assert n.item() == 3 and loss.item() == pytest.approx(math.log(2))


def test_empty_mask_raises():
    with pytest.raises(ValueError, match="selects no token"):
        masked_lm_loss(torch.zeros(1, 2, 2), torch.tensor([[0, 1]]), torch.tensor([[1, 0]]))
