"""The seed summary's statistics by hand."""

from __future__ import annotations

import json
import math

import pytest

from rlhfkit.pipeline.seeds import flatten, statistics, summarise, write_summary


def test_statistics_by_hand():
    s = statistics([1.0, 2.0, 3.0])
    assert s["mean"] == 2.0 and s["min"] == 1.0 and s["max"] == 3.0 and s["n"] == 3
    assert s["std"] == pytest.approx(math.sqrt(2 / 3))  # population std: ((1 + 0 + 1) / 3) ** 0.5
    assert statistics([4.0, math.nan])["mean"] == 4.0  # NaN ignored
    assert math.isnan(statistics([])["mean"])


def test_flatten_and_summarise():
    reports = [{"win_rates": {"ppo_vs_sft": 0.6}, "targets": {"x": {"holds": True, "value": 1.0, "target": ">= 1"}},
                "config": {"seed": 0}},
               {"win_rates": {"ppo_vs_sft": 0.8}, "targets": {"x": {"holds": False, "value": 0.5, "target": ">= 1"}},
                "config": {"seed": 1}}]
    assert flatten(reports[0]) == {"win_rates/ppo_vs_sft": 0.6, "targets/x/holds": 1.0, "targets/x/value": 1.0}
    s = summarise(reports)
    assert s["win_rates/ppo_vs_sft"]["mean"] == pytest.approx(0.7)
    assert s["win_rates/ppo_vs_sft"]["std"] == pytest.approx(0.1)
    assert s["targets/x/holds"]["mean"] == 0.5  # the share of seeds where the target holds


def test_write_summary(tmp_path):
    for i, v in enumerate([0.5, 0.7, 0.9]):
        (tmp_path / str(i)).mkdir()
        (tmp_path / str(i) / "report.json").write_text(json.dumps({"seed": i, "win_rates": {"ppo_vs_sft": v}}))
    path = write_summary(tmp_path)
    data = json.loads(path.read_text())
    assert data["seeds"] == [0, 1, 2]
    assert data["figures"]["win_rates/ppo_vs_sft"]["mean"] == pytest.approx(0.7)
    assert data["figures"]["win_rates/ppo_vs_sft"]["min"] == 0.5
    assert (tmp_path / "summary.md").exists()
