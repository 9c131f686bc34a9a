"""Hand-computed checks for rlhfkit.algos.reward_shaping (RLHF_DETAILS items 15, 21)."""

import pytest
import torch

from rlhfkit.algos import apply_missing_eos_penalty, last_token_index, shape_rewards


def _batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    scores = torch.tensor([2.0, -1.0])
    logprobs = torch.tensor([[-1.0, -1.0, -1.0, -1.0], [-2.0, -2.0, -2.0, -2.0]])
    ref_logprobs = torch.tensor([[-1.5, -0.5, -1.25, 5.0], [-1.0, -2.5, 9.0, 9.0]])
    # row 0: 3 real tokens + trailing pad; row 1: EOS at t=1, the rest masked
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]], dtype=torch.bool)
    return scores, logprobs, ref_logprobs, mask


def test_shape_rewards_k1_score_at_last_real_token() -> None:
    scores, logprobs, ref_logprobs, mask = _batch()
    # row 0: kl = [-1+1.5, -1+0.5, -1+1.25] = [0.5, -0.5, 0.25]; -0.1*kl = [-0.05, 0.05, -0.025]; + 2 at t=2 -> 1.975
    #        sequence_kl = 0.5 - 0.5 + 0.25 = 0.25
    # row 1: kl = [-2+1, -2+2.5] = [-1, 0.5]; -0.1*kl = [0.1, -0.05]; + (-1) at t=1 -> -1.05; sequence_kl = -0.5
    rewards, seq_kl = shape_rewards(scores, logprobs, ref_logprobs, mask, kl_coef=0.1)
    torch.testing.assert_close(rewards, torch.tensor([[-0.05, 0.05, 1.975, 0.0], [0.1, -1.05, 0.0, 0.0]]))
    torch.testing.assert_close(seq_kl, torch.tensor([0.25, -0.5]))


def test_shape_rewards_k2() -> None:
    scores, logprobs, ref_logprobs, mask = _batch()
    # k2 = 0.5*d^2: row 0 [0.125, 0.125, 0.03125] -> rewards [-0.0125, -0.0125, -0.003125 + 2 = 1.996875], sum 0.28125
    #               row 1 [0.5, 0.125] -> rewards [-0.05, -0.0125 - 1 = -1.0125], sum 0.625
    rewards, seq_kl = shape_rewards(scores, logprobs, ref_logprobs, mask, kl_coef=0.1, estimator="k2")
    torch.testing.assert_close(rewards, torch.tensor([[-0.0125, -0.0125, 1.996875, 0.0], [-0.05, -1.0125, 0.0, 0.0]]))
    torch.testing.assert_close(seq_kl, torch.tensor([0.28125, 0.625]))


def test_last_token_index_with_hole() -> None:
    mask = torch.tensor([[1, 0, 1, 0], [1, 1, 1, 1], [1, 0, 0, 0]])
    torch.testing.assert_close(last_token_index(mask), torch.tensor([2, 3, 0]))


def test_validation() -> None:
    scores, logprobs, ref_logprobs, mask = _batch()
    empty = mask.clone()
    empty[1] = False
    with pytest.raises(ValueError, match=r"mask rows \[1\] have no real token"):
        shape_rewards(scores, logprobs, ref_logprobs, empty, kl_coef=0.1)
    with pytest.raises(ValueError, match="disagree on B"):
        shape_rewards(torch.zeros(3), logprobs, ref_logprobs, mask, kl_coef=0.1)
    with pytest.raises(ValueError, match=r"shape mismatch: mask \(2, 3\) vs logprobs \(2, 4\)"):
        shape_rewards(scores, logprobs, ref_logprobs, mask[:, :3], kl_coef=0.1)
    with pytest.raises(ValueError, match="valid: k1, k2, k3, abs"):
        shape_rewards(scores, logprobs, ref_logprobs, mask, kl_coef=0.1, estimator="kl")


def test_missing_eos_penalty() -> None:
    scores = torch.tensor([1.0, 2.0, -0.5])
    has_eos = torch.tensor([True, False, False])
    # TRL: subtract 1 where no EOS -> [1, 1, -1.5]
    torch.testing.assert_close(apply_missing_eos_penalty(scores, has_eos, 1.0, "subtract"), torch.tensor([1.0, 1.0, -1.5]))
    # LHP: replace by -1 where no EOS -> [1, -1, -1]
    torch.testing.assert_close(apply_missing_eos_penalty(scores, has_eos, -1.0, "replace"), torch.tensor([1.0, -1.0, -1.0]))
    with pytest.raises(ValueError, match="valid: subtract, replace"):
        apply_missing_eos_penalty(scores, has_eos, 1.0, "clip")
    with pytest.raises(ValueError, match="must be a bool tensor"):
        apply_missing_eos_penalty(scores, has_eos.long(), 1.0, "subtract")
