"""Hand-computed checks for rlhfkit.algos.logprobs (RLHF_DETAILS item 22)."""

import math

import pytest
import torch

from rlhfkit.algos import entropy_from_logits, logprobs_from_logits

LN2 = math.log(2.0)


def _logits() -> torch.Tensor:
    # position 0: uniform over 3; position 1: logits [0, 2 ln 2, 0] -> probs [1, 4, 1] / 6
    return torch.tensor([[[0.0, 0.0, 0.0], [0.0, 2 * LN2, 0.0]]])  # (1, 2, 3)


def test_logprobs_hand_computed() -> None:
    tokens = torch.tensor([[2, 1]])
    # log(1/3) = -1.09861229; log(4/6) = -0.40546511
    out = logprobs_from_logits(_logits(), tokens)
    torch.testing.assert_close(out, torch.tensor([[-1.09861229, -0.40546511]]))


def test_logprobs_temperature_divides_logits_first() -> None:
    tokens = torch.tensor([[0, 1]])
    # T = 2: position 1 becomes [0, ln 2, 0] -> probs [1, 2, 1] / 4 -> log(1/2) = -0.69314718; uniform stays log(1/3)
    out = logprobs_from_logits(_logits(), tokens, temperature=2.0)
    torch.testing.assert_close(out, torch.tensor([[-1.09861229, -0.69314718]]))


def test_logprobs_bf16_in_fp32_out_and_grad() -> None:
    logits = _logits().to(torch.bfloat16).requires_grad_(True)
    out = logprobs_from_logits(logits, torch.tensor([[2, 1]]))
    assert out.dtype == torch.float32 and out.shape == (1, 2)
    out.sum().backward()
    # d log softmax(z)_k / dz = onehot(k) - p; position 0, token 2: [-1/3, -1/3, 2/3]
    torch.testing.assert_close(logits.grad[0, 0].float(), torch.tensor([-1 / 3, -1 / 3, 2 / 3]), atol=1e-2, rtol=0)


def test_entropy_hand_computed() -> None:
    # uniform over 3: ln 3 = 1.09861229; [1,4,1]/6: -(2 * 1/6 ln 1/6 + 4/6 ln 4/6) = ln 6 - (2/3) ln 4 = 0.86756323
    torch.testing.assert_close(entropy_from_logits(_logits()), torch.tensor([[1.09861229, 0.86756323]]))
    # T = 2: [1,2,1]/4: -(2 * 1/4 ln 1/4 + 1/2 ln 1/2) = 1.5 ln 2 = 1.03972077
    torch.testing.assert_close(entropy_from_logits(_logits(), temperature=2.0), torch.tensor([[1.09861229, 1.03972077]]))


def test_validation() -> None:
    with pytest.raises(ValueError, match=r"tokens \(B, T\)=\(1, 3\) must match"):
        logprobs_from_logits(_logits(), torch.tensor([[0, 1, 2]]))
    with pytest.raises(ValueError, match=r"must lie in \[0, 3\)"):
        logprobs_from_logits(_logits(), torch.tensor([[0, 3]]))
    with pytest.raises(ValueError, match="temperature must be > 0"):
        logprobs_from_logits(_logits(), torch.tensor([[0, 1]]), temperature=0.0)
    with pytest.raises(ValueError, match=r"logits must be 3-D \(B, T, V\)"):
        entropy_from_logits(torch.zeros(2, 3))
