"""Nothing dropped or cut silently in pretraining: the records ``on_error: skip`` dropped and the
texts longer than ``stage.max_length`` are counted in metrics.json."""

from __future__ import annotations

import json

from _helpers import run_stage_in_process, write_jsonl


def test_skips_and_truncation_reach_metrics_json(tmp_path):
    rows = [{"text": f"the cat {i} sat on the mat"} for i in range(20)]
    rows.insert(4, {"text": "   "})                 # skipped: empty text
    rows.insert(9, {"txt": "a typo in the key"})    # skipped: missing field
    rows.append({"text": "long " * 30})            # 150 byte tokens > 64
    path = write_jsonl(tmp_path / "text.jsonl", rows)
    run = tmp_path / "run"
    run_stage_in_process(run, "stage=pretrain", "model=tiny", "debug=fast", f"data.pretrain.train.path={path}",
                         "data.pretrain.train.on_error=skip")  # debug=fast: stage.max_length=64
    metrics = json.loads((run / "metrics.json").read_text())
    prefix = "data/pretrain/train/"
    assert metrics[f"{prefix}records"] == 23 and metrics[f"{prefix}examples"] == 21
    assert metrics[f"{prefix}skipped"] == 2 and metrics[f"{prefix}skipped/text"] == 2
    assert metrics["data/pretrain/train/truncated"] + metrics["data/pretrain/valid/truncated"] == 1
