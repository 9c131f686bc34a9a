"""IG's SFT model that starts RL saw 10% pretraining data (RLHF_DETAILS item 3): ``stage.pretrain_mix``
adds that share of ``data.pretrain.train`` texts to the training examples, counted in metrics.json,
and refuses clearly when the texts are missing or too few."""

from __future__ import annotations

import json

import pytest
from _helpers import run_stage_in_process, write_jsonl

from rlhfkit.errors import ConfigError
from rlhfkit.stages.sft.pretrain_mix import mix_count


def test_mix_count_by_hand():
    assert mix_count(0.1, 900) == 100   # 100 / (900 + 100) = 10%
    assert mix_count(0.5, 30) == 30
    assert mix_count(0.0, 500) == 0


def _data(tmp_path, n_texts: int):
    sft = write_jsonl(tmp_path / "sft.jsonl", [{"prompt": f"sort : {i} =>", "completion": f" {i}",
                                                "user_id": f"u{i % 10}"} for i in range(40)])
    texts = write_jsonl(tmp_path / "texts.jsonl", [{"text": f"the cat {i} sat on the mat"} for i in range(n_texts)])
    return sft, texts


def test_the_mixed_texts_are_trained_and_counted(tmp_path):
    sft, texts = _data(tmp_path, 50)
    run = tmp_path / "run"
    run_stage_in_process(run, "stage=sft", "model=tiny", "debug=fast", f"data.sft.train.path={sft}",
                         f"data.sft.valid={{name: files, path: {sft}}}", f"data.pretrain.train.path={texts}",
                         "stage.pretrain_mix=0.2")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["data/sft/pretrain_mix_texts"] == 10  # 10 / (40 + 10) = 20%
    assert metrics["data/pretrain/train/records"] == 50


def test_a_mix_without_texts_names_both_keys(tmp_path):
    sft, _ = _data(tmp_path, 0)
    with pytest.raises(ConfigError, match=r"stage.pretrain_mix.*data.pretrain.train"):
        run_stage_in_process(tmp_path / "run", "stage=sft", "model=tiny", "debug=fast", f"data.sft.train.path={sft}",
                             "stage.pretrain_mix=0.1")


def test_too_few_texts_are_refused_with_the_numbers(tmp_path):
    sft, texts = _data(tmp_path, 3)
    with pytest.raises(ConfigError, match=r"20 pretraining texts are needed for 40 demonstrations, "
                                          r"'data.pretrain.train' has 3"):
        run_stage_in_process(tmp_path / "run", "stage=sft", "model=tiny", "debug=fast", f"data.sft.train.path={sft}",
                             f"data.sft.valid={{name: files, path: {sft}}}", f"data.pretrain.train.path={texts}",
                             "stage.pretrain_mix=0.33")


def test_a_share_of_one_or_more_is_a_bad_value(tmp_path):
    sft, texts = _data(tmp_path, 50)
    with pytest.raises(ConfigError, match=r"stage.pretrain_mix"):
        run_stage_in_process(tmp_path / "run", "stage=sft", "model=tiny", "debug=fast", f"data.sft.train.path={sft}",
                             f"data.pretrain.train.path={texts}", "stage.pretrain_mix=1.0")
