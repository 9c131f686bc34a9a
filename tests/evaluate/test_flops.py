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


def _token_stage(tmp_path, name: str, params: int, train_tokens: int):
    from types import SimpleNamespace

    d = tmp_path / name
    d.mkdir()
    (d / "tokens.json").write_text(f'{{"params": {params}, "train_tokens": {train_tokens}, "forward_tokens": 0}}')
    return SimpleNamespace(dir=d, stage=name.split("_")[0], metrics={})


def test_the_share_of_pretraining_uses_each_recipes_own_stage_names(tmp_path):
    from rlhfkit.pipeline.accounting import stage_compute
    from rlhfkit.pipeline.recipes import COMPUTE_ROLES

    # the HH recipe: stages pretrain, sft, rm (PPO left out here); 6N per trained token
    hh = {n: _token_stage(tmp_path, n, 10, t) for n, t in [("pretrain", 1000), ("sft", 50), ("rm", 20)]}
    share_hh = stage_compute(hh, None, COMPUTE_ROLES["hh"])["rlhf_share_of_pretraining"]
    assert share_hh["sft_rm_ppo"] == pytest.approx((6 * 10 * 50 + 6 * 10 * 20) / (6 * 10 * 1000))  # 0.07
    assert math.isnan(share_hh["sft_rm_ptx"]) and math.isnan(share_hh["ptx_only"])  # HH has no PPO-ptx stage
    # the same stages under the world recipe's names find no pretraining: every share is NaN
    world = stage_compute(hh, None, COMPUTE_ROLES["world"])["rlhf_share_of_pretraining"]
    assert math.isnan(world["sft_rm_ppo"])
    # the world's names: pretrain_small is the base, sft_small the SFT
    named = {"pretrain_small": hh["pretrain"], "sft_small": hh["sft"], "rm": hh["rm"]}
    assert stage_compute(named, None, COMPUTE_ROLES["world"])["rlhf_share_of_pretraining"]["sft_rm_ppo"] == \
        pytest.approx(0.07)
