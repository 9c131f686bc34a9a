"""Target evaluation of report.json on hand-made reports."""

from __future__ import annotations

import math

import pytest

from rlhfkit.evaluate.report import build_report, check_target, evaluate_targets, flat_scalars

BOUNDS = {"wall_time_s": 600, "wall_time_goal_s": 300, "ppo_vs_sft": 0.7, "ppo_small_vs_base_large": 0.6,
          "hallucination_ratio": 0.5, "toxicity_respectful_ratio": 0.75, "ptx_tax_ratio": 0.5,
          "training_agreement": [0.65, 0.8]}


def test_check_target_operators():
    assert check_target(0.7, ">=", 0.7) and not check_target(0.7, ">", 0.7)
    assert check_target(0.5, "<=", 0.5) and not check_target(0.5, "<", 0.5)
    assert check_target(0.72, "in", [0.65, 0.8]) and not check_target(0.81, "in", [0.65, 0.8])
    assert not check_target(math.nan, ">=", 0.0)
    with pytest.raises(ValueError):
        check_target(1.0, "==", 1.0)


def report(**over):
    r = {"wall_time_s": {"total": 400.0},
         "win_rates": {"ppo_vs_sft": 0.75, "ppo_small_vs_base_large": 0.6},
         "hallucination_rate": {"base_small": 0.6, "ppo_small": 0.3},
         "toxicity_rate_respectful": {"base_small": 0.4, "ppo_small": 0.32},
         "pretrain_loss": {"sft_small": 2.0, "ppo_small": 2.4, "ptx_small": 2.1},
         "labeler_agreement": {"training": 0.72}}
    r.update(over)
    return r


def test_targets_by_hand():
    t = evaluate_targets(report(), BOUNDS)
    assert t["wall_time"]["holds"] and not t["wall_time_goal"]["holds"]  # 400 s: <= 600, > 300
    assert t["ppo_vs_sft"]["holds"] and t["ppo_vs_sft"]["value"] == 0.75
    assert not t["ppo_small_vs_base_large"]["holds"]  # 0.6 is not > 0.6
    assert t["hallucination"]["value"] == pytest.approx(0.5) and t["hallucination"]["holds"]
    assert t["toxicity_respectful"]["value"] == pytest.approx(0.8) and not t["toxicity_respectful"]["holds"]
    # PPO rises 0.4 over SFT, PPO-ptx 0.1 <= 0.5 * 0.4
    assert t["ptx_alignment_tax"]["value"] == pytest.approx(0.1) and t["ptx_alignment_tax"]["holds"]
    assert t["training_agreement"]["holds"]
    assert all({"value", "target", "holds"} <= set(v) for v in t.values())


def test_ptx_tax_misses_when_ptx_rises_more_than_half():
    t = evaluate_targets(report(pretrain_loss={"sft_small": 2.0, "ppo_small": 2.4, "ptx_small": 2.3}), BOUNDS)
    assert not t["ptx_alignment_tax"]["holds"]


def test_missing_figures_do_not_hold():
    t = evaluate_targets({"wall_time_s": {}}, BOUNDS)
    assert not any(v["holds"] for k, v in t.items() if k != "training_agreement")


def test_build_report_has_the_issue_keys():
    ev = {"models": {m: {"hallucination_rate": 0.1, "toxicity_rate_plain": 0.2, "toxicity_rate_respectful": 0.1,
                         "pretrain_loss": 2.0} for m in ("base_small", "sft_small", "ppo_small", "ptx_small")},
          "win_rates": {"ppo_vs_sft": 0.8}, "labeler_agreement": {"training": 0.7, "held_out": 0.75}}
    r = build_report(ev, None, {"flops": {"sft_small": 1.0}}, {"sft_small": 2.0, "total": 3.0}, {"seed": 0}, BOUNDS)
    assert r["hallucination_rate"]["ppo_small"] == 0.1 and r["labeler_agreement"]["held_out"] == 0.75
    assert r["compute_flops"] == {"sft_small": 1.0} and r["wall_time_s"]["total"] == 3.0
    assert r["alignment_tax"]["ppo_rise_over_sft"] == 0.0
    assert set(r["targets"]) >= {"ppo_vs_sft", "hallucination", "training_agreement"}


def test_flat_scalars_skips_non_finite_and_strings():
    assert flat_scalars({"a": {"b": 1, "c": math.nan, "d": "x"}, "e": 2.5}) == {"a/b": 1.0, "e": 2.5}
