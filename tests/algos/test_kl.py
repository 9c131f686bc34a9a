"""Hand-computed checks for rlhfkit.algos.kl (joschu.net/blog/kl-approx.html)."""

import pytest
import torch

from rlhfkit.algos import KL_ESTIMATORS, kl_penalty

LOGP = torch.tensor([[-1.0, -2.0]])
LOGQ = torch.tensor([[-2.0, -1.0]])  # logp - logq = [1, -1]; log r = logq - logp = [-1, 1]


@pytest.mark.parametrize(
    ("estimator", "expected"),
    [
        ("k1", [1.0, -1.0]),  # logp - logq
        ("k2", [0.5, 0.5]),  # 0.5 * (+-1)^2
        # (r - 1) - log r: r = e^-1 -> e^-1 - 1 + 1 = e^-1 = 0.36787944; r = e -> e - 1 - 1 = e - 2 = 0.71828183
        ("k3", [0.36787944, 0.71828183]),
        ("abs", [1.0, 1.0]),
    ],
)
def test_estimators_on_two_values(estimator: str, expected: list[float]) -> None:
    torch.testing.assert_close(kl_penalty(LOGP, LOGQ, estimator), torch.tensor([expected]))


def test_equal_distributions_give_zero() -> None:
    for estimator in KL_ESTIMATORS:
        torch.testing.assert_close(kl_penalty(LOGP, LOGP, estimator), torch.zeros(1, 2))


def test_default_is_k1_and_names() -> None:
    assert KL_ESTIMATORS == ("k1", "k2", "k3", "abs")
    torch.testing.assert_close(kl_penalty(LOGP, LOGQ), torch.tensor([[1.0, -1.0]]))


def test_validation() -> None:
    with pytest.raises(ValueError, match="unknown KL estimator 'k4'; valid: k1, k2, k3, abs"):
        kl_penalty(LOGP, LOGQ, "k4")
    with pytest.raises(ValueError, match=r"shape mismatch: ref_logprobs \(1, 3\) vs logprobs \(1, 2\)"):
        kl_penalty(LOGP, torch.zeros(1, 3))
