"""Nothing cut or dropped silently in PPO: prompts longer than ``stage.max_prompt_length`` and
PPO-ptx texts longer than ``stage.ptx_max_length`` are counted once at load time (tokenized as the
rollout does), and those counts and the records ``on_error: skip`` dropped reach metrics.json."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from _helpers import run_stage_in_process, write_jsonl

from rlhfkit.models import build_tiny
from rlhfkit.stages.ppo.streams import count_truncated

WORDS = "please thanks hello world the a cat dog say tell me you".split()  # the words tokenizer: one token a word
TINY = ["model.size=nano", "model.tokenizer=words", f"+model.words=[{','.join(WORDS)}]", "debug=fast",
        "reward=keyword", "reward.wanted=[please]", "reward.banned=[]", "+trainer.enable_model_summary=false"]


def run_ppo_in_process(run_dir: Path, *overrides: str) -> dict:
    """PPO as `rlhfkit train` runs it (debug=fast: 2 iterations of 8 prompts)."""
    return run_stage_in_process(run_dir, "stage=ppo", *TINY, *overrides)


def test_count_truncated_uses_the_rollout_tokenization(caplog):
    tokenizer = build_tiny("nano", tokenizer="words", words=WORDS).tokenizer
    texts = ["hello world the", "hello world the a", "hello world the a cat"]  # 3, 4, 5 tokens
    with caplog.at_level(logging.WARNING):
        assert count_truncated(tokenizer, texts, 4, "data.prompts.train", "stage.max_prompt_length", "last") == 1
    assert caplog.messages == ["data.prompts.train: 1 of 3 examples exceed stage.max_prompt_length=4 tokens; "
                               "only their last 4 tokens are used"]
    caplog.clear()
    assert count_truncated(tokenizer, texts, 5, "x", "stage.max_prompt_length", "last") == 0 and not caplog.messages


def test_truncated_prompts_and_texts_and_skips_reach_metrics_json(tmp_path):
    prompts = [{"prompt": "hello the cat"}] * 10 + [{"prompt": "say hello the cat dog tell me you"}] * 2  # 3 / 8 tokens
    prompts.insert(5, {"prompt": "   "})  # skipped: empty prompt
    texts = [{"text": "the cat say hello"}] * 6 + [{"text": "the dog say world the cat say hello"}] * 3  # 4 / 8 tokens
    write_jsonl(tmp_path / "prompts.jsonl", prompts)
    write_jsonl(tmp_path / "pretrain.jsonl", texts)
    run = tmp_path / "run"
    run_ppo_in_process(run, "stage=ppo_ptx", f"data.prompts.train.path={tmp_path / 'prompts.jsonl'}",
                       "data.prompts.train.on_error=skip", f"data.pretrain.train.path={tmp_path / 'pretrain.jsonl'}",
                       "stage.max_prompt_length=4", "stage.ptx_max_length=6")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["data/prompts/train/truncated"] == 2 and metrics["data/prompts/train/examples"] == 12
    assert metrics["data/prompts/train/skipped"] == 1 and metrics["data/prompts/train/skipped/prompt"] == 1
    assert metrics["data/prompts/train/records"] == 13
    assert metrics["data/pretrain/train/truncated"] == 3 and metrics["data/pretrain/train/examples"] == 9
    assert metrics["data/pretrain/train/skipped"] == 0
