"""Hand-computed checks of rlhfkit.algos.sampling (items 21, 22, 34)."""

import math

import pytest
import torch

from rlhfkit.algos.sampling import filter_logits, sample_tokens, truncate_at_eos

NEG = float("-inf")


def test_filter_defaults_change_nothing():
    logits = torch.tensor([[1.0, 2.0, 3.0], [0.0, -1.0, 5.0]])
    assert torch.equal(filter_logits(logits), logits)  # item 34: top_k 0, top_p 1


def test_top_k_keeps_the_k_largest():
    out = filter_logits(torch.tensor([[1.0, 4.0, 2.0, 3.0]]), top_k=2)
    assert out.tolist() == [[NEG, 4.0, NEG, 3.0]]


def test_top_p_keeps_the_smallest_nucleus():
    # probabilities 0.5, 0.25, 0.125, 0.125 (log-probs as logits)
    logits = torch.log(torch.tensor([[0.125, 0.5, 0.125, 0.25]]))
    out = filter_logits(logits, top_p=0.7)  # 0.5 < 0.7 <= 0.75: keep the two largest
    assert torch.isinf(out[0, [0, 2]]).all() and torch.isfinite(out[0, [1, 3]]).all()
    out = filter_logits(logits, top_p=0.4)  # the most likely token alone already covers 0.4
    assert torch.isfinite(out[0]).tolist() == [False, True, False, False]


def test_filter_rejects_bad_arguments():
    with pytest.raises(ValueError):
        filter_logits(torch.zeros(1, 3), top_k=-1)
    with pytest.raises(ValueError):
        filter_logits(torch.zeros(1, 3), top_p=0.0)


def test_sample_tokens_follows_the_tempered_distribution():
    logits = torch.log(torch.tensor([[0.2, 0.8]])).expand(20000, 2)
    gen = torch.Generator().manual_seed(0)
    freq = sample_tokens(logits, temperature=1.0, generator=gen).float().mean().item()
    assert freq == pytest.approx(0.8, abs=0.015)
    # T = 2: p proportional to sqrt(p): sqrt(.8) / (sqrt(.2) + sqrt(.8)) = 2/3 (item 22)
    freq_t2 = sample_tokens(logits, temperature=2.0, generator=gen).float().mean().item()
    assert freq_t2 == pytest.approx(2 / 3, abs=0.015)
    assert not math.isclose(freq, freq_t2, abs_tol=0.05)


def test_sample_tokens_is_reproducible_with_a_generator():
    logits = torch.randn(8, 50)
    a = sample_tokens(logits, generator=torch.Generator().manual_seed(3))
    b = sample_tokens(logits, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_truncate_at_the_first_eos():
    eos, pad = 1, 0
    tokens = torch.tensor([[5, 1, 7, 1], [5, 6, 7, 8], [1, 4, 4, 4]])
    out, mask, has_eos = truncate_at_eos(tokens, eos, pad)
    assert out.tolist() == [[5, 1, 0, 0], [5, 6, 7, 8], [1, 0, 0, 0]]
    assert mask.tolist() == [[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]]  # EOS itself counts (item 21)
    assert has_eos.tolist() == [True, False, True]


def test_truncate_refuses_pad_equal_to_eos():
    with pytest.raises(ValueError, match="item 35"):
        truncate_at_eos(torch.tensor([[1, 2]]), eos_id=1, pad_id=1)
