"""`rlhfkit pipeline experiment=debug` end to end through the CLI, then again from the cache."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest
from _helpers import run_cli

pytestmark = pytest.mark.slow

MODELS = ("base_small", "base_large", "sft_small", "sft_large", "ppo_small", "ptx_small")
WIN_RATES = ("ppo_vs_sft", "ppo_vs_base", "ppo_small_vs_base_large", "ppo_small_vs_sft_large", "ptx_vs_ppo")
PER_MODEL = ("hallucination_rate", "toxicity_rate_plain", "toxicity_rate_respectful", "pretrain_loss",
             "helpfulness_knowledge")
RATES = ("hallucination_rate", "toxicity_rate_plain", "toxicity_rate_respectful", "helpfulness_knowledge")
STAGES = ("world", "pretrain_small", "pretrain_large", "sft_small", "sft_large", "rankings", "rm", "ppo", "ptx",
          "overopt", "evaluate")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The debug pipeline twice in the same runs directory: (first, second) with stdout and time."""
    root = tmp_path_factory.mktemp("pipeline")
    out = []
    for _ in range(2):
        start = time.perf_counter()
        result = run_cli("pipeline", "experiment=debug", f"paths.runs_dir={root}", timeout=300)
        out.append((result, time.perf_counter() - start))
    return root, out


def stage_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("[pipeline] (")]


def test_debug_pipeline_runs_under_a_minute_and_prints_the_report_path_last(runs):
    _, [(first, seconds), _] = runs
    assert first.returncode == 0, first.stderr[-3000:]
    assert seconds < 60, f"the debug pipeline took {seconds:.1f} s"
    last = first.stdout.strip().splitlines()[-1]
    assert Path(last).is_absolute() and last.endswith("report.json") and Path(last).exists()
    for stage in STAGES:  # progress: a line when each stage starts and one when it is done
        assert any(f") {stage}: running" in l for l in stage_lines(first.stdout)), stage
        assert any(f") {stage}: done in" in l for l in stage_lines(first.stdout)), stage


def finite(x) -> bool:
    return isinstance(x, float) and math.isfinite(x)


def test_report_has_every_key_with_values_in_range(runs):
    _, [(first, _), _] = runs
    path = Path(first.stdout.strip().splitlines()[-1])
    report = json.loads(path.read_text())
    for key in WIN_RATES:
        assert finite(report["win_rates"][key]) and 0 <= report["win_rates"][key] <= 1, key
    for key in PER_MODEL:
        assert set(report[key]) == set(MODELS), key
        for model, value in report[key].items():
            assert finite(value), (key, model)
            if key in RATES:
                assert 0 <= value <= 1, (key, model, value)
    assert report["pretrain_loss"]["base_small"] > 0
    for pool in ("training", "held_out"):
        assert 0 <= report["labeler_agreement"][pool] <= 1
    for stage in STAGES[1:-1]:
        assert finite(report["compute_flops"][stage]) and report["compute_flops"][stage] > 0, stage
    for stage in STAGES:
        assert finite(report["wall_time_s"][stage]) and report["wall_time_s"][stage] >= 0, stage
    assert finite(report["wall_time_s"]["total"]) and report["wall_time_s"]["total"] > 0
    assert set(report["targets"]) >= {"ppo_vs_sft", "ppo_small_vs_base_large", "hallucination", "toxicity_respectful",
                                      "ptx_alignment_tax", "training_agreement", "wall_time"}
    assert all(isinstance(t["holds"], bool) and "target" in t and "value" in t for t in report["targets"].values())
    assert report["seed"] == 0 and report["versions"]["torch"] and report["experiment"] == "debug"
    for group in ("d", "e"):
        assert 0 <= report["win_rates_by_group"]["ppo_vs_sft"][group] <= 1
    points = report["overoptimisation"]["ppo"]["points"]
    assert len(points) >= 2 and points[0]["kl"] == 0.0 and all(finite(p["gold_score"]) for p in points)
    for plot in ("win_rates", "overoptimisation", "alignment_tax"):
        assert (path.parent / f"{plot}.png").stat().st_size > 1000, plot
    assert (path.parent / "report.md").read_text().startswith("# rlhfkit pipeline report")
    # world v2's figures: the bias probe, every group as a judge, best-of-n against the RM
    assert set(report["bias_rate"]) == set(MODELS) and all(0 <= v <= 1 for v in report["bias_rate"].values())
    whose = report["whose_preferences"]
    assert list(whose["groups"]) == ["a", "b", "c", "d", "e"] and whose["ranked_groups"] == ["a", "b", "c"]
    assert all(0 <= g["ppo_vs_sft"] <= 1 and 0 <= g["rm_accuracy"] <= 1 for g in whose["groups"].values())
    assert 0 <= whose["gap"]["ppo_vs_sft"] <= 1
    bon = report["best_of_n"]
    assert [p["n"] for p in bon["points"]] == [1, 2, 4, 8, 16, 32] and bon["points"][0]["kl"] == 0.0
    assert 0 <= bon["at_ppo_kl"]["bon_vs_sft"] <= 1 and bon["at_ppo_kl"]["n"] in (1, 2, 4, 8, 16, 32)
    assert set(report["targets"]) >= {"bias", "ppo_vs_base", "base_large_vs_base_small", "truthfulness",
                                      "rlhf_share_of_small_pretraining", "overoptimisation_peak"}


