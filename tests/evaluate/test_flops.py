"""FLOPs arithmetic against hand computations (6N per trained token, 2N per forward token)."""

from __future__ import annotations

import math

import pytest

from rlhfkit.evaluate.flops import PFS_DAY, forward_flops, pfs_days, ppo_flops, share, stage_flops, train_flops


def test_train_and_forward_flops():
    assert train_flops(1000, 50) == 300_000  # 6 * 1000 * 50
    assert forward_flops(1000, 50) == 100_000  # 2 * 1000 * 50
    assert stage_flops(1000, train_tokens=50, forward_tokens=10) == 300_000 + 20_000


def test_petaflop_days_and_share():
    assert PFS_DAY == 8.64e19
    assert pfs_days(8.64e19) == 1.0
    assert share(60, 3640) == pytest.approx(0.016483516)
    assert math.isnan(share(1.0, 0.0))


def test_ppo_flops_by_hand():
    # policy 10, value 20, reward 30 params; 2 iterations of 4 episodes, 3 prompt + 2 response tokens,
    # 2 epochs: tokens per iteration 4 * 5 = 20
    out = ppo_flops(10, 20, 30, iterations=2, episodes=4, prompt_tokens=3, response_tokens=2, ppo_epochs=2,
                    ptx_tokens=100)
    sampling = 2 * 10 * 20          # 400
    scoring = 2 * (10 + 10 + 20 + 30) * 20  # 2800 (policy, reference, value, reward)
    updates = 2 * 6 * (10 + 20) * 20  # 7200
    assert out["sampling"] == 2 * sampling and out["scoring"] == 2 * scoring and out["updates"] == 2 * updates
    assert out["ptx"] == 6 * 10 * 100
    assert out["total"] == 2 * (sampling + scoring + updates) + 6000


def test_critical_path_and_wall_time_by_hand():
    from rlhfkit.pipeline.accounting import critical_path, pipeline_wall_time

    dag = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}
    times = {"a": 1.0, "b": 2.0, "c": 5.0, "d": 1.0}
    assert critical_path(dag, times) == 7.0  # a + c + d
    assert pipeline_wall_time(dag, times, [], this_run=8.5, workers=2) == 8.5  # nothing cached: measured
    # a, c cached; this run: 4 s for b + d (critical path 2 + 1 = 3) -> 1 s overhead + 7 s
    assert pipeline_wall_time(dag, times, ["a", "c"], this_run=4.0, workers=2) == 8.0
    assert pipeline_wall_time(dag, times, ["a", "c"], this_run=4.0, workers=1) == 1.0 + 9.0  # summed
