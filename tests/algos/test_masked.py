"""Hand-computed checks for rlhfkit.algos.masked (RLHF_DETAILS items 19, 37)."""

import math

import pytest
import torch

from rlhfkit.algos import explained_variance, masked_mean, masked_sum, masked_var, whiten

NAN = float("nan")


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    # row 0: trailing pad (NaN there must be ignored); row 1: ends after its first token (EOS in the middle)
    x = torch.tensor([[1.0, 2.0, 3.0, NAN], [5.0, 6.0, 7.0, 8.0]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0]], dtype=torch.bool)
    return x, mask


def test_masked_sum_and_mean() -> None:
    x, mask = _data()
    # real entries: 1, 2, 3, 5 -> sum 11, mean 11/4 = 2.75; per row: [6, 5], means [6/3, 5/1] = [2, 5]
    torch.testing.assert_close(masked_sum(x, mask), torch.tensor(11.0))
    torch.testing.assert_close(masked_sum(x, mask, dim=1), torch.tensor([6.0, 5.0]))
    torch.testing.assert_close(masked_mean(x, mask), torch.tensor(2.75))
    torch.testing.assert_close(masked_mean(x, mask, dim=1), torch.tensor([2.0, 5.0]))
    # a 0/1 float mask behaves the same
    torch.testing.assert_close(masked_mean(x, mask.float()), torch.tensor(2.75))


def test_masked_mean_empty_slice_and_empty_mask() -> None:
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    mask = torch.tensor([[1, 1], [0, 0]])
    torch.testing.assert_close(masked_mean(x, mask, dim=1), torch.tensor([1.5, 0.0]))  # empty row -> 0
    with pytest.raises(ValueError, match="no real"):
        masked_mean(x, torch.zeros_like(mask))


def test_masked_var_population_and_unbiased() -> None:
    x, mask = _data()
    # mean 2.75; deviations -1.75, -0.75, 0.25, 2.25; squares 3.0625 + 0.5625 + 0.0625 + 5.0625 = 8.75
    # population (item 37): 8.75 / 4 = 2.1875; unbiased: 8.75 / 3 = 2.916666...
    torch.testing.assert_close(masked_var(x, mask), torch.tensor(2.1875))
    torch.testing.assert_close(masked_var(x, mask, unbiased=True), torch.tensor(8.75 / 3))


def test_whiten_shift_mean() -> None:
    x, mask = _data()
    # (x - 2.75) / sqrt(2.1875 + 1e-8), sqrt(2.1875) = 1.4790199458
    # -1.75/1.47902 = -1.18321596, -0.75/1.47902 = -0.50709255, 0.25/1.47902 = 0.16903085, 2.25/1.47902 = 1.52127766
    out = whiten(x, mask)
    expected = torch.tensor([[-1.18321596, -0.50709255, 0.16903085, 0.0], [1.52127766, 0.0, 0.0, 0.0]])
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(masked_mean(out, mask), torch.tensor(0.0), atol=1e-6, rtol=0)
    torch.testing.assert_close(masked_var(out, mask), torch.tensor(1.0), atol=1e-6, rtol=0)


def test_whiten_keep_mean() -> None:
    x, mask = _data()
    # shift_mean=False (LHP reward whitening): same as above + 2.75 on real entries, 0 on masked ones
    out = whiten(x, mask, shift_mean=False)
    expected = torch.tensor([[1.56678404, 2.24290745, 2.91903085, 0.0], [4.27127766, 0.0, 0.0, 0.0]])
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(masked_mean(out, mask), torch.tensor(2.75))
    torch.testing.assert_close(masked_var(out, mask), torch.tensor(1.0), atol=1e-6, rtol=0)


def test_explained_variance() -> None:
    # real: R = [0, 2, 4, 6], V = [0, 2, 4, 4]; last column is padding with garbage
    returns = torch.tensor([[0.0, 2.0, 99.0], [4.0, 6.0, -99.0]])
    values = torch.tensor([[0.0, 2.0, 0.0], [4.0, 4.0, 0.0]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 0]])
    # Var[R]: mean 3, squared deviations 9, 1, 1, 9 -> 20/4 = 5
    # R - V = [0, 0, 0, 2]: mean 0.5, squares 0.25*3 + 2.25 = 3 -> 3/4 = 0.75;  EV = 1 - 0.75/5 = 0.85
    torch.testing.assert_close(explained_variance(values, returns, mask), torch.tensor(0.85))
    # constant returns: undefined -> nan
    assert math.isnan(float(explained_variance(values, torch.ones_like(returns), mask)))


def test_shape_mismatch_messages() -> None:
    x = torch.zeros(2, 3)
    with pytest.raises(ValueError, match=r"shape mismatch: mask \(2, 4\) vs x \(2, 3\)"):
        masked_mean(x, torch.ones(2, 4))
    with pytest.raises(ValueError, match="shape mismatch"):
        whiten(x, torch.ones(3, 2))
    with pytest.raises(ValueError, match="shape mismatch"):
        explained_variance(x, torch.zeros(2, 2), torch.ones(2, 3))
