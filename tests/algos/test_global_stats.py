"""Global (all-rank) masked statistics: one process equals the local ones; two simulated ranks
equal the statistics of the concatenated batch."""

import threading

import pytest
import torch

from rlhfkit.algos import masked_mean, masked_var, whiten
from rlhfkit.algos.global_stats import global_masked_mean, global_masked_var, global_whiten


def fake_ranks(n: int):
    """``n`` all_reduce(sum) functions that meet at a barrier, one per simulated rank (thread)."""
    slots: list = [None] * n
    barrier = threading.Barrier(n)

    def make(rank: int):
        def all_reduce(t: torch.Tensor) -> torch.Tensor:
            slots[rank] = t.clone()
            barrier.wait()
            total = torch.stack(slots).sum(0)
            barrier.wait()  # everyone has read before the slots are reused
            return total
        return all_reduce

    return [make(r) for r in range(n)]


def run_ranks(fn, shards):
    reducers = fake_ranks(len(shards))
    results = [None] * len(shards)

    def worker(r):
        results[r] = fn(*shards[r], reducers[r])

    threads = [threading.Thread(target=worker, args=(r,)) for r in range(len(shards))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_hand_computed_mean_and_var():
    x = torch.tensor([[1.0, 2.0, 100.0], [3.0, 4.0, 5.0]])
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    assert global_masked_mean(x, mask).item() == pytest.approx(2.0)  # (1 + 2 + 3) / 3
    assert global_masked_var(x, mask).item() == pytest.approx(2 / 3)  # population (item 37)


def test_single_process_equals_local():
    torch.manual_seed(0)
    x, mask = torch.randn(4, 6), torch.rand(4, 6) > 0.3
    assert torch.allclose(global_masked_mean(x, mask), masked_mean(x, mask))
    assert torch.allclose(global_masked_var(x, mask), masked_var(x, mask))
    for shift in (True, False):
        assert torch.allclose(global_whiten(x, mask, shift_mean=shift), whiten(x, mask, shift_mean=shift), atol=1e-6)


def test_two_ranks_equal_the_whole_batch():
    torch.manual_seed(1)
    x, mask = torch.randn(6, 5) * 3 + 1, torch.rand(6, 5) > 0.4
    mask[0, 0] = True
    shards = [(x[:3], mask[:3]), (x[3:], mask[3:])]
    whole = whiten(x, mask)
    outs = run_ranks(lambda a, m, red: global_whiten(a, m, all_reduce=red), shards)
    assert torch.allclose(torch.cat(outs), whole, atol=1e-5)
    means = run_ranks(lambda a, m, red: global_masked_mean(a, m, red), shards)
    assert all(torch.allclose(mu, masked_mean(x, mask)) for mu in means)
    # whitening each half locally would not give the global result
    local = torch.cat([whiten(a, m) for a, m in shards])
    assert not torch.allclose(local, whole, atol=1e-3)


def test_rank_without_real_entries_still_gets_the_global_stats():
    x = torch.tensor([[1.0, 3.0], [5.0, 7.0]])
    shards = [(x[:1], torch.tensor([[1, 1]])), (x[1:], torch.tensor([[0, 0]]))]
    means = run_ranks(lambda a, m, red: global_masked_mean(a, m, red), shards)
    assert [mu.item() for mu in means] == [2.0, 2.0]


def test_no_real_entry_anywhere_raises():
    with pytest.raises(ValueError):
        global_masked_mean(torch.ones(2, 2), torch.zeros(2, 2))


def test_explained_variance_matches_local_and_splits():
    from rlhfkit.algos import explained_variance
    from rlhfkit.algos.global_stats import global_explained_variance

    torch.manual_seed(2)
    r = torch.randn(6, 4)
    v = r + 0.3 * torch.randn(6, 4)
    mask = torch.ones(6, 4, dtype=torch.bool)
    assert torch.allclose(global_explained_variance(v, r, mask), explained_variance(v, r, mask), atol=1e-6)
    outs = run_ranks(lambda a, b, m, red: global_explained_variance(a, b, m, red),
                     [(v[:3], r[:3], mask[:3]), (v[3:], r[3:], mask[3:])])
    assert all(torch.allclose(o, explained_variance(v, r, mask), atol=1e-5) for o in outs)
    # hand-computed: V = 0 explains nothing; V = R explains everything
    assert global_explained_variance(torch.zeros(1, 2), torch.tensor([[1.0, 3.0]]), torch.ones(1, 2)).item() == pytest.approx(0.0)
    assert global_explained_variance(torch.tensor([[1.0, 3.0]]), torch.tensor([[1.0, 3.0]]), torch.ones(1, 2)).item() == 1.0
