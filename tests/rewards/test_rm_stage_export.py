"""`stage=rm` end to end on tiny HF models: ``final/`` is a standard sequence-classification
checkpoint whose logits are the normalised reward (items 8, 9), which `reward=reward_model` then
reads back exactly."""

from __future__ import annotations

import json
import random

import pytest
import torch
from _helpers import run_stage_in_process, write_jsonl
from _hf_models import save_tiny_hf
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from rlhfkit.models.encoding import encode_pairs
from rlhfkit.rewards.reward_model import RewardModelFn

WORDS = "please thanks hello world the a cat dog say tell me you".split()


def pairwise_rows(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    words = lambda k: " ".join(rng.choice(WORDS) for _ in range(k))  # noqa: E731
    return [{"prompt": "say : " + words(3), "chosen": " " + words(2) + " thanks", "rejected": " " + words(2) + " dog",
             "user_id": f"u{i % 8}"} for i in range(n)]


@pytest.mark.slow
@pytest.mark.parametrize("model_type", ["gpt2", "llama"])
def test_rm_stage_final_loads_as_hf_seq_cls(tmp_path, model_type):
    base = save_tiny_hf(tmp_path / model_type, model_type)
    data = write_jsonl(tmp_path / "pw.jsonl", pairwise_rows(48))
    run = tmp_path / "run"
    metrics = run_stage_in_process(run, "stage=rm", "model=hf", f"model.path={base}",
                                   f"data.preference.train.path={data}", "debug=fast", "stage.batch_size=8")
    final = run / "final"
    model, info = AutoModelForSequenceClassification.from_pretrained(final, output_loading_info=True)
    assert not any(info.values()), info
    meta = model.config.rlhfkit
    assert meta["role"] == "reward" and meta["offset"] == pytest.approx(metrics["rm/offset"])
    report = json.loads((run / "rm_report.json").read_text())["normalisation"]
    assert report["export"]["architecture"] == type(model).__name__
    assert report["reload_max_abs_diff"] < 1e-4
    if model_type == "gpt2":
        assert meta["folded_into"] == "transformer.ln_f.bias" and meta["add_to_logits"] == 0.0
    else:
        assert meta["folded_into"] is None and meta["add_to_logits"] != 0.0  # RMSNorm: documented constant

    rows = pairwise_rows(6, seed=1)
    prompts, completions = [r["prompt"] for r in rows], [r["chosen"] for r in rows]
    tokenizer = AutoTokenizer.from_pretrained(final)
    enc = encode_pairs(tokenizer, prompts, completions, 64)
    with torch.no_grad():
        logits = model.eval()(input_ids=enc.input_ids, attention_mask=enc.attention_mask).logits[:, 0]
    scores = RewardModelFn(str(final), max_length=64)(prompts, completions)
    torch.testing.assert_close(logits + meta["add_to_logits"], scores, atol=1e-5, rtol=0)