def test_a_rerun_is_served_from_the_cache(runs):
    root, [(first, t1), (second, t2)] = runs
    assert second.returncode == 0, second.stderr[-3000:]
    lines = stage_lines(second.stdout)
    assert len(lines) == len(STAGES) and all(": cached, skipped" in l for l in lines), lines
    assert t2 < t1
    first_report = json.loads(Path(first.stdout.strip().splitlines()[-1]).read_text())
    second_report = json.loads(Path(second.stdout.strip().splitlines()[-1]).read_text())
    assert second_report["cached_stages"] == list(STAGES)
    assert second_report["win_rates"] == first_report["win_rates"]  # the same stage outputs
    assert second_report["wall_time_s"]["this_run"] < first_report["wall_time_s"]["this_run"]
    assert sorted(p.name.split("-")[0] for p in (root / "cache").iterdir()) == sorted(STAGES)


def test_changing_one_stage_reruns_it_and_what_reads_it(runs):
    root, _ = runs
    result = run_cli("pipeline", "experiment=debug", f"paths.runs_dir={root}",
                     'stages.rm.overrides=["stage.max_epochs=1","stage.batch_size=8","stage.max_length=64"]', timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = {l.split(") ")[1].split(":")[0]: l for l in stage_lines(result.stdout) if "running" not in l}
    for stage in ("world", "pretrain_small", "pretrain_large", "sft_small", "sft_large", "rankings"):
        assert "cached" in lines[stage], lines[stage]
    for stage in ("rm", "ppo", "ptx", "overopt", "evaluate"):
        assert "done in" in lines[stage], lines[stage]


def test_seeds_multirun_writes_a_summary(tmp_path):
    result = run_cli("pipeline", "-m", "experiment=debug", "seed=0,1", f"paths.runs_dir={tmp_path}", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = Path(result.stdout.strip().splitlines()[-1])
    assert summary.name == "summary.json"
    data = json.loads(summary.read_text())
    assert data["seeds"] == [0, 1]
    stats = data["figures"]["win_rates/ppo_vs_sft"]
    assert stats["n"] == 2 and stats["min"] <= stats["mean"] <= stats["max"] and stats["std"] >= 0
    assert (summary.parent / "summary.md").exists()


def test_hh_recipe_without_its_data_fails_with_a_clear_message(tmp_path):
    result = run_cli("pipeline", "experiment=hh", "hh.path=/nonexistent/hh.jsonl.gz", f"paths.runs_dir={tmp_path}",
                     timeout=120)
    assert result.returncode == 2
    assert "hh.path" in result.stderr and "/nonexistent/hh.jsonl.gz" in result.stderr


def test_hh_recipe_end_to_end_tiny(tmp_path, shared_data):
    result = run_cli("pipeline", "experiment=hh", f"hh.path={shared_data / 'hh-rlhf-harmless-base-test.jsonl.gz'}",
                     "hh.n_sft=48", "hh.n_rm=48", "hh.n_ppo=16", "hh.n_eval=8", "sizes.small=nano", "workers=1",
                     "report.wandb=disabled", 'common=["trainer=cpu","logger=none","callbacks=pipeline","callbacks.progress_bar=null",'
                     '"trainer.enable_progress_bar=false"]',
                     'stages.ppo.overrides=["stage.total_steps=2","stage.rollout_batch_size=8","stage.minibatch_size=8","stage.ppo_epochs=1"]',
                     f"paths.runs_dir={tmp_path}", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(Path(result.stdout.strip().splitlines()[-1]).read_text())
    assert 0 <= report["win_rates"]["ppo_vs_sft_by_rm"] <= 1
    assert 0 <= report["rm_accuracy"]["heldout_pairs"] <= 1
    assert set(report["rm_score"]) == {"sft_small", "ppo_small"}
    assert report["experiment"] == "hh" and "ppo_vs_sft" not in report["targets"]
